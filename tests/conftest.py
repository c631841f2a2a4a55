"""Fixtures shared by every test area: a small valid storyboard, a project folder, fresh settings."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from flowdrafter.core.project import Project
from flowdrafter.core.settings import get_settings
from flowdrafter.core.storyboard import Storyboard, parse_storyboard

SAMPLE = {
    "schema_version": 1,
    "title": "Kitten and the ball",
    "prompt": "a kitten chases a red ball through a garden, then falls asleep",
    "style": "soft watercolor",
    "negative_prompt": "blurry",
    "fps": 8,
    "width": 512,
    "height": 320,
    "seed": 7,
    "entities": [
        {"id": "kitten", "name": "kitten", "kind": "foreground", "description": "a small grey tabby kitten"},
        {"id": "ball", "name": "red ball", "kind": "foreground", "description": "a shiny red ball"},
        {"id": "garden", "name": "garden", "kind": "background", "description": "a sunny cottage garden"},
    ],
    "scenes": [
        {
            "id": "s1",
            "title": "The chase",
            "event": "the kitten chases a red ball from left to right",
            "background": "garden",
            "num_frames": 16,
            "camera": {"motion": "pan_right", "strength": 0.5},
            "background_motion": {"dx": -0.01, "dy": 0.0},
            "frames": [
                {"frame": 0, "description": "the kitten crouches"},
                {"frame": 15, "description": "the kitten pounces on the ball"},
            ],
            "tracks": [
                {
                    "entity": "kitten",
                    "keyframes": [
                        {"frame": 0, "box": [0.05, 0.45, 0.30, 0.90]},
                        {"frame": 15, "box": [0.60, 0.40, 0.88, 0.88]},
                    ],
                },
                {"entity": "ball", "keyframes": [{"frame": 4, "box": [0.4, 0.7, 0.5, 0.85]}], "easing": "ease_in_out"},
            ],
            "transition": {"kind": "crossfade", "frames": 4},
        },
        {
            "id": "s2",
            "title": "The nap",
            "event": "the kitten falls asleep next to the ball",
            "background": "garden",
            "num_frames": 12,
            "camera": {"motion": "zoom_in", "strength": 0.3},
            "tracks": [{"entity": "kitten", "keyframes": [{"frame": 0, "box": [0.3, 0.4, 0.6, 0.9]}]}],
            "transition": {"kind": "fade", "frames": 3},
        },
    ],
}


@pytest.fixture
def sample_doc() -> dict:
    """A fresh deep copy of a small, valid storyboard dict (2 scenes, 3 entities) to mutate freely."""
    return copy.deepcopy(SAMPLE)


@pytest.fixture
def sample_storyboard(sample_doc: dict) -> Storyboard:
    return parse_storyboard(sample_doc)


@pytest.fixture
def project(tmp_path: Path, sample_storyboard: Storyboard) -> Project:
    """A new project folder holding the sample storyboard."""
    return Project.create(tmp_path / "project", sample_storyboard)


@pytest.fixture(autouse=True)
def _fresh_settings():
    """Settings are read once per process; tests that change FLOWDRAFTER_* must not leak into others."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
