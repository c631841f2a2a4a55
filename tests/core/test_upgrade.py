"""Schema versions: a synthetic v0 file upgrades to a valid v1; newer, missing and odd versions are refused."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from flowdrafter.core.errors import StoryboardError
from flowdrafter.core.project import Project
from flowdrafter.core.storyboard import SCHEMA_VERSION
from flowdrafter.core.upgrade import UPGRADES, load_storyboard, upgrade

V0 = Path(__file__).parent / "data" / "storyboard_v0.json"


def v0() -> dict:
    return json.loads(V0.read_text())


def test_every_version_below_the_current_has_an_upgrade():
    assert sorted(UPGRADES) == list(range(min(UPGRADES), SCHEMA_VERSION))


def test_v0_draft_upgrades_to_a_valid_current_storyboard():
    sb = load_storyboard(v0())
    assert sb.schema_version == SCHEMA_VERSION == 1
    assert sb.fps == 12  # frame_rate -> fps
    s1, s2 = sb.scenes
    assert (s1.camera.motion.value, s1.camera.strength) == ("pan_left", 0.8)  # bare string + camera_strength
    assert (s2.camera.motion.value, s2.camera.strength) == ("static", 0.5)  # already an object: kept
    boxes = [k.box for k in s1.track("dog").keyframes]  # [x, y, w, h] -> [x0, y0, x1, y1]
    assert boxes[0] == pytest.approx((0.1, 0.5, 0.3, 0.8))
    assert boxes[1] == pytest.approx((0.6, 0.5, 0.85, 0.8))


def test_upgrade_leaves_the_callers_dict_alone():
    doc = v0()
    before = copy.deepcopy(doc)
    upgraded = upgrade(doc)
    assert doc == before
    assert upgraded["schema_version"] == 1 and "frame_rate" not in upgraded


def test_current_version_passes_through_unchanged(sample_doc):
    assert upgrade(sample_doc) == sample_doc


def test_v0_project_opens_and_is_saved_as_current(tmp_path):
    root = tmp_path / "old"
    (root / "assets").mkdir(parents=True)
    shutil.copy(V0, root / "storyboard.json")
    project = Project.open(root)
    sb = project.load()
    project.save(sb)
    saved = json.loads(project.storyboard_path.read_text())
    assert saved["schema_version"] == 1 and saved["fps"] == 12
    assert saved["scenes"][0]["tracks"][0]["keyframes"][0]["box"] == pytest.approx([0.1, 0.5, 0.3, 0.8])
    assert json.loads(project.history()[0].read_text()) == v0()  # the original draft is kept, not lost


def test_invalid_v0_content_is_reported_after_upgrading():
    doc = v0()
    doc["scenes"][0]["camera"] = "spin"
    with pytest.raises(StoryboardError) as info:
        load_storyboard(doc)
    assert info.value.problems == [
        'scene s1: camera.motion: must be one of static, pan_left, pan_right, tilt_up, tilt_down, zoom_in, '
        'zoom_out, got "spin"'
    ]


def test_malformed_v0_does_not_crash_the_upgrade():
    with pytest.raises(StoryboardError) as info:
        load_storyboard({"schema_version": 0, "scenes": "none", "frame_rate": 8})
    assert info.value.problems == ['scenes: must be a list, got "none"']


@pytest.mark.parametrize(
    "version, expected",
    [
        (2, "schema_version 2 is newer than this FlowDrafter understands (1); upgrade FlowDrafter to open it"),
        (99, "schema_version 99 is newer than this FlowDrafter understands (1); upgrade FlowDrafter to open it"),
        (-1, "schema_version -1 is unknown"),
        ("1", 'schema_version must be a whole number, got "1"'),
        (1.0, "schema_version must be a whole number, got 1.0"),
        (True, "schema_version must be a whole number, got true"),
        (None, "schema_version must be a whole number, got null"),
    ],
)
def test_unusable_versions_are_refused_clearly(sample_doc, version, expected):
    sample_doc["schema_version"] = version
    with pytest.raises(StoryboardError) as info:
        load_storyboard(sample_doc)
    assert info.value.problems == [expected]


def test_missing_version_is_refused(sample_doc):
    del sample_doc["schema_version"]
    with pytest.raises(StoryboardError) as info:
        load_storyboard(sample_doc, source="x.json")
    assert str(info.value) == "x.json: schema_version is missing (this file is not a FlowDrafter storyboard?)"
