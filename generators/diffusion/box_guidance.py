"""Optional box guidance (BoxDiff / LMD): gradient steps on the latents that pull each entity's attention into
its box, in the first denoising steps. Off by default: it costs a backward pass through half the UNet.

The energy is LMD's, on the attention maps of one plain prompt (entity phrases first, then the scene text,
`TravelPlan.combined`): for entity e on frame f in a watched layer, `(1 - inside / total)^2`, where inside is
the attention mass of e's phrase tokens inside e's box and total its mass over the frame. Regional prompting
makes that ratio 1 by construction (an entity's text cannot attend outside its box), so the guidance pass
measures where the plain prompt's words *would* go, which is what the latents carry. Watched layers are the
mid block and the first up block with attention (LMD's choice: 1/64 and 1/32 of the image side at 512), so
the pass stops there and never runs the high-resolution up blocks. Each step:

    latents <- latents - scale * sqrt(1 - alpha_bar_t) * d energy / d latents      (LMD, `loss_scale` = scale)

Memory stays bounded: the prompt half only, `frames` frames at a time (each chunk its own short clip for the
motion module, an approximation of the full gradient), with no cross-frame attention and no modulation in
the guidance pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .video_attention import GuidanceTap, VideoAttentionState


class _Stop(Exception):
    """Raised after the last watched layer: the rest of the UNet does not change the energy."""


def watched_layers(unet: nn.Module) -> tuple[frozenset[str], nn.Module]:
    """The cross-attention processors box guidance reads, and the block after which a guidance pass stops."""
    blocks = [("mid_block", unet.mid_block)]
    for i, block in enumerate(unet.up_blocks):
        if getattr(block, "attentions", None):
            blocks.append((f"up_blocks.{i}", block))
            break
    names = frozenset(
        n for n in unet.attn_processors
        if n.endswith("attn2.processor") and "motion_modules" not in n and any(n.startswith(p + ".") for p, _ in blocks)
    )  # fmt: skip
    return names, blocks[-1][1]


@dataclass
class _Energy:
    """Sums the energy of every tapped layer call of one guidance pass."""

    state: VideoAttentionState
    layers: int
    total: torch.Tensor | float = 0.0
    seen: set[str] = field(default_factory=set)

    def collect(self, layer: str, frames: torch.Tensor, maps: torch.Tensor) -> None:
        boxes = self.state.pooled(maps.shape[-1], maps)[frames.to(maps.device)]  # [rows, entities, Q]
        inside = (maps * boxes).sum(-1) / maps.sum(-1).clamp_min(1e-8)
        present = (boxes.sum(-1) > 0).to(maps.dtype)
        self.total = self.total + ((1 - inside) ** 2 * present).sum() / (self.layers * max(1, maps.shape[1]))
        self.seen.add(layer)


def guide(
    unet: nn.Module,
    state: VideoAttentionState,
    latents: torch.Tensor,
    t: torch.Tensor,
    alpha_bar: float,
    embeds: torch.Tensor,
    image_embeds: list[torch.Tensor],
    spans: Sequence[tuple[int, int]],
    *,
    scale: float,
    iterations: int,
    frames: int,
    scale_input: Callable[[torch.Tensor, Any], torch.Tensor] = lambda x, t: x,
) -> tuple[torch.Tensor, list[float]]:
    """`iterations` gradient steps on `latents` [1, C, F, h, w]; returns them and the energy (mean per frame)
    before each step. `embeds` [F, tokens, dim] is the plain prompt per frame, `image_embeds` the IP-Adapter
    inputs of the prompt half."""
    layers, stop_at = watched_layers(unet)
    num_frames = latents.shape[2]
    energies: list[float] = []

    def stop(*_: Any) -> None:
        raise _Stop

    hook = stop_at.register_forward_hook(stop)
    try:
        for _ in range(iterations):
            grad = torch.zeros_like(latents)
            energy_sum = 0.0
            for a in range(0, num_frames, frames):
                b = min(a + frames, num_frames)
                x = latents[:, :, a:b].detach().requires_grad_(True)
                energy = _Energy(state, len(layers))
                tap = GuidanceTap(layers=layers, spans=list(spans), collect=energy.collect)
                with torch.enable_grad(), state.guidance(tap), state.call(range(a, b), halves=1):
                    try:
                        unet(scale_input(x, t), t, encoder_hidden_states=embeds[a:b], added_cond_kwargs={"image_embeds": image_embeds})
                    except _Stop:
                        pass
                    if not isinstance(energy.total, torch.Tensor):
                        raise RuntimeError("box guidance: the watched layers did not run")
                    (g,) = torch.autograd.grad(energy.total, x)
                grad[:, :, a:b] = g
                energy_sum += float(energy.total.detach())
            energies.append(energy_sum / num_frames)
            latents = latents - scale * (1.0 - alpha_bar) ** 0.5 * grad
    finally:
        hook.remove()
    return latents.detach(), energies
