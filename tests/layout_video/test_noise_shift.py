"""Motion-guided noise shifting: frame f's initial noise is frame 0's, moved by the planned background motion."""

from __future__ import annotations

import math

import pytest
import torch

from flowdrafter.generators.diffusion.noise_shift import fourier_shift, shifted_noise


def phase_correlation(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """Sub-pixel (dx, dy) that moves `a` onto `b`: the peak of the normalized cross-power spectrum, found on
    the integer grid and then refined on a 0.01-pixel grid by evaluating the band-limited correlation."""
    a = a.to(torch.float64).reshape(-1, *a.shape[-2:])
    b = b.to(torch.float64).reshape(-1, *b.shape[-2:])
    h, w = a.shape[-2:]
    cross = (torch.fft.fft2(b) * torch.fft.fft2(a).conj()).sum(0)
    cross = cross / cross.abs().clamp_min(1e-12)
    corr = torch.fft.ifft2(cross).real
    iy, ix = divmod(int(corr.argmax()), w)
    iy = iy - h if iy > h // 2 else iy
    ix = ix - w if ix > w // 2 else ix
    fine = torch.linspace(-1, 1, 201, dtype=torch.float64)
    ky = torch.fft.fftfreq(h, dtype=torch.float64)
    kx = torch.fft.fftfreq(w, dtype=torch.float64)
    ey = torch.exp(2j * math.pi * ky[:, None] * (iy + fine)[None, :])  # (h, T)
    ex = torch.exp(2j * math.pi * kx[:, None] * (ix + fine)[None, :])  # (w, T)
    grid = (ey.T @ cross @ ex).real  # (Ty, Tx)
    ty, tx = divmod(int(grid.argmax()), grid.shape[1])
    return float(ix + fine[tx]), float(iy + fine[ty])


def test_fourier_shift_matches_a_roll_for_whole_pixels_and_keeps_energy():
    x = torch.randn(2, 4, 24, 40, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(fourier_shift(x, 3, -2), torch.roll(x, shifts=(-2, 3), dims=(-2, -1)), atol=1e-5)
    moved = fourier_shift(x, 2.37, 1.61)
    assert torch.allclose((moved**2).sum(), (x**2).sum(), rtol=1e-5)  # every frequency keeps its magnitude
    assert torch.allclose(moved.mean(), x.mean(), atol=1e-6)


@pytest.mark.parametrize("strength", [1.0, 0.8])
def test_phase_correlation_recovers_the_commanded_shift_including_subpixel(strength):
    h, w, frames = 40, 64, 8
    dx, dy = 0.0125, -0.0095  # fractions of the frame per frame: 0.8 px and -0.38 px per latent frame
    z = shifted_noise((1, 4, frames, h, w), dx, dy, strength, torch.Generator().manual_seed(3))
    assert z.shape == (1, 4, frames, h, w)
    for f in (1, 3, 7):
        got_x, got_y = phase_correlation(z[0, :, 0], z[0, :, f])
        assert got_x == pytest.approx(f * dx * w, abs=0.05)
        assert got_y == pytest.approx(f * dy * h, abs=0.05)
    assert phase_correlation(z[0, :, 0], z[0, :, 3])[0] % 1 != 0  # 2.4 px: really sub-pixel


@pytest.mark.parametrize("strength", [0.0, 0.5, 0.9, 1.0])
def test_every_frame_keeps_unit_variance(strength):
    z = shifted_noise((1, 4, 12, 48, 80), 0.03, 0.02, strength, torch.Generator().manual_seed(5))
    per_frame = z[0].transpose(0, 1).reshape(12, -1)
    assert per_frame.var(dim=1).sub(1).abs().max() < 0.08
    assert per_frame.mean(dim=1).abs().max() < 0.06


def test_strength_sets_how_much_frames_share_and_zero_is_independent_noise():
    def corr(strength):
        z = shifted_noise((1, 4, 2, 32, 32), 0.0, 0.0, strength, torch.Generator().manual_seed(1))
        return float(torch.corrcoef(torch.stack([z[0, :, 0].flatten(), z[0, :, 1].flatten()]))[0, 1])

    assert abs(corr(0.0)) < 0.05
    assert corr(0.7) == pytest.approx(0.49, abs=0.06)  # a^2 of each frame is the shared field
    assert corr(1.0) == pytest.approx(1.0, abs=1e-6)


def test_same_seed_same_noise_other_seed_other_noise():
    args = ((1, 4, 4, 16, 16), 0.02, 0.0, 0.8)
    a = shifted_noise(*args, torch.Generator().manual_seed(9))
    assert torch.equal(a, shifted_noise(*args, torch.Generator().manual_seed(9)))
    assert not torch.allclose(a, shifted_noise(*args, torch.Generator().manual_seed(10)))
