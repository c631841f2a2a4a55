"""Camera motion by warping latents, as VideoDrafter applies it: during the first sampling steps every
frame's latent is replaced by the first frame's latent moved the way the camera moves by that frame
(pan = translate, zoom = scale), so the video model starts from a plan of the motion and refines it.

Conventions (the storyboard's): the camera moving right (`pan_right`) moves the content left; `tilt_up`
moves the content down; `zoom_in` scales the content up about the centre. `strength` (0..1) scales the
total motion over the clip: at strength 1 a pan travels `MAX_PAN` of the frame and a zoom reaches
`1 + MAX_ZOOM` times the size. Motion is spread over the frames linearly (geometrically for zoom).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from flowdrafter.core.storyboard import CameraMotion

MAX_PAN = 0.25  # fraction of the frame a pan covers over the whole clip at strength 1
MAX_ZOOM = 0.5  # a zoom-in ends at 1 + MAX_ZOOM times the size at strength 1


@dataclass(frozen=True)
class Move:
    """Where frame content goes: shift by (dx, dy) fractions of the frame (right, down), scale about the centre."""

    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0


def camera_moves(motion: CameraMotion | str, strength: float, num_frames: int) -> list[Move]:
    """One `Move` per frame (frame 0 does not move) for a camera motion of the given strength."""
    motion = CameraMotion(motion)
    moves = []
    for f in range(num_frames):
        t = f / (num_frames - 1) if num_frames > 1 else 0.0
        pan = MAX_PAN * strength * t
        zoom = (1 + MAX_ZOOM * strength) ** t
        moves.append(
            {
                CameraMotion.static: Move(),
                CameraMotion.pan_left: Move(dx=pan),
                CameraMotion.pan_right: Move(dx=-pan),
                CameraMotion.tilt_up: Move(dy=pan),
                CameraMotion.tilt_down: Move(dy=-pan),
                CameraMotion.zoom_in: Move(scale=zoom),
                CameraMotion.zoom_out: Move(scale=1 / zoom),
            }[motion]
        )
    return moves


def warp(image: torch.Tensor, move: Move) -> tuple[torch.Tensor, torch.Tensor]:
    """Move `image` ([..., C, H, W]) as `move` says; returns the warped image and a [..., 1, H, W] mask of
    the pixels that came from inside the image (the rest is uncovered by the motion)."""
    lead = image.shape[:-3]
    c, h, w = image.shape[-3:]
    x = image.reshape(-1, c, h, w)
    s = move.scale
    theta = torch.tensor(
        [[1 / s, 0.0, -2 * move.dx / s], [0.0, 1 / s, -2 * move.dy / s]], dtype=torch.float32, device=x.device
    )
    grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
    warped = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    valid = F.grid_sample(
        torch.ones_like(x[:, :1], dtype=torch.float32), grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    return warped.to(image.dtype).reshape(*lead, c, h, w), valid.to(image.dtype).reshape(*lead, 1, h, w)


def warp_frames(latents: torch.Tensor, moves: list[Move], frame_dim: int = 1) -> torch.Tensor:
    """Every frame along `frame_dim` becomes frame 0 moved by its `Move`; uncovered parts keep their own latent."""
    frames = latents.movedim(frame_dim, 0)
    if len(moves) != frames.shape[0]:
        raise ValueError(f"{len(moves)} camera moves for {frames.shape[0]} frames")
    first = frames[0]
    out = [first]
    for f in range(1, frames.shape[0]):
        if moves[f] == Move():
            out.append(frames[f])
            continue
        warped, valid = warp(first, moves[f])
        out.append(valid * warped + (1 - valid) * frames[f])
    return torch.stack(out).movedim(0, frame_dim)


class StepCallback:
    """`callback_on_step_end` for video pipelines: camera warp in the first steps, progress, cancellation.

    `progress(step_done, total)` is called after every step; `is_cancelled()` is checked after every step
    and raises `core.errors.Cancelled`, so a cancel takes effect within one step.
    """

    def __init__(
        self,
        moves: list[Move] | None,
        warp_steps: int,
        total_steps: int,
        *,
        frame_dim: int = 1,
        progress: Callable[[int, int], None] | None = None,
        is_cancelled: Callable[[], bool] | None = None,
    ):
        self.moves = moves
        self.warp_steps = warp_steps
        self.total_steps = total_steps
        self.frame_dim = frame_dim
        self.progress = progress
        self.is_cancelled = is_cancelled
        self.steps_done = 0

    def __call__(self, pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        from flowdrafter.core.errors import Cancelled

        self.steps_done = step + 1
        out: dict[str, Any] = {}
        if self.moves is not None and step < self.warp_steps and "latents" in kwargs:
            out["latents"] = warp_frames(kwargs["latents"], self.moves, self.frame_dim)
        if self.progress is not None:
            self.progress(step + 1, self.total_steps)
        if self.is_cancelled is not None and self.is_cancelled():
            raise Cancelled("render cancelled")
        return out


def warp_step_count(fraction: float, total_steps: int) -> int:
    """Steps in which to warp: `fraction` of the schedule, at least one when fraction > 0."""
    return min(total_steps, max(1, math.ceil(fraction * total_steps))) if fraction > 0 else 0
