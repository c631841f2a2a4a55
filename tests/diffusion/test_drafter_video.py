"""The drafter's video stage on the full pipelines with tiny models: the action text reaches the default
(Wan) model and not SVD, the camera moves the latents from the configured step with their variance kept,
the conditioning frame stays the reference, and the size rules."""

from __future__ import annotations

import numpy as np
import pytest
from builders.sinks import ListSink
import torch

from flowdrafter.core.storyboard import parse_storyboard
from flowdrafter.generators.base import RenderContext, get_generator
from flowdrafter.generators.diffusion import models
from flowdrafter.generators.diffusion.camera_warp import MAX_PAN, MAX_ZOOM
from flowdrafter.generators.diffusion.selftest import make_project

WIDTH, HEIGHT = 96, 64
STEPS = 6


@pytest.fixture
def video_project(tmp_path):
    """One 5-frame scene at 96x64 (the selftest storyboard's first scene) whose camera the tests set."""
    project = make_project(tmp_path / "project")
    doc = project.load().model_dump(mode="json")
    doc.update(width=WIDTH, height=HEIGHT, fps=6)
    doc["scenes"] = doc["scenes"][:1]
    doc["scenes"][0]["num_frames"] = 5
    doc["scenes"][0]["tracks"][0]["keyframes"][1]["frame"] = 4
    doc["scenes"][0]["frames"] = [{"frame": 0, "description": "the kitten crouches"}]
    project.save(parse_storyboard(doc))
    return project


@pytest.fixture
def wan_settings(tiny_settings):
    """The tiny Wan at 288x192 (18x12 latents), 9 frames (3 latent frames), 6 steps, the warp from step 2 on."""
    return tiny_settings.model_copy(update={
        "i2v_max_side": 288, "i2v_frames": 9, "steps": STEPS, "camera_warp_start": 0.2, "camera_warp_steps": 1.0,
    })  # fmt: skip


@pytest.fixture(scope="module")
def svd_overrides(tmp_path_factory):
    from flowdrafter.generators.testing.tiny import build_svd

    return build_svd(tmp_path_factory.mktemp("svd") / "i2v")


def _with(project, change):
    doc = project.load().model_dump(mode="json")
    change(doc["scenes"][0])
    project.save(parse_storyboard(doc))
    return project


def _render(project, settings, trace=None):
    gen = get_generator("drafter", settings)
    gen.trace = trace
    sink = ListSink()
    gen.render_scene(RenderContext(project, project.load(), "s1"), sink)
    return sink.frames


def _key(project, settings):
    from flowdrafter.generators.cache import scene_key

    return scene_key(RenderContext(project, project.load(), "s1"), get_generator("drafter", settings))


# -- the action text ---------------------------------------------------------------------------------------------


def test_the_scene_event_reaches_the_video_models_text_encoder_and_changes_clip_and_key(video_project, wan_settings):
    from flowdrafter.generators.diffusion.drafter import WanBackend

    pipe = WanBackend(wan_settings).load()
    seen: list[str] = []
    hook = pipe.text_encoder.register_forward_hook(
        lambda module, args, output: seen.append(pipe.tokenizer.decode(args[0][0], skip_special_tokens=True))
    )
    try:
        before, key_before = _render(video_project, wan_settings), _key(video_project, wan_settings)
        assert any("the kitten chases the ball" in text and "the kitten crouches" in text for text in seen)
        seen.clear()
        _with(video_project, lambda s: s.update(event="the kitten rolls over"))
        after, key_after = _render(video_project, wan_settings), _key(video_project, wan_settings)
        assert any("the kitten rolls over" in text for text in seen)
    finally:
        hook.remove()
    assert key_after != key_before
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))


def test_keyframe_descriptions_drive_wan_but_svd_ignores_them_in_clip_and_key(video_project, wan_settings, svd_overrides):
    wan_before, wan_key = _render(video_project, wan_settings), _key(video_project, wan_settings)
    svd_settings = wan_settings.model_copy(update={**svd_overrides, "i2v_max_side": None})
    svd_before, svd_key = _render(video_project, svd_settings), _key(video_project, svd_settings)
    _with(video_project, lambda s: s.update(frames=[{"frame": 0, "description": "the kitten yawns"}]))
    assert _key(video_project, wan_settings) != wan_key
    assert any(not np.array_equal(a, b) for a, b in zip(wan_before, _render(video_project, wan_settings)))
    assert _key(video_project, svd_settings) == svd_key  # SVD never reads them: the cached clip stays valid
    assert all(np.array_equal(a, b) for a, b in zip(svd_before, _render(video_project, svd_settings)))


def test_with_svd_the_render_says_once_that_the_action_text_is_ignored(video_project, tiny_env, svd_overrides, monkeypatch, capsys):
    from flowdrafter.ui.cli import main

    monkeypatch.setenv("FLOWDRAFTER_I2V_MODEL", svd_overrides["i2v_model"])
    monkeypatch.delenv("FLOWDRAFTER_I2V_MAX_SIDE", raising=False)
    doc = video_project.load().model_dump(mode="json")
    doc["scenes"].append({**doc["scenes"][0], "id": "s2"})
    video_project.save(parse_storyboard(doc))
    assert main(["render", str(video_project.root), "--generator", "drafter"]) == 0
    err = capsys.readouterr().err
    assert err.count("takes no text: the scenes' action text is ignored") == 1  # two scenes, one line


def test_a_model_of_an_unsupported_pipeline_class_is_one_line_before_anything_loads(video_project, tiny_env, tmp_path, monkeypatch, capsys):
    import json

    from flowdrafter.ui.cli import main

    folder = tmp_path / "ltx"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "LTXImageToVideoPipeline"}))
    monkeypatch.setenv("FLOWDRAFTER_I2V_MODEL", str(folder))
    models.free()
    assert main(["render", str(video_project.root), "--generator", "drafter"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a LTXImageToVideoPipeline, which drafter has no backend for" in err[0]
    assert "WanImageToVideoPipeline" in err[0] and "StableVideoDiffusionPipeline" in err[0]
    assert models.loaded() == []  # nothing was loaded (the references, made first, come after this check)


def test_a_text_to_video_wan_model_is_told_apart_from_the_image_to_video_one(tmp_path, tiny_settings):
    import json

    from flowdrafter.core.errors import FlowDrafterError
    from flowdrafter.generators.diffusion.drafter import i2v_family

    folder = tmp_path / "wan-t2v"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "WanPipeline", "expand_timesteps": False}))
    with pytest.raises(FlowDrafterError, match="a text-to-video Wan model"):
        i2v_family(tiny_settings.model_copy(update={"i2v_model": str(folder)}))
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "WanPipeline", "expand_timesteps": True}))
    assert i2v_family(tiny_settings.model_copy(update={"i2v_model": str(folder)})) == "wan"  # how TI2V-5B is published
    with pytest.raises(FlowDrafterError, match="i2v_pipeline is 'svd'"):
        i2v_family(tiny_settings.model_copy(update={"i2v_model": str(folder), "i2v_pipeline": "svd"}))


# -- the camera --------------------------------------------------------------------------------------------------


def _phase_shift(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """(dx, dy) in whole pixels that moves `a` ([C, H, W]) onto `b`: the peak of the normalized cross-power."""
    fa, fb = torch.fft.fft2(a.double()), torch.fft.fft2(b.double())
    cross = (fb * fa.conj()).sum(0)
    corr = torch.fft.ifft2(cross / cross.abs().clamp_min(1e-12)).real
    h, w = corr.shape
    iy, ix = divmod(int(corr.argmax()), w)
    return float(ix - w if ix > w // 2 else ix), float(iy - h if iy > h // 2 else iy)


def _camera(project, motion):
    return _with(project, lambda s: s.update(camera={"motion": motion, "strength": 1.0}))


def _frames_of(latents, frame_dim):
    return latents[0].movedim(frame_dim - 1, 0)  # [frames, C, H, W]


@pytest.mark.parametrize("family", ["wan", "svd"])
def test_a_pan_moves_the_last_frame_against_the_first_by_the_commanded_amount(video_project, wan_settings, svd_overrides, family):
    settings = wan_settings if family == "wan" else wan_settings.model_copy(update={**svd_overrides, "i2v_max_side": None})
    trace: list[dict] = []
    _render(_camera(video_project, "pan_right"), settings, trace)
    frame_dim = 2 if family == "wan" else 1
    last = trace[-1]
    assert last["warped"]
    frames = _frames_of(last["latents"], frame_dim)
    reference = last["reference"][0]
    dx, dy = _phase_shift(reference, frames[-1])
    width = frames.shape[-1]
    assert dx == pytest.approx(-MAX_PAN * width, abs=1.0) and dx < 0  # the camera goes right: the content goes left
    assert dy == 0


@pytest.mark.parametrize(("motion", "want"), [("zoom_in", 1 + MAX_ZOOM), ("zoom_out", 1 / (1 + MAX_ZOOM))])
def test_a_zoom_changes_the_scale_in_the_commanded_direction(video_project, wan_settings, motion, want):
    trace: list[dict] = []
    _render(_camera(video_project, motion), wan_settings, trace)
    frames = _frames_of(trace[-1]["latents"], 2)
    reference, last = trace[-1]["reference"][0], frames[-1]
    scores = {s: _zoom_match(reference, last, s) for s in (1 / (1 + MAX_ZOOM), 1.0, 1 + MAX_ZOOM)}
    assert max(scores, key=scores.get) == pytest.approx(want)


def _zoom_match(reference: torch.Tensor, frame: torch.Tensor, scale: float) -> float:
    """Correlation between `frame` and `reference` zoomed by `scale` about the centre (plain interpolation,
    over the part both cover)."""
    import torch.nn.functional as F

    c, h, w = reference.shape
    if scale >= 1:
        ch, cw = round(h / scale), round(w / scale)
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        model = F.interpolate(reference[None, :, y0 : y0 + ch, x0 : x0 + cw], size=(h, w), mode="bilinear")[0]
        target = frame
    else:
        ch, cw = round(h * scale), round(w * scale)
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        model = F.interpolate(reference[None], size=(ch, cw), mode="bilinear")[0]
        target = frame[:, y0 : y0 + ch, x0 : x0 + cw]
    a, b = model.flatten() - model.mean(), target.flatten() - target.mean()
    return float((a @ b) / (a.norm() * b.norm()))


@pytest.mark.parametrize("family", ["wan", "svd"])
def test_the_warp_keeps_every_frames_variance_and_starts_at_the_configured_step(video_project, wan_settings, svd_overrides, family):
    settings = wan_settings.model_copy(update={"camera_warp_start": 0.4, "camera_warp_steps": 0.5})  # steps 3, 4, 5
    if family == "svd":
        settings = settings.model_copy(update={**svd_overrides, "i2v_max_side": None})
    trace: list[dict] = []
    _render(_camera(video_project, "zoom_in"), settings, trace)
    assert [t["step"] for t in trace if t["warped"]] == [3, 4, 5]
    for t in trace:
        if not t["warped"]:
            assert t["after"] == t["before"]  # before step 3 nothing touches the latents
            continue
        for f in range(1, len(t["before"])):
            assert t["after"][f] == pytest.approx(t["before"][f], rel=0.05), (t["step"], f)


def test_the_conditioning_frame_stays_the_reference_image(video_project, wan_settings):
    static = _render(_camera(video_project, "static"), wan_settings)
    panned = _render(_camera(video_project, "pan_left"), wan_settings)
    assert np.array_equal(static[0], panned[0])  # the first frame is the scene image, whatever the camera does
    assert not np.array_equal(static[-1], panned[-1])


# -- sizes -------------------------------------------------------------------------------------------------------


def test_each_backend_renders_a_512x320_storyboard_at_the_size_the_docs_state():
    """The size rules with the published configs' numbers (docs/models.md, "What the drafter runs")."""
    import re
    from pathlib import Path
    from types import SimpleNamespace as NS

    from flowdrafter.core.settings import Settings
    from flowdrafter.generators.diffusion.drafter import CogVideoXBackend, SVDBackend, WanBackend
    from flowdrafter.generators.diffusion.scene_image import model_size

    settings = Settings()
    wan = NS(vae_scale_factor_spatial=16, vae_scale_factor_temporal=4, transformer=NS(config=NS(patch_size=[1, 2, 2])))
    svd = NS(vae_scale_factor=8, unet=NS(config=NS(sample_size=96, block_out_channels=[320, 640, 1280, 1280], num_frames=25)))
    cog = NS(vae_scale_factor_spatial=8, transformer=NS(config=NS(sample_width=90, sample_height=60)))
    got = {
        "scene image": model_size(512, 320, 512, 64),
        "wan": WanBackend(settings).size(wan, 512, 320),
        "svd": SVDBackend(settings).size(svd, 512, 320),
        "cogvideox": CogVideoXBackend(settings).size(cog, 512, 320),
    }
    docs = (Path(__file__).resolve().parents[2] / "docs" / "models.md").read_text(encoding="utf-8")
    stated = dict(re.findall(r"^\| (scene image|wan|svd|cogvideox) \|[^|]*\| (\d+x\d+) \|", docs, re.M))
    assert {k: f"{w}x{h}" for k, (w, h) in got.items()} == stated
    assert WanBackend(settings).frames(wan, 16, 8) == 45  # 16 frames at 8 fps: 1.9 s at 24 fps, 4k + 1
