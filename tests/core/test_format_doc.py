"""docs/format.md shows a complete example and states its timing; both must stay true as the code changes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from flowdrafter.core.storyboard import json_schema
from flowdrafter.core.timeline import scene_starts, total_frames
from flowdrafter.core.upgrade import load_storyboard

DOC = Path(__file__).resolve().parents[2] / "docs" / "format.md"


def doc_example() -> dict:
    block = re.search(r"## A complete small example\s+```json\n(.*?)```", DOC.read_text(), re.S)
    assert block, "the example block is missing from docs/format.md"
    return json.loads(block.group(1))


def test_the_documented_example_is_valid_and_times_as_described():
    sb = load_storyboard(doc_example())
    assert total_frames(sb) == 24 and total_frames(sb) / sb.fps == 3
    assert scene_starts(sb) == {"s1": 0, "s2": 12}


def test_every_field_of_the_format_is_documented():
    text = DOC.read_text()
    defs = json_schema()["$defs"]
    fields = set(json_schema()["properties"])
    for name in ("Entity", "Reference", "Scene", "Camera", "BackgroundMotion", "FrameNote", "Track", "Keyframe", "Transition"):
        fields |= set(defs[name]["properties"])
    missing = sorted(f for f in fields if not re.search(rf"^\|[^|\n]*`{f}`[^|\n]*\|", text, re.M))  # a table row
    assert missing == []
    for motion in defs["CameraMotion"]["enum"]:
        assert f"`{motion}`" in text
