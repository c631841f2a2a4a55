"""A child process for test_long_scenes: render one tiny-model layout-video scene of N frames, print its shape.

    python long_scene_child.py MODELS_DIR WORK_DIR FRAMES WIDTH HEIGHT [SETTING=VALUE ...]

Its peak RSS (the parent's `os.wait4`) is the scene's, with nothing else of the test session in it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

from flowdrafter.core.project import Project
from flowdrafter.core.settings import Settings
from flowdrafter.core.storyboard import parse_storyboard
from flowdrafter.generators.base import RenderContext
from flowdrafter.generators.diffusion.layout_video import LayoutVideoGenerator
from flowdrafter.generators.testing.tiny import build_all


def doc(frames: int, width: int, height: int) -> dict:
    last = frames - 1
    return {
        "width": width, "height": height, "seed": 3, "style": "watercolor", "negative_prompt": "blurry",
        "entities": [
            {"id": "cat", "name": "cat", "kind": "foreground", "description": "a red cat"},
            {"id": "ball", "name": "ball", "kind": "foreground", "description": "a blue ball"},
            {"id": "river", "name": "river", "kind": "background", "description": "a river"},
        ],
        "scenes": [{
            "id": "s1", "event": "a cat chases a ball by the river", "background": "river", "num_frames": frames,
            "camera": {"motion": "static"}, "background_motion": {"dx": 0.01, "dy": 0.0},
            "frames": [{"frame": 0, "description": "the cat crouches"}, {"frame": last, "description": "the cat jumps"}],
            "tracks": [
                {"entity": "cat", "keyframes": [{"frame": 0, "box": [0.05, 0.4, 0.4, 0.95]}, {"frame": last, "box": [0.55, 0.4, 0.9, 0.95]}]},
                {"entity": "ball", "keyframes": [{"frame": 0, "box": [0.6, 0.7, 0.75, 0.9]}, {"frame": last, "box": [0.8, 0.6, 0.95, 0.8]}]},
            ],
        }],
    }  # fmt: skip


def main() -> None:
    models, work, frames, width, height, *extra = sys.argv[1:]
    torch.set_num_threads(1)
    overrides = build_all(Path(models))
    settings = Settings(**{**overrides, "device": "cpu", "dtype": "float32", "steps": 1, "layout_video_max_side": None,
                           **dict(kv.split("=", 1) for kv in extra)})  # fmt: skip
    folder = Path(work) / f"scene-{frames}-{width}x{height}-{os.getpid()}"
    project = Project.create(folder, parse_storyboard(doc(int(frames), int(width), int(height))))
    out = LayoutVideoGenerator(settings).generate(RenderContext(project, project.load(), "s1"))
    print(json.dumps({"shape": list(out.shape)}))


if __name__ == "__main__":
    main()
