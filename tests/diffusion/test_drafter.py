"""The `drafter` generator end to end on tiny models: frames, size, fps, determinism, cancellation."""

from __future__ import annotations

import numpy as np
import pytest
from builders.sinks import ListSink

from flowdrafter.core.errors import Cancelled
from flowdrafter.core.storyboard import parse_storyboard
from flowdrafter.generators.base import RenderContext, available, get_generator
from flowdrafter.generators.diffusion.selftest import make_project

WIDTH, HEIGHT = 96, 64


@pytest.fixture
def drafter_project(tmp_path):
    project = make_project(tmp_path / "project")
    doc = project.load().model_dump(mode="json")
    doc.update(width=WIDTH, height=HEIGHT, fps=6)
    doc["scenes"][0]["num_frames"] = 5
    doc["scenes"][0]["tracks"][0]["keyframes"][1]["frame"] = 4
    project.save(parse_storyboard(doc))
    return project


@pytest.fixture
def settings(tiny_settings):
    return tiny_settings.model_copy(update={"i2v_frames": 3})  # 3 generated frames, resampled to the scene's 5


def _render(project, settings, scene_id="s1", **ctx_args):
    sink = ListSink()
    gen = get_generator("drafter", settings)
    gen.render_scene(RenderContext(project, project.load(), scene_id, **ctx_args), sink)
    return sink.frames


def test_drafter_is_registered():
    assert "drafter" in available()


def test_frames_match_the_scene_and_the_storyboard_size_and_a_seed_repeats(drafter_project, settings):
    seen: list[tuple[float, str]] = []
    first = _render(drafter_project, settings, progress=lambda f, m: seen.append((f, m)))
    assert len(first) == 5
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0  # progress only moves forward, to the end
    messages = [m for _, m in seen]
    assert {"scene image: step 1/2", "scene image: step 2/2", "video: step 1/2", "video: step 2/2"} <= set(messages)
    assert all(f.shape == (HEIGHT, WIDTH, 3) and f.dtype == np.uint8 for f in first)
    again = _render(drafter_project, settings)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


def test_cancel_stops_within_one_step(drafter_project, settings):
    messages: list[str] = []
    settings = settings.model_copy(update={"steps": 4})

    def progress(fraction: float, message: str) -> None:
        messages.append(message)

    def is_cancelled() -> bool:
        return any(m == "video: step 1/4" for m in messages)

    with pytest.raises(Cancelled):
        _render(drafter_project, settings, progress=progress, is_cancelled=is_cancelled)
    assert "video: step 1/4" in messages
    assert not any(m.startswith("video: step 2") for m in messages)


def test_render_through_the_cache_gives_clips_at_the_storyboard_fps(drafter_project, settings):
    from flowdrafter.generators.render import render_storyboard
    from flowdrafter.generators.video import probe

    report = render_storyboard(drafter_project, "drafter", scene_ids=["s1"], settings=settings)
    info = probe(report.scenes[0].clip)
    assert (info.frames, info.width, info.height) == (5, WIDTH, HEIGHT)
    assert info.fps == pytest.approx(6)
    again = render_storyboard(drafter_project, "drafter", scene_ids=["s1"], settings=settings)
    assert again.reused == ["s1"]


def test_changing_a_model_or_steps_changes_the_cache_key(drafter_project, settings):
    from flowdrafter.generators.cache import scene_key

    ctx = RenderContext(drafter_project, drafter_project.load(), "s1")
    base = scene_key(ctx, get_generator("drafter", settings))
    for change in ({"i2v_model": "other/model"}, {"steps": 3}, {"ip_adapter_scale": 0.1}):
        assert scene_key(ctx, get_generator("drafter", settings.model_copy(update=change))) != base


def test_pipelines_stay_loaded_between_renders_unless_asked_to_free(settings):
    from flowdrafter.generators.diffusion import models
    from flowdrafter.generators.diffusion.scene_image import load_scene_pipeline

    load_scene_pipeline(settings)
    get_generator("drafter", settings).close()
    assert "scene" in models.loaded()
    get_generator("drafter", settings.model_copy(update={"keep_models": False})).close()
    assert "scene" not in models.loaded() and "i2v" not in models.loaded()


@pytest.fixture(scope="module")
def cogvideox_overrides(tmp_path_factory):
    from flowdrafter.generators.testing.tiny import build_cogvideox

    return build_cogvideox(tmp_path_factory.mktemp("cogvideox") / "i2v")


def test_another_i2v_pipeline_family_plugs_in_by_setting(drafter_project, tiny_settings, cogvideox_overrides):
    settings = tiny_settings.model_copy(update=cogvideox_overrides)
    frames = _render(drafter_project, settings)  # pans: the warp runs over CogVideoX's compressed latent frames
    assert len(frames) == 5 and all(f.shape == (HEIGHT, WIDTH, 3) for f in frames)
    assert all(np.array_equal(a, b) for a, b in zip(frames, _render(drafter_project, settings)))
