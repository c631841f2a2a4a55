"""Tiny real models (built once, reused across sessions) and a small project for the layout-video tests."""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from flowdrafter.core.images import store_image
from flowdrafter.core.project import Project
from flowdrafter.core.settings import Settings
from flowdrafter.core.storyboard import parse_storyboard
from flowdrafter.generators.base import RenderContext

FRAMES = 12
# cat: keyframes around frame 8 so that moving the frame-8 box changes frame 8 only
CAT_KEYS = [(0, [0.05, 0.05, 0.45, 0.5]), (7, [0.3, 0.05, 0.7, 0.5]), (8, [0.3, 0.05, 0.7, 0.5]),
            (9, [0.3, 0.05, 0.7, 0.5]), (11, [0.55, 0.5, 0.95, 0.95])]  # fmt: skip

DOC = {
    "schema_version": 1, "title": "Cat", "style": "watercolor", "negative_prompt": "blurry",
    "fps": 8, "width": 96, "height": 64, "seed": 5,
    "entities": [
        {"id": "cat", "name": "cat", "kind": "foreground", "description": "a red cat with a tree"},
        {"id": "ball", "name": "ball", "kind": "foreground", "description": "a ball"},
        {"id": "garden", "name": "garden", "kind": "background", "description": "a garden"},
    ],
    "scenes": [{
        "id": "s1", "event": "a cat plays", "background": "garden", "num_frames": FRAMES,
        "camera": {"motion": "zoom_in", "strength": 0.6},
        "background_motion": {"dx": 0.05, "dy": 0.0},
        "frames": [{"frame": 0, "description": "the cat sits"}, {"frame": 11, "description": "the dog runs"}],
        "tracks": [
            {"entity": "cat", "keyframes": [{"frame": f, "box": b} for f, b in CAT_KEYS]},
            {"entity": "ball", "keyframes": [{"frame": 0, "box": [0.6, 0.6, 0.9, 0.9]}]},
        ],
    }],
}  # fmt: skip


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """The test machine is shared: one intra-op thread per process is much faster than oversubscription."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_overrides() -> dict[str, str]:
    from flowdrafter.generators.testing.tiny import build_all

    root = Path(os.environ.get("FLOWDRAFTER_TINY_MODELS") or Path(tempfile.gettempdir()) / "flowdrafter-tiny-models")
    return build_all(root)


def lv_settings(overrides: dict[str, str], **extra) -> Settings:
    """Settings for the tiny models: one sampling step, guidance on, an 8-frame motion context (so 12-frame
    scenes run in two overlapping windows, 0-7 and 4-11), rendering at 32x24 pixels (latents 16x12, cross-attention at 8x6), the
    spatial layers on all rows at once (test_frame_chunks shows chunks give the same frames)."""
    base = {"steps": 1, "guidance_scale": 7.5, "motion_context_frames": 8, "layout_video_max_side": 32, "device": "cpu",
            "layout_video_frame_chunk": 0}  # fmt: skip
    return Settings(**{**overrides, **base, **extra})


def cat_image() -> Image.Image:
    """An RGBA cut-out: an orange disc on transparency."""
    yy, xx = np.mgrid[0:64, 0:64]
    inside = (yy - 32) ** 2 + (xx - 32) ** 2 < 24**2
    arr = np.zeros((64, 64, 4), np.uint8)
    arr[inside] = (240, 120, 30, 255)
    return Image.fromarray(arr, "RGBA")


def make_doc(**scene_changes) -> dict:
    doc = copy.deepcopy(DOC)
    doc["scenes"][0].update(copy.deepcopy(scene_changes))
    return doc


@pytest.fixture(scope="session")
def lv_project(tmp_path_factory) -> Project:
    """The cat project, with a reference image for the cat (none for the ball)."""
    root = tmp_path_factory.mktemp("lv") / "cat"
    project = Project.create(root, parse_storyboard(DOC))
    rel = store_image(project, cat_image())
    doc = copy.deepcopy(DOC)
    doc["entities"][0]["reference"] = {"image": rel, "source": "upload", "cutout": True}
    project.save(parse_storyboard(doc))
    return project


def context(project: Project, doc: dict | None = None, **kwargs) -> RenderContext:
    sb = project.load() if doc is None else parse_storyboard(_with_refs(project, doc))
    return RenderContext(project, sb, sb.scenes[0].id, **kwargs)


def _with_refs(project: Project, doc: dict) -> dict:
    """Carry the saved project's reference images over to a changed document."""
    saved = {e.id: e.reference for e in project.load().entities}
    doc = copy.deepcopy(doc)
    for e in doc["entities"]:
        if "reference" not in e and saved.get(e["id"]) is not None:
            e["reference"] = saved[e["id"]].model_dump()
    return doc
