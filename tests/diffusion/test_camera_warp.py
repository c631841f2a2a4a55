"""The camera warp's parts: content moves by the commanded amount, the noise is left alone, the window of
steps, and the scheduler tap's clean-latent prediction agrees with the schedulers' own."""

from __future__ import annotations

import pytest
import torch

from flowdrafter.core.errors import Cancelled
from flowdrafter.generators.diffusion.camera_warp import (
    MAX_PAN,
    MAX_ZOOM,
    Move,
    SchedulerTap,
    StepCallback,
    camera_moves,
    move_content,
    warp_frames,
    warp_window,
)

H, W = 32, 48
FRAMES = 5


def _blob(frames: int = FRAMES) -> torch.Tensor:
    """[1, frames, 4, H, W] clean latents: a smooth bright blob around the centre of frame 0, weak elsewhere."""
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
    blob = torch.exp(-((ys - (H - 1) / 2) ** 2 + (xs - (W - 1) / 2) ** 2) / 18.0)
    lat = torch.zeros(1, frames, 4, H, W)
    lat[:, 0] = blob
    return lat


def _centre(img: torch.Tensor) -> tuple[float, float]:
    m = img.mean(0).clamp_min(0)
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
    return float((m * xs).sum() / m.sum()), float((m * ys).sum() / m.sum())


def _spread(img: torch.Tensor) -> float:
    m = img.mean(0).clamp_min(0)
    xs = torch.arange(W, dtype=torch.float32)[None, :].expand(H, W)
    mean = (m * xs).sum() / m.sum()
    return float(((m * (xs - mean) ** 2).sum() / m.sum()).sqrt())


def _moved(motion: str, strength: float = 1.0) -> list[torch.Tensor]:
    """Frame 0's blob moved by each frame's camera move."""
    blob = _blob()[0, 0]
    return [move_content(blob, m)[0] for m in camera_moves(motion, strength, FRAMES)]


@pytest.mark.parametrize(("motion", "axis", "sign"), [("pan_right", 0, -1), ("pan_left", 0, 1), ("tilt_up", 1, 1), ("tilt_down", 1, -1)])
def test_pans_and_tilts_move_content_by_the_commanded_amount_without_wrapping(motion, axis, sign):
    frames = _moved(motion, 0.8)
    c0 = _centre(frames[0])
    for f in range(1, FRAMES):
        expected = sign * MAX_PAN * 0.8 * f / (FRAMES - 1) * (W if axis == 0 else H)
        assert _centre(frames[f])[axis] - c0[axis] == pytest.approx(expected, abs=0.1)
        assert _centre(frames[f])[1 - axis] == pytest.approx(c0[1 - axis], abs=0.1)


def test_a_sub_pixel_fourier_shift_keeps_the_energy_of_the_content():
    img = torch.randn(4, H, W, generator=torch.Generator().manual_seed(0))
    moved, covered = move_content(img, Move(dx=2.5 / W))
    assert covered.shape == (1, H, W) and set(covered.unique().tolist()) == {0.0, 1.0}  # hard: no blended pixels
    assert int((covered == 0).sum()) == 3 * H  # the columns the pan uncovered (the half-covered one too)
    inside = covered.bool().expand_as(img)
    assert float(moved[inside].var()) == pytest.approx(float(img.var()), rel=0.15)  # no blur (bilinear halves it at .5 px)


def test_zoom_in_grows_content_about_the_centre_and_zoom_out_shrinks_it():
    zin, zout = _moved("zoom_in"), _moved("zoom_out")
    size0 = _spread(zin[0])
    for f in range(1, FRAMES):
        expected = (1 + MAX_ZOOM) ** (f / (FRAMES - 1))
        assert _spread(zin[f]) / size0 == pytest.approx(expected, rel=0.08)
        assert _spread(zout[f]) / size0 == pytest.approx(1 / expected, rel=0.08)
    assert _centre(zin[-1]) == pytest.approx(_centre(zin[0]), abs=0.2)


def test_the_warp_replaces_content_keeps_each_frames_noise_and_statistics_and_leaves_frame_zero():
    g = torch.Generator().manual_seed(1)
    clean = 3 * _blob() + 0.1 * torch.randn(1, FRAMES, 4, H, W, generator=g)
    noise = torch.randn(1, FRAMES, 4, H, W, generator=g)
    signal, sigma = 0.3, 0.9
    latents = signal * clean + sigma * noise
    moves = camera_moves("zoom_in", 1.0, FRAMES)
    out = warp_frames(latents, clean, signal, moves)
    assert torch.equal(out[0, 0], latents[0, 0])  # the conditioning frame is not touched
    for f in range(1, FRAMES):
        content, covered = move_content(clean[0, 0], moves[f])
        # the moved content plus the frame's own noise where the move covers the frame, the frame's own latent
        # elsewhere, up to one affine map per channel (which gives back the frame's mean and variance)
        target = covered * (signal * content + sigma * noise[0, f]) + (1 - covered) * latents[0, f]
        for c in range(4):
            y, x = out[0, f, c].flatten(), target[c].flatten()
            design = torch.stack([x, torch.ones_like(x)], dim=1)
            fit = torch.linalg.lstsq(design, y[:, None]).solution
            assert (design @ fit)[:, 0].sub(y).abs().max() < 1e-4
        torch.testing.assert_close(out[0, f].std((-2, -1)), latents[0, f].std((-2, -1)), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(out[0, f].mean((-2, -1)), latents[0, f].mean((-2, -1)), rtol=1e-5, atol=1e-6)
    assert torch.equal(warp_frames(latents, clean, signal, camera_moves("static", 1.0, FRAMES)), latents)


def test_the_window_starts_after_the_first_steps_and_lasts_its_share():
    assert list(warp_window(0.1, 0.3, 25)) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert list(warp_window(0.0, 0.3, 25))[0] == 0  # from step 0: the old behaviour
    assert list(warp_window(0.2, 0.01, 10)) == [2]  # at least one step
    assert list(warp_window(0.5, 1.0, 6)) == [3, 4, 5]  # clipped to the schedule
    assert list(warp_window(0.1, 0.0, 25)) == []


def _scheduler_step(scheduler, tap, sample, out):
    """One step at the third timestep through the tap; returns the scheduler's result and the tap's view."""
    scheduler.is_scale_input_called = True
    with tap.installed():
        if hasattr(scheduler, "_step_index"):
            scheduler._step_index = 2
        result = scheduler.step(out, scheduler.timesteps[2], sample, return_dict=False)
        return result, tap.clean_and_signal()


def test_the_tap_predicts_the_same_clean_latent_as_each_scheduler():
    from diffusers import CogVideoXDDIMScheduler, EulerDiscreteScheduler, UniPCMultistepScheduler

    g = torch.Generator().manual_seed(2)
    sample, out = torch.randn(1, 4, 8, 8, generator=g), torch.randn(1, 4, 8, 8, generator=g)
    euler = EulerDiscreteScheduler(prediction_type="v_prediction", use_karras_sigmas=True, sigma_max=700.0, sigma_min=0.002)
    ddim = CogVideoXDDIMScheduler(prediction_type="v_prediction")
    unipc = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0)
    for scheduler in (euler, ddim, unipc):
        scheduler.set_timesteps(6)
        tap = SchedulerTap(scheduler)
        result, (clean, signal) = _scheduler_step(scheduler, tap, sample, out)
        expected = scheduler.model_outputs[-1] if scheduler is unipc else result[1]  # UniPC keeps its x0 prediction
        torch.testing.assert_close(clean, expected.float(), atol=1e-5, rtol=1e-5)
        assert 0.0 < signal <= 1.0
        assert "step" not in vars(scheduler)  # the tap is gone after the call
    assert SchedulerTap(euler).kind == "ve" and SchedulerTap(ddim).kind == "vp" and SchedulerTap(unipc).kind == "flow"


def test_after_a_warp_the_multistep_solver_starts_over_from_the_warped_latents():
    from diffusers import UniPCMultistepScheduler

    unipc = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0)
    unipc.set_timesteps(6)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 4, 8, 8, generator=g)
    tap = SchedulerTap(unipc)
    with tap.installed():
        for i in range(2):
            x = unipc.step(torch.randn(1, 4, 8, 8, generator=g), unipc.timesteps[i], x, return_dict=False)[0]
    assert unipc.last_sample is not None and unipc.lower_order_nums == 2
    tap.restart()
    assert unipc.last_sample is None and unipc.lower_order_nums == 0  # no corrector rebuilding the old sample


def test_step_callback_reports_progress_and_cancels_at_the_end_of_the_step():
    seen: list[tuple[int, int]] = []
    flag = {"cancel": False}
    cb = StepCallback(None, range(0), 10, progress=lambda d, t: seen.append((d, t)), is_cancelled=lambda: flag["cancel"])
    assert cb(None, 0, 0, {"latents": torch.zeros(1, 2, 4, 4, 4)}) == {}
    flag["cancel"] = True
    with pytest.raises(Cancelled):
        cb(None, 1, 0, {})
    assert seen == [(1, 10), (2, 10)] and cb.steps_done == 2
