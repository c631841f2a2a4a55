"""Small projects for the animatic, render cache, stitching and export tests (tiny frames, few of them)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flowdrafter.core.images import store_image
from flowdrafter.core.project import Project
from flowdrafter.core.storyboard import parse_storyboard

W, H, FPS = 160, 96, 8


def scene(sid: str, n: int = 8, **extra) -> dict:
    doc = {
        "id": sid, "title": f"Scene {sid}", "event": f"something happens in {sid}", "background": "field",
        "num_frames": n, "tracks": [{"entity": "hero", "keyframes": [{"frame": 0, "box": [0.1, 0.3, 0.4, 0.9]}]}],
        "frames": [{"frame": 0, "description": f"start of {sid}"}],
    }  # fmt: skip
    doc.update(extra)
    return doc


def storyboard_doc(scenes: list[dict]) -> dict:
    return {
        "schema_version": 1, "title": "Test film", "fps": FPS, "width": W, "height": H, "seed": 3,
        "entities": [
            {"id": "hero", "name": "hero", "kind": "foreground", "description": "a hero"},
            {"id": "field", "name": "field", "kind": "background", "description": "a field"},
        ],
        "scenes": copy.deepcopy(scenes),
    }  # fmt: skip


def make_project(root: Path, scenes: list[dict]) -> Project:
    return Project.create(root, parse_storyboard(storyboard_doc(scenes)))


def stripe_image(width: int = 320, height: int = 192) -> Image.Image:
    """White with one black vertical stripe in the middle: easy to track under camera motion."""
    arr = np.full((height, width, 3), 255, np.uint8)
    arr[:, width // 2 - 4 : width // 2 + 4] = 0
    return Image.fromarray(arr)


def set_reference(project: Project, entity_id: str, img: Image.Image | None = None, *, rel: str | None = None) -> str:
    """Give an entity a reference image (stored in the project) or a raw relative path, and save."""
    doc = project.load().model_dump(mode="json")
    if img is not None:
        rel = store_image(project, img)
    for e in doc["entities"]:
        if e["id"] == entity_id:
            e["reference"] = {"image": rel, "source": "upload", "cutout": img is not None and img.mode == "RGBA"}
    project.save(parse_storyboard(doc))
    return rel


def edit_scene(project: Project, scene_id: str, **changes) -> None:
    doc = project.load().model_dump(mode="json")
    for s in doc["scenes"]:
        if s["id"] == scene_id:
            s.update(changes)
    project.save(parse_storyboard(doc))


@pytest.fixture
def two_scene_project(tmp_path: Path) -> Project:
    return make_project(tmp_path / "film", [scene("s1"), scene("s2", 6)])
