"""Camera motion as VideoDrafter applies it: the intermediate latents are moved the way the camera moves,
after the first few denoising steps (when the layout exists and can be moved), for a window of steps.

What is moved is the clean content, never the noise. At a warp step the scheduler's prediction of the clean
latent `x0` is known (`SchedulerTap`), so each latent is `x = a * x0 + noise` with `a` the signal level of
the step. Every frame f > 0 gets the reference frame's clean latent moved by its `Move` in place of its own
content estimate, and keeps its own noise:

    x_f  <-  x_f + a * (moved(reference) - x0_f)        (only where the moved reference covers the frame)

so the noise is never resampled (resampling noise lowers its variance and a zoom turns it into blobs) and
only the content moves; each warped frame then gets back its own per-channel mean and variance
(`keep_moments`), so the latents keep the statistics the sampler expects at that step. Pans and tilts move the content with the Fourier
phase shift of `noise_shift.fourier_shift` (exact sub-pixel translation, no blur), on a mirrored border so
nothing wraps around; zooms resample it bicubically about the centre. Areas the motion uncovers keep the
frame's own latent. The reference frame (frame 0) is never changed: it stays the conditioning image.

Conventions (the storyboard's): the camera moving right (`pan_right`) moves the content left; `tilt_up`
moves the content down; `zoom_in` scales the content up about the centre. `strength` (0..1) scales the
total motion over the clip: at strength 1 a pan travels `MAX_PAN` of the frame and a zoom reaches
`1 + MAX_ZOOM` times the size. Motion is spread over the frames linearly (geometrically for zoom).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from flowdrafter.core.storyboard import CameraMotion

from .noise_shift import fourier_shift

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


def warp_window(start: float, length: float, total_steps: int) -> range:
    """The step indices after which the latents are warped: the first `ceil(start * steps)` steps run
    unwarped, then `length` of the schedule (at least one step when length > 0) is warped."""
    if length <= 0 or total_steps <= 0:
        return range(0)
    first = min(total_steps, math.ceil(start * total_steps - 1e-9))
    count = max(1, math.ceil(length * total_steps - 1e-9))
    return range(first, min(total_steps, first + count))


# -- moving clean content ------------------------------------------------------------------------------------


def move_content(image: torch.Tensor, move: Move) -> tuple[torch.Tensor, torch.Tensor]:
    """`image` ([..., C, H, W], a clean latent) moved as `move` says, and a [..., 1, H, W] 0/1 mask of the
    pixels the moved image covers (the rest is uncovered by the motion)."""
    h, w = image.shape[-2:]
    if move.scale == 1.0:
        return _shift(image, move.dx * w, move.dy * h)
    return _resample(image, move)


def _shift(image: torch.Tensor, sx: float, sy: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Fourier phase shift by (sx, sy) pixels on a mirrored border (so the content does not wrap around)."""
    h, w = image.shape[-2:]
    py, px = min(h - 1, math.ceil(abs(sy)) + 1), min(w - 1, math.ceil(abs(sx)) + 1)
    lead = image.shape[:-2]
    flat = image.reshape(-1, 1, h, w).float()
    padded = F.pad(flat, (px, px, py, py), mode="reflect") if (px or py) else flat
    moved = fourier_shift(padded, sx, sy)[..., py : py + h, px : px + w]
    ys = torch.arange(h, dtype=torch.float32, device=image.device)[:, None] - sy
    xs = torch.arange(w, dtype=torch.float32, device=image.device)[None, :] - sx
    covered = ((ys > -0.5) & (ys < h - 0.5) & (xs > -0.5) & (xs < w - 0.5)).to(image.dtype)
    return moved.reshape(*lead, h, w).to(image.dtype), covered.expand(*lead[:-1], 1, h, w)


def _resample(image: torch.Tensor, move: Move) -> tuple[torch.Tensor, torch.Tensor]:
    """Bicubic resampling for zooms (and combined moves): the content is smooth, so interpolating it is safe."""
    lead = image.shape[:-3]
    c, h, w = image.shape[-3:]
    x = image.reshape(-1, c, h, w).float()
    s = move.scale
    theta = torch.tensor([[1 / s, 0.0, -2 * move.dx / s], [0.0, 1 / s, -2 * move.dy / s]], dtype=torch.float32, device=x.device)
    grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
    moved = F.grid_sample(x, grid, mode="bicubic", padding_mode="border", align_corners=False)
    covered = (grid.abs() <= 1.0).all(dim=-1, keepdim=True).permute(0, 3, 1, 2).to(image.dtype)
    return moved.to(image.dtype).reshape(*lead, c, h, w), covered.reshape(*lead, 1, h, w)


def warp_frames(
    latents: torch.Tensor,
    clean: torch.Tensor,
    signal: float,
    moves: list[Move],
    frame_dim: int = 1,
    reference: torch.Tensor | None = None,
) -> torch.Tensor:
    """Every frame f > 0 along `frame_dim` gets the moved reference as its content (see the module docstring).

    `clean` is the scheduler's clean-latent prediction (same shape as `latents`), `signal` the share of clean
    content in `latents` at this step, `reference` the clean latent of the conditioning frame ([B, C, H, W];
    default: frame 0 of `clean`).
    """
    frames = latents.movedim(frame_dim, 0)
    if len(moves) != frames.shape[0]:
        raise ValueError(f"{len(moves)} camera moves for {frames.shape[0]} frames")
    x0 = clean.movedim(frame_dim, 0).to(latents.dtype)
    source = (reference if reference is not None else x0[0]).to(latents.dtype)
    out = [frames[0]]
    for f in range(1, frames.shape[0]):
        if moves[f] == Move():
            out.append(frames[f])
            continue
        content, covered = move_content(source, moves[f])
        out.append(keep_moments(frames[f] + signal * covered * (content - x0[f]), frames[f]))
    return torch.stack(out).movedim(0, frame_dim)


def keep_moments(warped: torch.Tensor, before: torch.Tensor) -> torch.Tensor:
    """`warped` ([..., C, H, W]) with the per-channel mean and standard deviation of `before`.

    Replacing the content leaves the noise as it was, but where the moved content and the model's own
    estimate differ in energy the latent's statistics would drift from the ones the sampler expects at
    this step (an SNR shift: too much or too little signal for the noise level, which shows as washed-out
    or burnt frames). With a good model the two have the same energy and this changes next to nothing;
    it guarantees every warped frame keeps its variance.
    """
    dims = (-2, -1)
    mean, std = warped.mean(dims, keepdim=True), warped.std(dims, keepdim=True)
    return (warped - mean) / std.clamp_min(1e-6) * before.std(dims, keepdim=True) + before.mean(dims, keepdim=True)


# -- the scheduler's view of each step ------------------------------------------------------------------------


class SchedulerTap:
    """Wraps a diffusers scheduler's `step` while a pipeline runs, to know after each step the (guided) clean
    latent the model predicted and the signal level of the latents the step returned.

    Three noise families cover the drafter's pipelines: flow matching (Wan: UniPC with flow sigmas,
    FlowMatchEuler; x = (1 - s) x0 + s e), variance exploding (SVD: Euler in sigma space; x = x0 + s e) and
    variance preserving (CogVideoX: DDIM; x = sqrt(a) x0 + sqrt(1 - a) e).
    """

    def __init__(self, scheduler: Any):
        self.scheduler = scheduler
        self.kind = noise_kind(scheduler)
        self._last: tuple[torch.Tensor, Any, torch.Tensor, int] | None = None

    @contextlib.contextmanager
    def installed(self) -> Iterator[SchedulerTap]:
        sched = self.scheduler
        original = sched.step
        had_own = "step" in vars(sched)

        def step(model_output: torch.Tensor, timestep: Any, sample: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            self._last = (model_output, timestep, sample, _step_index(sched, timestep))
            return original(model_output, timestep, sample, *args, **kwargs)

        sched.step = step
        try:
            yield self
        finally:
            if had_own:
                sched.step = original
            else:
                del sched.step
            self._last = None

    def clean_and_signal(self) -> tuple[torch.Tensor, float]:
        """(predicted clean latent, signal level of the returned latents) for the step that just ran."""
        if self._last is None:
            raise RuntimeError("no scheduler step has run yet")
        out, t, sample, i = self._last
        cfg = self.scheduler.config
        pred = cfg.get("prediction_type", "epsilon")
        out, sample = out.float(), sample.float()
        if self.kind == "flow":
            sigmas = self.scheduler.sigmas
            s, s_next = float(sigmas[i]), float(sigmas[min(i + 1, len(sigmas) - 1)])
            return sample - s * out, 1.0 - s_next
        if self.kind == "ve":
            s = float(self.scheduler.sigmas[i])
            if pred == "v_prediction":
                return out * (-s / (s * s + 1) ** 0.5) + sample / (s * s + 1), 1.0
            return (out if pred in ("sample", "original_sample") else sample - s * out), 1.0
        alphas = self.scheduler.alphas_cumprod
        t = int(t)
        prev = t - cfg.num_train_timesteps // self.scheduler.num_inference_steps
        a = float(alphas[t])
        a_prev = float(alphas[prev]) if prev >= 0 else float(self.scheduler.final_alpha_cumprod)
        if pred == "v_prediction":
            x0 = a**0.5 * sample - (1 - a) ** 0.5 * out
        elif pred == "sample":
            x0 = out
        else:
            x0 = (sample - (1 - a) ** 0.5 * out) / a**0.5
        return x0, a_prev**0.5

    def restart(self) -> None:
        """Forget the multistep history (UniPC, DPM-Solver): it describes the latents before the warp, and
        UniPC's corrector would rebuild the next sample from it, undoing the warp. The next step starts over
        at first order from the warped latents."""
        sched = self.scheduler
        order = sched.config.get("solver_order")
        if order and hasattr(sched, "model_outputs"):
            sched.model_outputs = [None] * order
            if hasattr(sched, "timestep_list"):
                sched.timestep_list = [None] * order
            sched.lower_order_nums = 0
            if hasattr(sched, "last_sample"):
                sched.last_sample = None


def noise_kind(scheduler: Any) -> str:
    """'flow', 've' or 'vp' (see `SchedulerTap`); any other scheduler cannot be used with camera motion."""
    cfg = scheduler.config
    name = type(scheduler).__name__
    if cfg.get("use_flow_sigmas") or cfg.get("prediction_type") == "flow_prediction" or name.startswith("FlowMatch"):
        return "flow"
    if name.startswith("Euler") and hasattr(scheduler, "sigmas"):
        return "ve"
    if hasattr(scheduler, "alphas_cumprod") and "DDIM" in name:
        return "vp"
    from flowdrafter.core.errors import RenderError

    raise RenderError(f"camera motion cannot follow the {name} scheduler; use the model's own scheduler (Euler, DDIM, UniPC or FlowMatch)")


def _step_index(scheduler: Any, timestep: Any) -> int:
    index = getattr(scheduler, "step_index", None)
    if index is not None:
        return int(index)
    if hasattr(scheduler, "index_for_timestep"):
        return int(scheduler.index_for_timestep(timestep))
    matches = (scheduler.timesteps == timestep).nonzero()
    return int(matches[0]) if len(matches) else 0


# -- the step callback ----------------------------------------------------------------------------------------


class StepCallback:
    """`callback_on_step_end` for video pipelines: camera warp in its window of steps, progress, cancellation.

    `progress(step_done, total)` is called after every step; `is_cancelled()` is checked after every step
    and raises `core.errors.Cancelled`, so a cancel takes effect within one step. The backend that runs the
    pipeline sets `tap` (a `SchedulerTap` installed on the pipeline's scheduler) and, when the reference
    frame's clean latent is not frame 0 of the predictions, `reference` (a function returning it). `trace`,
    when a list, gets one entry per step: whether it warped, the per-frame variance of the latents before
    and after, and the latents after (the tests read it).
    """

    def __init__(
        self,
        moves: list[Move] | None,
        window: range,
        total_steps: int,
        *,
        frame_dim: int = 1,
        progress: Callable[[int, int], None] | None = None,
        is_cancelled: Callable[[], bool] | None = None,
        trace: list[dict[str, Any]] | None = None,
    ):
        self.moves = moves if moves and any(m != Move() for m in moves) else None
        self.window = window
        self.total_steps = total_steps
        self.frame_dim = frame_dim
        self.progress = progress
        self.is_cancelled = is_cancelled
        self.trace = trace
        self.tap: SchedulerTap | None = None
        self.reference: Callable[[], torch.Tensor] | None = None
        self.steps_done = 0

    @property
    def warps(self) -> bool:
        return self.moves is not None and len(self.window) > 0

    def __call__(self, pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        from flowdrafter.core.errors import Cancelled

        self.steps_done = step + 1
        out: dict[str, Any] = {}
        latents = kwargs.get("latents")
        warped = self.warps and step in self.window and latents is not None
        reference = None
        if warped:
            if self.tap is None:
                raise RuntimeError("the camera warp needs the scheduler tap; the backend did not install it")
            clean, signal = self.tap.clean_and_signal()
            reference = self.reference() if self.reference is not None else clean.movedim(self.frame_dim, 0)[0]
            out["latents"] = warp_frames(latents, clean, signal, self.moves, self.frame_dim, reference)  # type: ignore[arg-type]
            self.tap.restart()
        if self.trace is not None and latents is not None:
            after = out.get("latents", latents)
            self.trace.append({
                "step": step, "warped": warped, "before": _frame_variance(latents, self.frame_dim),
                "after": _frame_variance(after, self.frame_dim), "latents": after.detach().clone(), "reference": reference,
            })  # fmt: skip
        if self.progress is not None:
            self.progress(step + 1, self.total_steps)
        if self.is_cancelled is not None and self.is_cancelled():
            raise Cancelled("render cancelled")
        return out


def _frame_variance(latents: torch.Tensor, frame_dim: int) -> list[float]:
    frames = latents.movedim(frame_dim, 0).float()
    return [float(f.var()) for f in frames]
