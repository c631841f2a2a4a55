"""Schema versions: old files are upgraded one version at a time by small dict -> dict functions.

Version 0 was the pre-release draft format (camera as a bare string plus `camera_strength`, boxes as
`[x, y, w, h]`, `frame_rate` instead of `fps`). It is kept both to read such drafts and to prove the chain.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Callable

from .errors import StoryboardError
from .storyboard import SCHEMA_VERSION, Storyboard, parse_storyboard


def _v0_to_v1(doc: dict[str, Any]) -> dict[str, Any]:
    doc = dict(doc)
    if "frame_rate" in doc:
        doc["fps"] = doc.pop("frame_rate")
    if not isinstance(doc.get("scenes"), list):
        doc["schema_version"] = 1
        return doc  # nothing to upgrade; validation will say what is wrong with it
    scenes = []
    for scene in doc["scenes"]:
        if not isinstance(scene, dict):
            scenes.append(scene)
            continue
        scene = dict(scene)
        camera = scene.get("camera")
        if isinstance(camera, str):
            scene["camera"] = {"motion": camera, "strength": scene.pop("camera_strength", 0.5)}
        if not isinstance(scene.get("tracks"), list):
            scenes.append(scene)
            continue
        tracks = []
        for track in scene["tracks"]:
            if isinstance(track, dict) and isinstance(track.get("keyframes"), list):
                track = dict(track)
                track["keyframes"] = [_xywh_keyframe(k) for k in track["keyframes"]]
            tracks.append(track)
        scene["tracks"] = tracks
        scenes.append(scene)
    doc["scenes"] = scenes
    doc["schema_version"] = 1
    return doc


def _xywh_keyframe(kf: Any) -> Any:
    if isinstance(kf, dict) and isinstance(kf.get("box"), list) and len(kf["box"]) == 4:
        try:
            x, y, w, h = (float(v) for v in kf["box"])
        except (TypeError, ValueError):
            return kf
        return {**kf, "box": [x, y, x + w, y + h]}
    return kf


UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _v0_to_v1}


def upgrade(doc: dict[str, Any], source: str | None = None) -> dict[str, Any]:
    """Bring a storyboard dict up to `SCHEMA_VERSION`, or explain why it cannot be."""
    if "schema_version" not in doc:
        raise StoryboardError(["schema_version is missing (this file is not a FlowDrafter storyboard?)"], source)
    version = doc["schema_version"]
    if isinstance(version, bool) or not isinstance(version, int):
        raise StoryboardError([f"schema_version must be a whole number, got {json.dumps(version, default=str)}"], source)
    if version > SCHEMA_VERSION:
        raise StoryboardError(
            [
                f"schema_version {version} is newer than this FlowDrafter understands "
                f"({SCHEMA_VERSION}); upgrade FlowDrafter to open it"
            ],
            source,
        )
    if version < min(UPGRADES, default=SCHEMA_VERSION):
        raise StoryboardError([f"schema_version {version} is unknown"], source)
    if version == SCHEMA_VERSION:
        return doc
    doc = copy.deepcopy(doc)  # upgrade functions may reshape nested parts; the caller's dict stays as it was
    while doc["schema_version"] < SCHEMA_VERSION:
        doc = UPGRADES[doc["schema_version"]](doc)
    return doc


def load_storyboard(data: Any, source: str | None = None) -> Storyboard:
    """Any parsed JSON value -> a valid current `Storyboard`, or a `StoryboardError`."""
    if not isinstance(data, dict):
        raise StoryboardError([f"a storyboard is a JSON object, got {type(data).__name__}"], source)
    if not data:
        raise StoryboardError(["the storyboard is empty"], source)
    return parse_storyboard(upgrade(data, source), source)
