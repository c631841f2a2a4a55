"""The camera warp moves latent content the way the camera is told to, by the amount it is told to."""

from __future__ import annotations

import pytest
import torch

from flowdrafter.core.errors import Cancelled
from flowdrafter.generators.diffusion.camera_warp import MAX_PAN, MAX_ZOOM, StepCallback, camera_moves, warp_frames, warp_step_count

H = W = 32
FRAMES = 5


def _blob_latents(frames: int = FRAMES) -> torch.Tensor:
    """[1, frames, 4, H, W]: frame 0 holds a bright square around the centre, the rest is noise."""
    torch.manual_seed(0)
    lat = torch.randn(1, frames, 4, H, W) * 0.01
    lat[:, 0, :, 12:20, 12:20] = 1.0
    return lat


def _centre(img: torch.Tensor) -> tuple[float, float]:
    m = img.mean(0).clamp_min(0)
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
    return float((m * xs).sum() / m.sum()), float((m * ys).sum() / m.sum())


def _spread(img: torch.Tensor) -> float:
    """Standard deviation of the content along x (it scales with the zoom)."""
    m = img.mean(0)
    m = torch.where(m > 0.1, m, torch.zeros_like(m))
    xs = torch.arange(W, dtype=torch.float32)[None, :].expand(H, W)
    mean = (m * xs).sum() / m.sum()
    return float(((m * (xs - mean) ** 2).sum() / m.sum()).sqrt())


@pytest.mark.parametrize(
    ("motion", "axis", "sign"),
    [("pan_right", 0, -1), ("pan_left", 0, 1), ("tilt_up", 1, 1), ("tilt_down", 1, -1)],
)
def test_pans_and_tilts_move_content_by_the_commanded_amount(motion, axis, sign):
    strength = 0.8
    out = warp_frames(_blob_latents(), camera_moves(motion, strength, FRAMES))
    c0 = _centre(out[0, 0])
    for f in range(1, FRAMES):
        expected = sign * MAX_PAN * strength * f / (FRAMES - 1) * (W if axis == 0 else H)
        moved = _centre(out[0, f])[axis] - c0[axis]
        assert moved == pytest.approx(expected, abs=0.35)
        assert _centre(out[0, f])[1 - axis] == pytest.approx(c0[1 - axis], abs=0.2)


def test_zoom_in_grows_content_about_the_centre_and_zoom_out_shrinks_it():
    zin = warp_frames(_blob_latents(), camera_moves("zoom_in", 1.0, FRAMES))
    zout = warp_frames(_blob_latents(), camera_moves("zoom_out", 1.0, FRAMES))
    size0 = _spread(zin[0, 0])
    for f in range(1, FRAMES):
        expected = (1 + MAX_ZOOM) ** (f / (FRAMES - 1))
        assert _spread(zin[0, f]) / size0 == pytest.approx(expected, rel=0.1)
        assert _spread(zout[0, f]) / size0 == pytest.approx(1 / expected, rel=0.1)
    assert _centre(zin[0, -1]) == pytest.approx(_centre(zin[0, 0]), abs=0.3)


def test_static_camera_and_uncovered_areas_keep_each_frames_own_latent():
    lat = _blob_latents()
    assert torch.equal(warp_frames(lat, camera_moves("static", 1.0, FRAMES)), lat)
    out = warp_frames(lat, camera_moves("pan_left", 1.0, FRAMES))  # content moves right: the left edge is uncovered
    uncovered = int(MAX_PAN * W) - 1
    assert torch.allclose(out[0, -1, :, :, :uncovered], lat[0, -1, :, :, :uncovered])


def test_step_callback_warps_only_in_the_first_steps_and_reports_progress():
    seen = []
    cb = StepCallback(camera_moves("pan_right", 1.0, FRAMES), 2, 6, progress=lambda d, t: seen.append((d, t)))
    lat = _blob_latents()
    assert not torch.equal(cb(None, 0, 0, {"latents": lat})["latents"], lat)
    assert "latents" in cb(None, 1, 0, {"latents": lat})
    assert cb(None, 2, 0, {"latents": lat}) == {}
    assert seen == [(1, 6), (2, 6), (3, 6)]
    assert warp_step_count(0.3, 25) == 8 and warp_step_count(0.01, 25) == 1 and warp_step_count(0.0, 25) == 0


def test_step_callback_cancels_at_the_end_of_the_step():
    flag = {"cancel": False}
    cb = StepCallback(None, 0, 10, is_cancelled=lambda: flag["cancel"])
    cb(None, 0, 0, {})
    flag["cancel"] = True
    with pytest.raises(Cancelled):
        cb(None, 1, 0, {})
    assert cb.steps_done == 2
