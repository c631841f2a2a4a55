"""Motion-guided noise shifting (FlowZero): the initial noise of each frame follows the background motion.

Frame f starts from the base noise translated by the cumulative background motion up to f, so the denoiser
sees a background that already drifts the planned way. The translation is a phase shift in the Fourier
domain: sub-pixel, wrapping cleanly at the borders, and preserving every frequency's magnitude (so the
shifted noise is exactly as white and as strong as the base noise). Each frame is then mixed with fresh
noise of its own, `a * shifted + sqrt(1 - a^2) * fresh`, which keeps unit variance for any strength `a`.

What moves in the frame is the background's own motion (the storyboard's `background_motion`: a river, clouds)
plus what the camera adds (a pan right slides the whole scene left): `frame_drift` adds the two, each once.
The camera's own move is also what its motion LoRA makes the motion module do; the background's motion has
no LoRA, the noise carries it alone.
"""

from __future__ import annotations

import math

import torch

from flowdrafter.core.storyboard import Camera, CameraMotion, Scene

CAMERA_DRIFT = 0.02  # frame fractions per frame that a pan or tilt at strength 1 slides the scene (see docs)
_CAMERA_DIRECTION = {
    CameraMotion.pan_right: (-1, 0),  # the camera turns right: the scene slides left
    CameraMotion.pan_left: (1, 0),
    CameraMotion.tilt_up: (0, 1),  # the camera looks up: the scene slides down
    CameraMotion.tilt_down: (0, -1),
}


def camera_drift(camera: Camera) -> tuple[float, float]:
    """(dx, dy) the camera adds to everything in the frame, in frame fractions per frame (zooms add none)."""
    sx, sy = _CAMERA_DIRECTION.get(camera.motion, (0, 0))
    return sx * CAMERA_DRIFT * camera.strength, sy * CAMERA_DRIFT * camera.strength


def frame_drift(scene: Scene) -> tuple[float, float]:
    """The background's motion as the frame sees it: its own motion plus the camera's drift, each once."""
    cx, cy = camera_drift(scene.camera)
    return scene.background_motion.dx + cx, scene.background_motion.dy + cy


def _phase_ramp(n: int, shift: float) -> torch.Tensor:
    """exp(-2*pi*i*k*shift/n) for each FFT bin k, Hermitian-symmetric so a real signal stays real.

    The Nyquist bin of an even length is its own mirror, so its factor must be real: it keeps its
    magnitude and takes the sign of cos(pi * shift) (the nearest real value to the exact phase).
    """
    k = torch.fft.fftfreq(n, dtype=torch.float64)  # cycles per sample, Nyquist is -0.5 for even n
    ramp = torch.polar(torch.ones_like(k), -2.0 * math.pi * k * shift)
    if n % 2 == 0:
        sign = 1.0 if math.cos(math.pi * shift) >= 0 else -1.0
        ramp[n // 2] = complex(sign, 0.0)
    return ramp


def fourier_shift(x: torch.Tensor, dx: float, dy: float) -> torch.Tensor:
    """Translate the last two axes (..., H, W) of `x` by (dx, dy) pixels (content moves right/down for
    positive values), wrapping around. Sub-pixel shifts are exact band-limited translations."""
    h, w = x.shape[-2], x.shape[-1]
    spectrum = torch.fft.fft2(x.to(torch.float64))
    ramp = _phase_ramp(h, dy)[:, None] * _phase_ramp(w, dx)[None, :]
    return torch.fft.ifft2(spectrum * ramp).real.to(x.dtype)


def cumulative_shifts(num_frames: int, dx: float, dy: float, width: int, height: int) -> list[tuple[float, float]]:
    """Pixel offset of each frame from frame 0 for a constant motion of (dx, dy) frame-fractions per frame."""
    return [(f * dx * width, f * dy * height) for f in range(num_frames)]


def shifted_noise(
    shape: tuple[int, int, int, int, int],
    dx: float,
    dy: float,
    strength: float,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Initial latents (batch, channels, frames, height, width) whose frames follow the background motion.

    `dx`, `dy` are the storyboard's background motion in fractions of the frame per frame; `strength` in
    [0, 1] is how much of each frame is the shifted base noise (0: independent noise per frame, as plain
    AnimateDiff; 1: one noise field sliding across the frames). Deterministic for a seeded `generator`
    (drawn on the CPU so a seed gives the same clip on every device).
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"noise shift strength must be between 0 and 1, got {strength}")
    b, c, f, h, w = shape
    base = torch.randn((b, c, h, w), generator=generator, dtype=torch.float32)
    fresh = torch.randn((b, c, f, h, w), generator=generator, dtype=torch.float32)
    if strength == 0.0:
        return fresh.to(dtype)
    keep = math.sqrt(max(0.0, 1.0 - strength * strength))
    frames = []
    for i, (sx, sy) in enumerate(cumulative_shifts(f, dx, dy, w, h)):
        moved = fourier_shift(base, sx, sy) if (sx or sy) else base
        frames.append(strength * moved + keep * fresh[:, :, i])
    return torch.stack(frames, dim=2).to(dtype)
