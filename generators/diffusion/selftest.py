"""`flowdrafter selftest`: tiny random-weight models for every role, every registered generator end to end.

The same loading code, pipelines, render cache and encoder that real renders use, on the CPU, offline:
CI's smoke test and a person's check of an install. Each generator renders a small two-scene storyboard
(a pan and a zoom, two entities with reference images) through `generators.render.render_storyboard`,
and its clips are probed: frames, size and time, one line per generator.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from flowdrafter.core.images import store_image
from flowdrafter.core.project import Project
from flowdrafter.core.settings import Settings, get_settings
from flowdrafter.core.storyboard import Storyboard, parse_storyboard

from flowdrafter.generators.testing import tiny

SIZE = tiny.SIZE
FRAMES = 4


@dataclass
class Result:
    generator: str
    ok: bool
    frames: int = 0
    width: int = 0
    height: int = 0
    seconds: float = 0.0
    error: str = ""

    def line(self) -> str:
        if not self.ok:
            return f"FAIL {self.generator}: {self.error} ({self.seconds:.1f} s)"
        return f"ok   {self.generator}: {self.frames} frames, {self.width}x{self.height}, {self.seconds:.1f} s"


def storyboard() -> Storyboard:
    """Two short scenes at the tiny models' size: a pan with two moving entities, and a zoom."""
    return parse_storyboard(
        {
            "title": "selftest",
            "prompt": "a kitten and a red ball in a garden",
            "style": "watercolor",
            "fps": 8,
            "width": SIZE,
            "height": SIZE,
            "seed": 1,
            "entities": [
                {"id": "kitten", "name": "kitten", "kind": "foreground", "description": "a grey kitten"},
                {"id": "ball", "name": "ball", "kind": "foreground", "description": "a red ball"},
                {"id": "garden", "name": "garden", "kind": "background", "description": "a garden"},
            ],
            "scenes": [
                {
                    "id": "s1",
                    "event": "the kitten chases the ball",
                    "background": "garden",
                    "num_frames": FRAMES,
                    "camera": {"motion": "pan_right", "strength": 0.5},
                    "tracks": [
                        {"entity": "kitten", "keyframes": [{"frame": 0, "box": [0.05, 0.4, 0.45, 0.95]},
                                                           {"frame": FRAMES - 1, "box": [0.4, 0.4, 0.8, 0.95]}]},
                        {"entity": "ball", "keyframes": [{"frame": 0, "box": [0.55, 0.7, 0.75, 0.9]}]},
                    ],
                },
                {
                    "id": "s2",
                    "event": "the kitten sleeps",
                    "background": "garden",
                    "num_frames": FRAMES,
                    "camera": {"motion": "zoom_in", "strength": 0.5},
                    "tracks": [{"entity": "kitten", "keyframes": [{"frame": 0, "box": [0.3, 0.4, 0.7, 0.9]}]}],
                },
            ],
        }
    )  # fmt: skip


def _reference(colour: tuple[int, int, int]) -> Image.Image:
    img = Image.new("RGBA", (48, 48), (0, 0, 0, 0))
    ImageDraw.Draw(img).ellipse((6, 6, 42, 42), fill=(*colour, 255))
    return img


def make_project(folder: Path) -> Project:
    """The selftest storyboard in a new project, with drawn reference images for its foreground entities."""
    from flowdrafter.core.edits import set_reference
    from flowdrafter.core.storyboard import Reference

    sb = storyboard()
    project = Project.create(folder, sb)
    for entity_id, colour in (("kitten", (128, 128, 128)), ("ball", (220, 30, 30))):
        rel = store_image(project, _reference(colour))
        sb = set_reference(sb, entity_id, Reference(image=rel, source="drawn", cutout=True))
    project.save(sb)
    return project


def run(
    models_dir: Path | None = None,
    *,
    generators: list[str] | None = None,
    settings: Settings | None = None,
    report: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Build the tiny models (cached in `models_dir`), render with each generator, return one result each."""
    from flowdrafter.generators.base import available
    from flowdrafter.generators.render import render_storyboard
    from flowdrafter.generators.video import probe

    base = settings or get_settings()
    models_dir = Path(models_dir) if models_dir else base.data_dir / "selftest-models"
    overrides = tiny.build_all(models_dir)
    fixed = {"steps": 2, "device": "cpu", "dtype": "float32", "offload": "none"}
    settings = Settings(**{**base.model_dump(), **overrides, **fixed})
    names = generators or available()
    results = []
    with tempfile.TemporaryDirectory(prefix="flowdrafter-selftest-") as tmp:
        project = make_project(Path(tmp) / "project")
        for name in names:
            start = time.perf_counter()
            try:
                rendered = render_storyboard(project, name, settings=settings, force=True)
                infos = [probe(s.clip) for s in rendered.scenes]
                result = Result(
                    name,
                    ok=True,
                    frames=sum(i.frames for i in infos),
                    width=infos[0].width,
                    height=infos[0].height,
                )
                expected = sum(s.num_frames for s in project.load().scenes)
                if result.frames != expected or (result.width, result.height) != (SIZE, SIZE):
                    result.ok = False
                    result.error = f"made {result.frames} frames at {result.width}x{result.height}, expected {expected} at {SIZE}x{SIZE}"
            except Exception as err:  # noqa: BLE001 - a self test reports every failure and goes on
                result = Result(name, ok=False, error=f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:300])
            result.seconds = time.perf_counter() - start
            results.append(result)
            if report:
                report(result)
    return results
