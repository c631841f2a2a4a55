"""Shared by the render/stitch benchmarks: a storyboard of N animatic scenes at a realistic size."""

from __future__ import annotations

import time
from pathlib import Path

from core.project import Project
from core.storyboard import parse_storyboard


def bench_project(root: Path, scenes: int = 6, frames: int = 48, *, transition: dict | None = None,
                  width: int = 512, height: int = 320, fps: int = 8) -> Project:  # fmt: skip
    motions = ["pan_right", "zoom_in", "static", "pan_left", "tilt_up", "zoom_out"]
    doc = {
        "schema_version": 1, "title": "Benchmark film", "fps": fps, "width": width, "height": height, "seed": 1,
        "entities": [
            {"id": "hero", "name": "hero", "kind": "foreground"},
            {"id": "dog", "name": "dog", "kind": "foreground"},
            {"id": "park", "name": "park", "kind": "background"},
        ],
        "scenes": [
            {
                "id": f"s{i + 1}", "title": f"Scene {i + 1}", "event": f"the hero and the dog cross the park, take {i + 1}",
                "background": "park", "num_frames": frames,
                "camera": {"motion": motions[i % len(motions)], "strength": 0.5},
                "background_motion": {"dx": -0.004 * (i % 3), "dy": 0.0},
                "frames": [{"frame": 0, "description": "they enter"}, {"frame": frames - 1, "description": "they leave"}],
                "tracks": [
                    {"entity": "hero", "keyframes": [{"frame": 0, "box": [0.05, 0.35, 0.3, 0.9]}, {"frame": frames - 1, "box": [0.6, 0.3, 0.88, 0.9]}]},
                    {"entity": "dog", "keyframes": [{"frame": 0, "box": [0.3, 0.65, 0.45, 0.9]}, {"frame": frames - 1, "box": [0.8, 0.6, 0.98, 0.92]}]},
                ],
                "transition": transition or {"kind": "cut", "frames": 0},
            }
            for i in range(scenes)
        ],
    }  # fmt: skip
    return Project.create(root, parse_storyboard(doc))


def timed(fn, repeat: int = 1) -> float:
    """Best wall time of `repeat` runs, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best
