"""References are part of rendering: a drafter render makes each missing entity reference (tiny text-to-image,
cut out for foreground entities), caches it by content, says so, and uses it; `--no-auto-refs` warns instead."""

from __future__ import annotations

import numpy as np
import pytest

from flowdrafter.core.storyboard import parse_storyboard
from flowdrafter.generators.diffusion import models
from flowdrafter.generators.diffusion.selftest import make_project
from flowdrafter.generators.render import render_storyboard
from flowdrafter.generators.video import read_frames


@pytest.fixture
def bare_project(tmp_path):
    """The selftest project (two scenes) at 96x64, with the ball's reference taken away: the kitten keeps its
    drawn one, the ball and the garden (the background) have none."""
    project = make_project(tmp_path / "project")
    doc = project.load().model_dump(mode="json")
    doc.update(width=96, height=64)
    for entity in doc["entities"]:
        if entity["id"] == "ball":
            entity["reference"] = None
    project.save(parse_storyboard(doc))
    return project


@pytest.fixture
def settings(tiny_settings, tmp_path):
    return tiny_settings.model_copy(update={"data_dir": tmp_path / "data", "i2v_frames": 5})


def test_a_render_makes_the_missing_references_cuts_out_the_foreground_says_so_and_uses_them(bare_project, settings):
    from flowdrafter.core.images import load_asset_image

    messages: list[str] = []
    report = render_storyboard(bare_project, "drafter", scene_ids=["s1"], settings=settings, progress=lambda f, m: messages.append(m))
    made = [m for m in messages if m.startswith("references: ")]
    assert any(m.startswith("references: ball: making one (text-to-image, then cut-out") for m in made)
    assert any(m.startswith("references: garden: making one (text-to-image,") for m in made)
    assert not any("kitten" in m for m in made)  # it has one

    cached = sorted((settings.data_dir / "references").glob("*.png"))
    assert len(cached) == 2
    from PIL import Image

    modes = sorted(Image.open(p).mode for p in cached)
    assert modes == ["RGB", "RGBA"]  # the ball is cut out, the garden kept whole
    rel = next(m.rsplit(", ", 1)[1] for m in made if m.startswith("references: ball: made"))
    assert load_asset_image(bare_project, rel).mode == "RGBA"
    assert bare_project.load().entity("ball").reference is None  # the saved storyboard is the person's: unchanged
    assert report.warnings == []

    without = render_storyboard(bare_project, "drafter", scene_ids=["s1"], settings=settings.model_copy(update={"auto_references": False}))
    assert without.scenes[0].key != report.scenes[0].key
    def frames(r):
        return read_frames(r.scenes[0].clip, 96, 64, 8)

    assert not np.array_equal(frames(without), frames(report))  # the made references were used


def test_made_references_are_reused_by_content_without_loading_a_model(bare_project, settings):
    first = render_storyboard(bare_project, "drafter", scene_ids=["s1"], settings=settings)
    models.free("t2i")
    messages: list[str] = []
    again = render_storyboard(bare_project, "drafter", scene_ids=["s1"], settings=settings, force=True,
                              progress=lambda f, m: messages.append(m))  # fmt: skip
    assert [m for m in messages if m.startswith("references: ") and "making one" in m] == []
    assert any(m.startswith("references: ball: reused the one made before") for m in messages)
    assert "t2i" not in models.loaded()
    assert again.scenes[0].key == first.scenes[0].key


def test_no_auto_refs_renders_with_one_warning_line_per_scene(bare_project, tiny_env, capsys):
    from flowdrafter.ui.cli import main

    assert main(["render", str(bare_project.root), "--generator", "drafter", "--no-auto-refs"]) == 0
    err = capsys.readouterr().err.splitlines()
    warnings = [line for line in err if line.startswith("warning: ")]
    assert len(warnings) == 2
    assert "scene s1 renders without a reference image for ball, garden (auto_references is off)" in warnings[0]
    assert "scene s2 renders without a reference image for garden" in warnings[1]
    assert not any("references: " in line for line in err)


def test_a_scene_rendered_on_its_own_as_a_ray_worker_does_still_warns_about_its_missing_references(bare_project, settings):
    from builders.sinks import ListSink

    from flowdrafter.generators.base import RenderContext, get_generator

    gen = get_generator("drafter", settings.model_copy(update={"auto_references": False}))
    try:  # a worker renders one scene with a fresh generator: no `prepare_render` before it
        gen.render_scene(RenderContext(bare_project, bare_project.load(), "s2"), ListSink())
        warnings = gen.take_warnings()
    finally:
        gen.close()
    assert len(warnings) == 1 and warnings[0].startswith("scene s2 renders without a reference image for garden")
