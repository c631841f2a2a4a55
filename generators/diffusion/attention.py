"""Box-masked cross-attention and masked IP-Adapter attention, per batch row, at every layer's resolution.

This is how a layout becomes pixels: an entity's prompt words may only attend (be attended by queries)
inside its box, and an entity's reference image (through IP-Adapter) only adds to features inside its box.
One `RegionAttnProcessor` replaces each cross-attention processor of a UNet; all of them read one shared
`RegionState`, which the generator fills before calling the pipeline:

- `masks`: float tensor `[rows, regions, H, W]` in [0, 1] at the *latent* resolution (soft edges allowed).
  `rows` is the batch of the attention call, or a divisor of it, in which case the masks are tiled (so a
  video generator gives one row per frame, and classifier-free guidance's two halves reuse them).
  Every layer downsamples them (area average) to its own resolution.
- `token_regions`: long tensor `[rows, tokens]`: the region each text token is bound to, -1 for free tokens.
  Bound tokens get a log-mask bias, so their attention probability outside the region is ~0 (exactly 0
  with a hard mask) and fades with a soft edge. `bind_tokens` builds it from prompt segments.
- `ip_regions`: for each loaded IP-Adapter, the region of each of its images (-1 = everywhere). The
  adapter's output for that image is multiplied by the region's mask, per row - the same rule as
  diffusers' `IPAdapterMaskProcessor` / `ip_adapter_masks`, but per batch row and per frame.

With no masks set, the processor computes plain attention (plus unmasked IP-Adapter), so it can stay
installed. Setting `record` to a dict stores each layer's text-attention probabilities (mean over heads),
which the tests use and an editor could show as attention maps; only this recording mode ever builds an
attention map, everything else goes through `scaled_dot_product_attention`.

When a video UNet runs its spatial layers on chunks of rows (`frame_chunks`), `window` says which rows of
the full batch the current call holds: masks and token bindings are laid out over all rows, and each chunk
reads its slice (and a recording is assembled back to all rows).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .frame_chunks import RowState

_EPS = 1e-12


@dataclass
class RegionState(RowState):
    """What every installed processor reads; see the module docstring for the shapes."""

    masks: torch.Tensor | None = None
    token_regions: torch.Tensor | None = None
    ip_regions: list[list[int]] | None = None
    record: dict[str, torch.Tensor] | None = None
    window: tuple[int, int, int] | None = None  # (start, stop, total rows) while a chunk of rows runs
    _pooled: dict[tuple[int, int, int, str, str], torch.Tensor] = field(default_factory=dict, repr=False)

    def span(self, batch: int) -> tuple[int, int, int]:
        """(start, stop, total) of the rows a call with `batch` rows holds."""
        if self.window is None:
            return 0, batch, batch
        start, stop, total = self.window
        if stop - start != batch:
            raise ValueError(f"a chunk of rows {start}-{stop} reached a layer with a batch of {batch}")
        return self.window

    def set(
        self,
        masks: torch.Tensor | None,
        token_regions: torch.Tensor | None = None,
        ip_regions: list[list[int]] | None = None,
    ) -> None:
        if masks is not None:
            if masks.ndim != 4:
                raise ValueError(f"masks must be [rows, regions, H, W], got shape {tuple(masks.shape)}")
            if token_regions is not None and token_regions.shape[0] != masks.shape[0]:
                raise ValueError("token_regions needs one row per mask row")
            if token_regions is not None and int(token_regions.max()) >= masks.shape[1]:
                raise ValueError("token_regions names a region that has no mask")
        self.masks = masks
        self.token_regions = token_regions
        self.ip_regions = ip_regions
        self._pooled.clear()

    def clear(self) -> None:
        self.set(None)

    def layer_masks(self, num_queries: int, batch: int, like: torch.Tensor) -> torch.Tensor:
        """Masks at a layer's resolution: `[batch, regions, num_queries]`, tiled over the full batch and cut
        to the rows of the current window."""
        assert self.masks is not None
        start, stop, total = self.span(batch)
        key = (num_queries, total, like.shape[-1], str(like.dtype), str(like.device))
        pooled = self._pooled.get(key)
        if pooled is None:
            rows, regions, height, width = self.masks.shape
            h, w = layer_size(height, width, num_queries)
            pooled = F.adaptive_avg_pool2d(self.masks.float(), (h, w)).reshape(rows, regions, h * w)
            if total % rows:
                raise ValueError(f"masks have {rows} rows, which does not divide the attention batch of {total}")
            pooled = pooled.repeat(total // rows, 1, 1).to(device=like.device, dtype=like.dtype)
            self._pooled[key] = pooled
        return pooled[start:stop]

    def token_rows(self, batch: int, device: torch.device) -> torch.Tensor:
        """`[batch, tokens]` token regions for the rows of the current window."""
        assert self.token_regions is not None
        start, stop, total = self.span(batch)
        rows = self.token_regions.shape[0]
        if total % rows:
            raise ValueError(f"token_regions have {rows} rows, which does not divide the attention batch of {total}")
        return self.token_regions.to(device).long().repeat(total // rows, 1)[start:stop]

    def keep_record(self, name: str, probs: torch.Tensor) -> None:
        """Store a layer's probabilities `[batch, queries, tokens]` at their rows of the full batch."""
        assert self.record is not None
        start, stop, total = self.span(probs.shape[0])
        if (start, stop) == (0, total):
            self.record[name] = probs
            return
        full = self.record.get(name)
        if full is None or full.shape[0] != total or full.shape[1:] != probs.shape[1:]:
            full = self.record[name] = torch.zeros((total, *probs.shape[1:]), dtype=probs.dtype)
        full[start:stop] = probs


def layer_size(height: int, width: int, num_queries: int) -> tuple[int, int]:
    """The (h, w) of a UNet layer with `num_queries` positions, for a latent of height x width."""
    for k in range(8):
        h, w = math.ceil(height / 2**k), math.ceil(width / 2**k)
        if h * w == num_queries:
            return h, w
    raise ValueError(
        f"masks of {height}x{width} do not match a layer with {num_queries} positions; give masks at latent size"
    )


class RegionAttnProcessor(nn.Module):
    """Cross-attention with box-bound tokens and box-masked IP-Adapter images; see the module docstring.

    Holds the IP-Adapter projections (`to_k_ip`, `to_v_ip`) taken over from diffusers' IP-Adapter
    processor, so the weights `load_ip_adapter` loaded are the ones used.
    """

    def __init__(self, name: str, state: RegionState, ip: nn.Module | None = None):
        super().__init__()
        self.name = name
        self.state = state
        if ip is not None:
            self.to_k_ip = ip.to_k_ip
            self.to_v_ip = ip.to_v_ip
            self.scale = list(ip.scale)
            self.num_tokens = list(ip.num_tokens)
        else:
            self.to_k_ip = None
            self.to_v_ip = None
            self.scale = []
            self.num_tokens = []

    def __call__(
        self,
        attn: Any,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | tuple | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> torch.Tensor:
        residual = hidden_states
        ip_states: list[torch.Tensor] = []
        if isinstance(encoder_hidden_states, tuple):
            encoder_hidden_states, ip_states = encoder_hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            b, c, hh, ww = hidden_states.shape
            hidden_states = hidden_states.view(b, c, hh * ww).transpose(1, 2)
        batch, num_queries, _ = hidden_states.shape
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)

        # 1. project
        query = attn.to_q(hidden_states)
        if encoder_hidden_states is not None and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        key, value = attn.to_k(context), attn.to_v(context)
        heads = attn.heads
        head_dim = key.shape[-1] // heads
        query = query.view(batch, -1, heads, head_dim).transpose(1, 2)
        key = key.view(batch, -1, heads, head_dim).transpose(1, 2)
        value = value.view(batch, -1, heads, head_dim).transpose(1, 2)

        # 2. bias: padding mask from the pipeline, plus the box binding of tokens
        bias = None
        if attention_mask is not None:
            bias = attn.prepare_attention_mask(attention_mask, key.shape[2], batch)
            bias = bias.view(batch, heads, -1, bias.shape[-1])
        state = self.state
        masked = state.masks is not None and encoder_hidden_states is not None
        if masked and state.token_regions is not None:
            token_bias = self._token_bias(batch, num_queries, key.shape[2], query)
            bias = token_bias if bias is None else bias + token_bias

        # 3. attend
        if state.record is not None and encoder_hidden_states is not None:
            scores = query @ key.transpose(-1, -2) * attn.scale
            if bias is not None:
                scores = scores + bias
            probs = scores.softmax(dim=-1)
            state.keep_record(self.name, probs.mean(dim=1).detach().float().cpu())
            out = probs @ value
        else:
            out = F.scaled_dot_product_attention(query, key, value, attn_mask=bias, dropout_p=0.0, is_causal=False)
        out = out.transpose(1, 2).reshape(batch, -1, heads * head_dim).to(query.dtype)

        # 4. IP-Adapter images, each inside its region
        if self.to_k_ip is not None and ip_states:
            out = out + self._ip_attention(query, ip_states, batch, num_queries, heads, head_dim)

        # 5. output projection
        out = attn.to_out[1](attn.to_out[0](out))
        if input_ndim == 4:
            out = out.transpose(-1, -2).reshape(b, c, hh, ww)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor

    def _token_bias(self, batch: int, num_queries: int, num_tokens: int, like: torch.Tensor) -> torch.Tensor:
        state = self.state
        regions = state.token_regions
        assert regions is not None
        if regions.shape[1] != num_tokens:
            raise ValueError(f"token_regions has {regions.shape[1]} tokens, the prompt has {num_tokens}")
        masks = state.layer_masks(num_queries, batch, like)  # [batch, regions, queries]
        idx = state.token_rows(batch, like.device) + 1  # 0 = free token
        free = torch.ones_like(masks[:, :1])
        per_token = torch.cat([free, masks], dim=1).gather(1, idx[:, :, None].expand(-1, -1, num_queries))
        return per_token.clamp_min(_EPS).log().transpose(1, 2)[:, None]  # [batch, 1, queries, tokens]

    def _ip_attention(
        self, query: torch.Tensor, ip_states: list[torch.Tensor], batch: int, num_queries: int, heads: int, head_dim: int
    ) -> torch.Tensor:
        state = self.state
        total = torch.zeros(batch, num_queries, heads * head_dim, dtype=query.dtype, device=query.device)
        masks = state.layer_masks(num_queries, batch, query) if state.masks is not None else None
        for a, (ip, scale, to_k, to_v) in enumerate(zip(ip_states, self.scale, self.to_k_ip, self.to_v_ip)):
            if ip.ndim == 3:  # [batch, tokens, dim]: one image
                ip = ip[:, None]
            regions = (state.ip_regions[a] if state.ip_regions and a < len(state.ip_regions) else None) or []
            scales = scale if isinstance(scale, list) else [scale] * ip.shape[1]
            for i in range(ip.shape[1]):
                if scales[i] == 0:
                    continue
                k = to_k(ip[:, i]).view(batch, -1, heads, head_dim).transpose(1, 2)
                v = to_v(ip[:, i]).view(batch, -1, heads, head_dim).transpose(1, 2)
                o = F.scaled_dot_product_attention(query, k, v, dropout_p=0.0, is_causal=False)
                o = o.transpose(1, 2).reshape(batch, -1, heads * head_dim).to(query.dtype)
                region = regions[i] if i < len(regions) else -1
                if region >= 0 and masks is not None:
                    o = o * masks[:, region, :, None]
                total = total + scales[i] * o
        return total


# -- installing ----------------------------------------------------------------------------------------------


def _is_ip_processor(proc: Any) -> bool:
    return hasattr(proc, "to_k_ip") and hasattr(proc, "to_v_ip") and not isinstance(proc, RegionAttnProcessor)


def install(unet: nn.Module, state: RegionState | None = None) -> RegionState:
    """Put a `RegionAttnProcessor` on every spatial cross-attention layer of `unet`; returns the shared state.

    Call it after `load_ip_adapter` so the adapter's projections are taken over. Self-attention and motion
    modules keep their processors. Calling it again re-uses the installed processors' state.
    """
    procs = dict(unet.attn_processors)
    existing = next((p.state for p in procs.values() if isinstance(p, RegionAttnProcessor)), None)
    state = state or existing or RegionState()
    for name, proc in procs.items():
        cross = name.endswith("attn2.processor") and "motion_modules" not in name and "temporal" not in name
        if not cross:
            continue
        if isinstance(proc, RegionAttnProcessor):
            proc.state = state
            continue
        procs[name] = RegionAttnProcessor(name, state, proc if _is_ip_processor(proc) else None)
    unet.set_attn_processor(procs)
    return state


def set_ip_scale(unet: nn.Module, scale: float | list[float]) -> None:
    """The IP-Adapter weight on every installed processor (diffusers' `set_ip_adapter_scale` equivalent):
    one weight for all reference images, or a list with one weight per image (e.g. per entity kind)."""
    for proc in unet.attn_processors.values():
        if isinstance(proc, RegionAttnProcessor) and proc.to_k_ip is not None:
            proc.scale = [scale] * len(proc.scale)


# -- building the inputs -------------------------------------------------------------------------------------


def box_mask(box: Sequence[float], height: int, width: int, feather: float = 0.0) -> torch.Tensor:
    """A `[height, width]` mask of a normalized box: 1 inside, 0 outside, with a linear ramp of `feather`
    (a fraction of the frame) outside the edges when feather > 0."""
    x0, y0, x1, y1 = (float(v) for v in box)
    ys = (torch.arange(height, dtype=torch.float32) + 0.5) / height
    xs = (torch.arange(width, dtype=torch.float32) + 0.5) / width
    if feather <= 0:
        my = ((ys >= y0) & (ys <= y1)).float()
        mx = ((xs >= x0) & (xs <= x1)).float()
    else:
        my = (1 - torch.clamp(torch.maximum(y0 - ys, ys - y1) / feather, 0, 1)).clamp(0, 1)
        mx = (1 - torch.clamp(torch.maximum(x0 - xs, xs - x1) / feather, 0, 1)).clamp(0, 1)
    mask = my[:, None] * mx[None, :]
    if mask.sum() == 0:  # a box smaller than one latent cell still covers the cell it sits in
        cy = min(int((y0 + y1) / 2 * height), height - 1)
        cx = min(int((x0 + x1) / 2 * width), width - 1)
        mask[cy, cx] = 1.0
    return mask


def box_masks(boxes: Sequence[Sequence[Sequence[float]]], height: int, width: int, feather: float = 0.0) -> torch.Tensor:
    """`boxes[row][region]` -> masks `[rows, regions, height, width]` (rows = frames for a video)."""
    return torch.stack([torch.stack([box_mask(b, height, width, feather) for b in row]) for row in boxes])


def bind_tokens(tokenizer: Any, segments: Sequence[tuple[str, int]], max_length: int | None = None) -> tuple[str, list[int]]:
    """Join prompt `segments` of (text, region or -1) and say which region each token of the result is bound to.

    Returns the prompt and one region index per token position (length `max_length`, padded with -1; the
    first position is the start token). CLIP's tokenizer splits words independently, so tokenizing the
    segments one by one gives the same tokens as the joined prompt.
    """
    max_length = max_length or tokenizer.model_max_length
    regions = [-1]  # start token
    texts = []
    for text, region in segments:
        text = text.strip()
        if not text:
            continue
        texts.append(text)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        regions.extend([region] * len(ids))
    regions = regions[: max_length - 1]
    regions += [-1] * (max_length - len(regions))
    return " ".join(texts), regions
