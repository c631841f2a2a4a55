"""layout-video's attention: regional prompting, box modulation and cross-frame attention, per frame, bounded.

Every spatial attention layer of the AnimateDiff UNet gets a processor reading one shared
`VideoAttentionState`:

- cross-attention (`RegionalCrossAttnProcessor`), regional prompting: each row's text is the scene's
  block of 77 tokens (the background text of its frame), and each foreground entity has its own block
  (its description plus the style; the same on every frame, held by the layout). One softmax runs over
  all blocks: the scene block acts everywhere; entity i's block only inside i's box on the row's frame
  (a log-mask bias: 0 outside, fading over the soft edge). Its words, its end-of-text token and its
  padding alike, so nothing of one entity reaches another's region. CLIP's start token is the same in
  every block, so only the scene's copy stays. IP-Adapter images add inside their entity's box.
  The softmax over all blocks is computed block by block and merged through the blocks' log-sum-exps
  (`regional_attention`): an entity's block is scored only at the queries inside its box, so its cost is
  its box's share of the frame, not the whole frame.
- self-attention (`FrameSelfAttnProcessor`): cross-frame attention (FlowZero, after Text2Video-Zero) lets
  each frame also attend to frame 0's, and optionally the previous frame's, keys and values.
- modulation (DenseDiffusion-style), in the first steps: an entity's tokens weigh `cross_factor` times more
  inside its box (and stay masked outside); in self-attention a position prefers keys of its own segment
  (its box, or the background) so that under uniform attention it would put `self_factor : 1` of its
  attention there (the bias is `log(self_factor / segment area)`, stronger for small boxes, as DenseDiffusion
  scales by size).

No attention map and no bias matrix is ever built, except in record mode for tests: self-modulation's bias is
low-rank (a sum over segments of f(query) * g(key)), so it rides on extra head dimensions
(`biased_attention`); the regional masks are per-block log-weights of `regional_attention`.

Rows: a UNet call holds `halves x frames` rows (the negative-prompt half first with guidance), declared with
`state.call(frames, halves)`; `frame_chunks` runs the spatial layers on row slices (`state.rows`), and each
processor reads its rows' frames. Frame 0's keys and values are kept per layer during a pass (windows and
chunks run in frame order, frame 0 first), so a chunk or window without frame 0 still attends to it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .attention import layer_size
from .frame_chunks import RowState

LOG_EPS = math.log(1e-12)  # the bias that masks a key: e^-27.6, nothing left of it after the softmax
CROSS_FRAME = ("off", "first", "first+previous")


@dataclass
class SceneLayout:
    """One scene's boxes and token layout, for every frame."""

    masks: torch.Tensor  # [frames, entities, H, W] soft boxes at latent size
    entity_text: torch.Tensor | None = None  # [entities, group_tokens, dim] each entity's own text, every frame
    group_tokens: int = 77  # tokens per text block (CLIP's window)
    ip_regions: Sequence[Sequence[int]] = ()  # per IP-Adapter, the entity of each image (-1 = everywhere)

    @property
    def entities(self) -> int:
        return int(self.masks.shape[1])

    @property
    def frames(self) -> int:
        return int(self.masks.shape[0])


@dataclass
class GuidanceTap:
    """What a box-guidance pass collects: for the watched layers, each entity's attention map per row."""

    layers: frozenset[str]
    spans: Sequence[tuple[int, int]]  # each entity's token positions in the (single-block) guidance prompt
    collect: Callable[[str, torch.Tensor, torch.Tensor], None]  # (layer, rows' frames, maps [rows, entities, Q])


class VideoAttentionState(RowState):
    """What every installed processor reads; set by the generator per scene, per step and per UNet call."""

    def __init__(self) -> None:
        self.layout: SceneLayout | None = None
        self.row_frames: torch.Tensor | None = None  # [rows] frame of each row of the current UNet call
        self.row_prompt: torch.Tensor | None = None  # [rows] True for prompt rows, False for negative rows
        self.window: tuple[int, int, int] | None = None  # (start, stop, total rows) while a chunk runs
        self.cross_factor = 1.0  # this step's modulation, 1 = none
        self.self_factor = 1.0
        self.cross_frame = "off"
        self.keep: set[int] = {0}  # frames whose keys/values later calls of this pass need
        self.record: dict[str, Any] | None = None  # tests: attention probabilities per layer
        self.record_self = False  # also record self-attention's keys and their frames
        self.record_self_probs = False  # and its probabilities
        self.record_heads = False  # record each head's probabilities, not their mean
        self.tap: GuidanceTap | None = None
        self._kv: dict[str, dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]]] = {}
        self._pooled: dict[tuple[Any, ...], Any] = {}

    # -- per scene, per step, per call -------------------------------------------------------------------

    def set_layout(self, layout: SceneLayout | None) -> None:
        self.layout = layout
        self._pooled.clear()
        self._kv.clear()

    def new_pass(self) -> None:
        """A new sweep over the frames (a denoising step): forget the previous sweep's keys and values."""
        self._kv.clear()

    @contextmanager
    def call(self, frames: Sequence[int], halves: int, keep: Iterable[int] = ()) -> Iterator[None]:
        """A UNet call on `frames` (ascending), `halves` = 2 with [negative, prompt] rows, 1 with prompt rows;
        `keep`: frames whose keys/values a later call of the same pass attends to (the previous frame)."""
        index = torch.as_tensor(list(frames), dtype=torch.long)
        self.row_frames = index.repeat(halves)
        self.row_prompt = torch.arange(halves * len(index)) >= (halves - 1) * len(index)
        self.keep = {0, *keep}
        try:
            yield
        finally:
            self.row_frames = self.row_prompt = None

    @contextmanager
    def guidance(self, tap: GuidanceTap) -> Iterator[None]:
        """A box-guidance pass: plain attention with the entity maps tapped; no modulation, no cross-frame."""
        saved = (self.cross_factor, self.self_factor, self.cross_frame)
        self.tap, self.cross_factor, self.self_factor, self.cross_frame = tap, 1.0, 1.0, "off"
        try:
            yield
        finally:
            self.tap = None
            self.cross_factor, self.self_factor, self.cross_frame = saved

    # -- what a chunk reads ----------------------------------------------------------------------------------

    def chunk(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(frame, is-prompt) of each of the `batch` rows the current call holds."""
        if self.row_frames is None or self.row_prompt is None:
            raise ValueError("layout-video attention ran outside a declared UNet call (state.call)")
        start, stop, total = self.window if self.window is not None else (0, batch, batch)
        if total != self.row_frames.shape[0] or stop - start != batch:
            raise ValueError(f"a batch of {batch} rows does not fit the call's {self.row_frames.shape[0]} rows")
        return self.row_frames[start:stop], self.row_prompt[start:stop]

    def pooled(self, num_queries: int, like: torch.Tensor) -> torch.Tensor:
        """[frames, entities, Q]: the boxes area-averaged to a layer's resolution."""
        assert self.layout is not None
        key = ("boxes", num_queries, str(like.dtype), str(like.device))
        if key not in self._pooled:
            masks = self.layout.masks
            f, e, height, width = masks.shape
            h, w = layer_size(height, width, num_queries)
            pooled = F.adaptive_avg_pool2d(masks.float(), (h, w)).reshape(f, e, h * w)
            self._pooled[key] = pooled.to(device=like.device, dtype=like.dtype)
        return self._pooled[key]

    def segments(self, num_queries: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """([frames, entities + 1, Q] segment masks, the entities then the background, and [frames, entities + 1]
        the self-modulation weight log(self_factor / area) of each segment on each frame, at least 0)."""
        key = ("segments", num_queries, str(like.dtype), str(like.device))
        if key not in self._pooled:
            boxes = self.pooled(num_queries, like).float()
            background = (1 - boxes).prod(dim=1, keepdim=True)
            self._pooled[key] = torch.cat([boxes, background], dim=1).to(like.dtype)
        seg = self._pooled[key]
        area = seg.float().mean(dim=-1).clamp_min(1e-4)
        weight = (math.log(self.self_factor) - area.log()).clamp_min(0.0)
        return seg, weight.to(like.dtype)

    def selection(self, batch: int, num_queries: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Where each entity's block is attended in the current chunk: ([entities, n] indices into the chunk's
        `batch x num_queries` (row, query) positions, [entities, n] the block's log-weight there), the prompt
        rows' positions inside the entity's box (weight above e^-27.6), padded with weight -inf to the
        largest count. The log-weight is log(box) + log(cross_factor) * box: the mask and the modulation."""
        frames, prompt = self.chunk(batch)
        key = ("selection", num_queries, tuple(frames.tolist()), tuple(prompt.tolist()), self.cross_factor,
               str(like.device))  # fmt: skip
        if key not in self._pooled:
            dev = like.device
            boxes = self.pooled(num_queries, like).float()[frames.to(dev)].transpose(0, 1)  # [entities, batch, Q]
            boxes = boxes * prompt.to(dev)[None, :, None]  # negative rows never see an entity's block
            weight = (boxes.clamp_min(1e-30).log() + boxes * math.log(self.cross_factor)).flatten(1)
            live = weight > LOG_EPS
            count = int(live.sum(dim=1).max())
            index = torch.argsort(live.to(torch.uint8), dim=1, descending=True, stable=True)[:, :count]
            weight = weight.gather(1, index).masked_fill(~live.gather(1, index), -math.inf)
            self._pooled[key] = (index, weight)
        return self._pooled[key]

    def entity_kv(self, layer: str, attn: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """[entities, heads, group - 1, head dim] keys and values of each entity's block without its start token,
        projected once per scene and layer (the texts are the same on every frame and step)."""
        assert self.layout is not None and self.layout.entity_text is not None
        key = ("entity_kv", layer)
        if key not in self._pooled:
            text = self.layout.entity_text[:, 1:]
            if attn.norm_cross:
                text = attn.norm_encoder_hidden_states(text)
            e, n, _ = text.shape
            with torch.no_grad():
                k = attn.to_k(text).view(e, n, attn.heads, -1).transpose(1, 2)
                v = attn.to_v(text).view(e, n, attn.heads, -1).transpose(1, 2)
            self._pooled[key] = (k, v)
        return self._pooled[key]

    # -- cross-frame keys and values -------------------------------------------------------------------------

    def frame_kv(self, layer: str, half: int, frame: int) -> tuple[torch.Tensor, torch.Tensor]:
        try:
            return self._kv[layer][(half, frame)]
        except KeyError:
            raise ValueError(f"{layer}: no keys of frame {frame} in this pass (calls must run in frame order)") from None

    def keep_kv(self, layer: str, half: int, frame: int, k: torch.Tensor, v: torch.Tensor, oldest: int) -> None:
        """Hold a row's keys/values for later chunks and calls; drop those of its half that no later row
        needs (frame 0, the `keep` frames and frames from `oldest` on stay)."""
        store = self._kv.setdefault(layer, {})
        store[(half, frame)] = (k, v)
        stale = [key for key in store if key[0] == half and 0 != key[1] < oldest and key[1] not in self.keep]
        for key in stale:
            del store[key]

    # -- records (tests) ------------------------------------------------------------------------------------

    def keep_record(self, name: str, frames: torch.Tensor, prompt: torch.Tensor, value: torch.Tensor) -> None:
        """Store per-row `value` at [half, frame] of a [2, frames, ...] record (half 1 = prompt rows)."""
        assert self.record is not None
        num_frames = self.layout.frames if self.layout is not None else int(frames.max()) + 1
        full = self.record.get(name)
        if full is None or full.shape[1:] != (num_frames, *value.shape[1:]):
            full = self.record[name] = torch.zeros((2, num_frames, *value.shape[1:]), dtype=value.dtype)
        full[prompt.long(), frames] = value.detach().to(full.dtype).cpu()


def biased_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    scale: float,
    q_feats: torch.Tensor | None = None,
    k_feats: torch.Tensor | None = None,
) -> torch.Tensor:
    """softmax(scale * q k^T + q_feats k_feats^T) v for [batch, heads, n, d] tensors, with the low-rank bias
    carried by extra head dimensions (`q_feats / scale` appended to q, `k_feats` to k, zeros to v), so any
    fused kernel runs it and no [queries, keys] bias is built. Features are [batch, 1 or heads, n, r]."""
    if q_feats is None or k_feats is None:
        return F.scaled_dot_product_attention(q, k, v, scale=scale)
    b, heads, _, d = q.shape
    r = q_feats.shape[-1]
    pad = -(d + r) % 8  # fused kernels like head sizes in multiples of 8
    qf = (q_feats / scale).to(q.dtype).expand(b, heads, -1, -1)
    kf = k_feats.to(k.dtype).expand(b, heads, -1, -1)
    q2 = F.pad(torch.cat([q, qf], dim=-1), (0, pad))
    k2 = F.pad(torch.cat([k, kf], dim=-1), (0, pad))
    v2 = F.pad(v, (0, r + pad))  # the same head size for q, k and v: every backend takes it
    return F.scaled_dot_product_attention(q2, k2, v2, scale=scale)[..., :d]


def regional_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    entity_k: torch.Tensor,
    entity_v: torch.Tensor,
    scale: float,
    index: torch.Tensor,
    weight: torch.Tensor,
) -> torch.Tensor:
    """One softmax over each row's block ([batch, heads, n, d] `k`, `v`) and the entities' blocks
    ([entities, heads, m, d], shared by the rows), entity e's keys biased by `weight[e, j]` at query position
    `index[e, j]` (of the flattened batch x queries) and absent elsewhere; [batch, heads, queries, d].

    Exact, computed block by block: out = sum_b exp(L_b - L) o_b over the blocks b a query sees, with o_b
    the block's own softmax output, L_b its log-sum-exp (plus the bias) and L = logsumexp_b L_b. The
    entity blocks are scored only at their positions, so they cost their boxes' share of the frame."""
    batch, heads, num_queries, d = q.shape
    out_row, lse_row = _softmax_attention(q, k, v, scale)
    if index.numel() == 0:
        return out_row
    flat = lambda x: x.permute(0, 2, 1, *range(3, x.ndim)).flatten(0, 1)  # noqa: E731  [batch x Q, heads, ...]
    entities, count = index.shape
    picked = index.flatten()
    qe = flat(q)[picked].view(entities, count, heads, d).transpose(1, 2)  # [entities, heads, count, d]
    out_e, lse_e = _softmax_attention(qe, entity_k, entity_v, scale)
    lse_e = lse_e + weight[:, None]  # [entities, heads, count]
    lse_e = lse_e.transpose(1, 2).flatten(0, 1)  # [entities x count, heads]
    out_e = out_e.transpose(1, 2).flatten(0, 1)  # [entities x count, heads, d]
    # L = M + log(sum_b exp(L_b - M)), M the largest L_b of each query: no overflow at any scale
    top = flat(lse_row).scatter_reduce(0, picked[:, None].expand_as(lse_e), lse_e, "amax")  # [batch x Q, heads]
    total = (flat(lse_row) - top).exp().index_add(0, picked, (lse_e - top[picked]).exp())
    log_total = top + total.log()
    out = flat(out_row) * (flat(lse_row) - log_total).exp()[..., None].to(v.dtype)
    out = out.index_add(0, picked, out_e * (lse_e - log_total[picked]).exp()[..., None].to(v.dtype))
    return out.view(batch, num_queries, heads, d).transpose(1, 2)


def _softmax_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float):
    """(softmax(scale * q k^T) v, the scores' log-sum-exp [..., queries] in float32), one exp per score."""
    scores = (q @ k.transpose(-1, -2)).float() * scale
    top = scores.amax(dim=-1, keepdim=True)
    weights = (scores - top).exp_()
    total = weights.sum(dim=-1, keepdim=True)
    out = (weights.to(v.dtype) @ v) / total.to(v.dtype)
    return out, (top + total.log()).squeeze(-1)


def _explicit(q, k, v, scale, q_feats=None, k_feats=None, heads=False) -> tuple[torch.Tensor, torch.Tensor]:
    """The same attention with the probabilities built (record mode only): (output, probs, mean over heads
    unless `heads`)."""
    scores = (q @ k.transpose(-1, -2)) * scale
    if q_feats is not None and k_feats is not None:
        scores = scores + q_feats @ k_feats.transpose(-1, -2)
    probs = scores.softmax(dim=-1)
    return probs @ v, probs if heads else probs.mean(dim=1)


class _Processor(nn.Module):
    def __init__(self, name: str, state: VideoAttentionState):
        super().__init__()
        self.name = name
        self.state = state

    @staticmethod
    def _prelude(attn: Any, hidden_states: torch.Tensor, temb: torch.Tensor | None):
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        shape = hidden_states.shape if hidden_states.ndim == 4 else None
        if shape is not None:
            b, c, hh, ww = shape
            hidden_states = hidden_states.view(b, c, hh * ww).transpose(1, 2)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        return hidden_states, shape

    @staticmethod
    def _heads(attn: Any, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, attn.heads, -1).transpose(1, 2)

    @staticmethod
    def _finish(attn: Any, out: torch.Tensor, residual: torch.Tensor, shape) -> torch.Tensor:
        out = attn.to_out[1](attn.to_out[0](out))
        if shape is not None:
            out = out.transpose(-1, -2).reshape(shape)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


class RegionalCrossAttnProcessor(_Processor):
    """Regional prompting and masked IP-Adapter in a spatial cross-attention layer; see the module docstring.

    Holds the IP-Adapter projections taken over from diffusers' IP-Adapter processor (`to_k_ip`, `to_v_ip`),
    so the weights `load_ip_adapter` loaded are the ones used."""

    def __init__(self, name: str, state: VideoAttentionState, ip: nn.Module | None = None):
        super().__init__(name, state)
        self.to_k_ip = ip.to_k_ip if ip is not None else None
        self.to_v_ip = ip.to_v_ip if ip is not None else None
        self.scale = list(ip.scale) if ip is not None else []
        self.num_tokens = list(ip.num_tokens) if ip is not None else []

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args, **kwargs):
        if attention_mask is not None:
            raise ValueError("layout-video's cross-attention takes no attention mask")
        residual = hidden_states
        text, ip_states = encoder_hidden_states if isinstance(encoder_hidden_states, tuple) else (encoder_hidden_states, [])
        hidden_states, shape = self._prelude(attn, hidden_states, temb)
        if attn.norm_cross:
            text = attn.norm_encoder_hidden_states(text)
        q = self._heads(attn, attn.to_q(hidden_states))
        k, v = self._heads(attn, attn.to_k(text)), self._heads(attn, attn.to_v(text))
        batch, _, num_queries, head_dim = q.shape
        state = self.state
        bound = state.layout is not None and state.row_frames is not None
        regional = bound and state.tap is None and state.layout.entities > 0

        # 1. attend: regional prompting, or plain attention with the entity maps tapped (box guidance)
        if state.tap is not None and self.name in state.tap.layers:
            out, probs = _explicit(q, k, v, attn.scale)
            maps = torch.stack([probs[:, :, a:b].sum(-1) for a, b in state.tap.spans], dim=1)
            state.tap.collect(self.name, state.chunk(batch)[0], maps)
        elif state.record is not None and bound:  # tests: the same softmax over every block, written out
            q_feats = k_feats = None
            if regional:
                k, v = self._all_blocks(attn, k, v)
                q_feats, k_feats = self._region_features(batch, num_queries, k.shape[2], q)
            out, probs = _explicit(q, k, v, attn.scale, q_feats, k_feats, state.record_heads)
            state.keep_record(self.name, *state.chunk(batch), probs)
        elif regional:
            entity_k, entity_v = state.entity_kv(self.name, attn)
            index, weight = state.selection(batch, num_queries, q)
            out = regional_attention(q, k, v, entity_k, entity_v, attn.scale, index, weight)
        else:
            out = F.scaled_dot_product_attention(q, k, v, scale=attn.scale)
        out = out.transpose(1, 2).reshape(batch, num_queries, -1).to(q.dtype)

        # 2. IP-Adapter images, each inside its entity's box
        if self.to_k_ip is not None and ip_states:
            out = out + self._ip_attention(q, ip_states, bound)
        return self._finish(attn, out, residual, shape)

    def _all_blocks(self, attn: Any, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each row's keys/values followed by every entity's block (its start token included, to be masked)."""
        text = self.state.layout.entity_text
        if attn.norm_cross:
            text = attn.norm_encoder_hidden_states(text)
        blocks = lambda proj: self._heads(attn, proj(text.flatten(0, 1)[None])).expand(k.shape[0], -1, -1, -1)  # noqa: E731
        return torch.cat([k, blocks(attn.to_k)], dim=2), torch.cat([v, blocks(attn.to_v)], dim=2)

    def _region_features(self, batch: int, num_queries: int, num_keys: int, like: torch.Tensor):
        """Query/key features of the regional bias: entity e's block (all but its start token) gets
        log(box) + log(cross_factor) * box on prompt rows and is masked on negative rows; the entity blocks'
        start tokens are always masked (the scene block keeps CLIP's one start token)."""
        state, layout = self.state, self.state.layout
        entities, group = layout.entities, layout.group_tokens
        if num_keys != (entities + 1) * group:
            raise ValueError(f"{self.name}: {num_keys} text tokens, expected {entities + 1} blocks of {group}")
        frames, prompt = state.chunk(batch)
        boxes = state.pooled(num_queries, like).float()[frames.to(like.device)]  # [batch, entities, Q]
        bias = boxes.clamp_min(1e-12).log() + boxes * math.log(state.cross_factor)
        bias = bias.masked_fill(~prompt.to(like.device)[:, None, None], LOG_EPS).clamp_min(LOG_EPS)
        dead = torch.full_like(bias[:, :1], LOG_EPS)
        q_feats = torch.cat([bias, dead], dim=1).transpose(1, 2)[:, None]  # [batch, 1, Q, entities + 1]
        k_feats = torch.zeros(num_keys, entities + 1, device=like.device)
        for e in range(entities):
            start = (e + 1) * group
            k_feats[start + 1 : start + group, e] = 1.0
            k_feats[start, entities] = 1.0
        return q_feats.to(like.dtype), k_feats[None, None].to(like.dtype)

    def _ip_attention(self, q: torch.Tensor, ip_states: list[torch.Tensor], bound: bool) -> torch.Tensor:
        state = self.state
        batch, heads, num_queries, head_dim = q.shape
        total = torch.zeros(batch, num_queries, heads * head_dim, dtype=q.dtype, device=q.device)
        boxes = None
        if bound and state.layout.entities:
            frames, _ = state.chunk(batch)
            boxes = state.pooled(num_queries, q)[frames.to(q.device)]  # [batch, entities, Q]
        ip_regions = state.layout.ip_regions if bound else ()
        for a, (ip, scale, to_k, to_v) in enumerate(zip(ip_states, self.scale, self.to_k_ip, self.to_v_ip)):
            if ip.ndim == 3:  # [batch, tokens, dim]: one image
                ip = ip[:, None]
            regions = list(ip_regions[a]) if a < len(ip_regions) else []
            scales = scale if isinstance(scale, list) else [scale] * ip.shape[1]
            used = [i for i in range(ip.shape[1]) if scales[i] != 0]
            if not used:
                continue
            # every image its own softmax over its tokens, weighted by its scale and its entity's box
            images = ip[:, used]  # [batch, images, tokens, dim]
            n, tokens = images.shape[1], images.shape[2]
            k = to_k(images.flatten(1, 2)).view(batch, n * tokens, heads, head_dim).transpose(1, 2)  # [b, h, n t, d]
            v = to_v(images.flatten(1, 2)).view(batch, n * tokens, heads, head_dim).transpose(1, 2)
            scores = ((q @ k.transpose(-1, -2)) * head_dim**-0.5).unflatten(-1, (n, tokens))  # [b, h, Q, n, t]
            weight = torch.ones(batch, num_queries, n, dtype=q.dtype, device=q.device)
            for j, i in enumerate(used):
                region = regions[i] if i < len(regions) else -1
                if region >= 0 and boxes is not None:
                    weight[:, :, j] = boxes[:, region]
                weight[:, :, j] *= scales[i]
            probs = scores.softmax(dim=-1) * weight[:, None, :, :, None]
            o = probs.flatten(-2) @ v  # [b, h, Q, d]: the images summed
            total = total + o.transpose(1, 2).reshape(batch, num_queries, -1).to(q.dtype)
        return total


class FrameSelfAttnProcessor(_Processor):
    """Spatial self-attention with cross-frame keys/values and segment modulation; see the module docstring."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args, **kwargs):
        if attention_mask is not None or encoder_hidden_states is not None:
            raise ValueError("layout-video's self-attention takes no mask and no context")
        residual = hidden_states
        hidden_states, shape = self._prelude(attn, hidden_states, temb)
        q = self._heads(attn, attn.to_q(hidden_states))
        k, v = self._heads(attn, attn.to_k(hidden_states)), self._heads(attn, attn.to_v(hidden_states))
        batch, _, num_queries, _ = q.shape
        state = self.state
        if state.row_frames is None:
            out = F.scaled_dot_product_attention(q, k, v, scale=attn.scale)
            return self._finish(attn, out.transpose(1, 2).reshape(batch, num_queries, -1), residual, shape)
        frames, prompt = state.chunk(batch)

        # 1. keys and values: the row's own, then frame 0's and the previous frame's
        key_frames = [frames]
        if state.cross_frame != "off":
            ks, vs, key_frames = self._cross_frame(k, v, frames, prompt)
            k, v = torch.cat(ks, dim=2), torch.cat(vs, dim=2)

        # 2. modulation: prefer keys of the query's own segment
        q_feats = k_feats = None
        modulated = state.self_factor != 1.0 and state.layout is not None and state.layout.entities
        if modulated:
            seg, weight = state.segments(num_queries, q)  # [frames, segments, Q], [frames, segments]
            dev = q.device
            own = seg[frames.to(dev)] * prompt.to(dev)[:, None, None]  # negative rows are never modulated
            q_feats = own.transpose(1, 2)[:, None]
            k_feats = torch.cat([(seg * weight[..., None])[kf.to(dev)] for kf in key_frames], dim=-1).transpose(1, 2)[:, None]

        # 3. attend
        if state.record is not None and state.record_self:
            state.keep_record(self.name + ":key_frames", frames, prompt, torch.stack(key_frames, dim=1))
            state.keep_record(self.name + ":keys", frames, prompt, k.float())
        if state.record is not None and state.record_self_probs:
            out, probs = _explicit(q, k, v, attn.scale, q_feats, k_feats, state.record_heads)
            state.keep_record(self.name, frames, prompt, probs)
        else:
            out = biased_attention(q, k, v, attn.scale, q_feats, k_feats)
        out = out.transpose(1, 2).reshape(batch, num_queries, -1).to(q.dtype)
        return self._finish(attn, out, residual, shape)

    def _cross_frame(self, k: torch.Tensor, v: torch.Tensor, frames: torch.Tensor, prompt: torch.Tensor):
        """Each row's keys/values, then frame 0's of its half (and the previous frame's), with their frames."""
        state = self.state
        halves = prompt.long().tolist()
        rows = frames.tolist()
        previous = state.cross_frame == "first+previous"
        for r, (half, frame) in enumerate(zip(halves, rows)):  # in order: frame 0 before any row needing it
            last_of_half = r == len(rows) - 1 or halves[r + 1] != half  # the next chunk's previous frame
            if frame == 0 or previous and (frame in state.keep or last_of_half):
                oldest = min(f for h, f in zip(halves, rows) if h == half) - 1
                state.keep_kv(self.name, half, frame, k[r].clone(), v[r].clone(), oldest)  # not the chunk's storage
        first = [state.frame_kv(self.name, h, 0) for h in halves]
        ks, vs = [k, torch.stack([a for a, _ in first])], [v, torch.stack([b for _, b in first])]
        key_frames = [frames, torch.zeros_like(frames)]
        if state.cross_frame == "first+previous":
            prev = []
            for r, (half, frame) in enumerate(zip(halves, rows)):
                want = max(frame - 1, 0)
                if r > 0 and halves[r - 1] == half and rows[r - 1] == want:
                    prev.append((k[r - 1], v[r - 1]))
                else:
                    prev.append(state.frame_kv(self.name, half, want))
            ks.append(torch.stack([a for a, _ in prev]))
            vs.append(torch.stack([b for _, b in prev]))
            key_frames.append((frames - 1).clamp_min(0))
        return ks, vs, key_frames


# -- installing ----------------------------------------------------------------------------------------------


def _is_ip_processor(proc: Any) -> bool:
    return hasattr(proc, "to_k_ip") and hasattr(proc, "to_v_ip") and not isinstance(proc, RegionalCrossAttnProcessor)


def install(unet: nn.Module, state: VideoAttentionState) -> VideoAttentionState:
    """Put the layout-video processors on every spatial attention layer of a motion `unet` (after
    `load_ip_adapter`, whose projections are taken over); motion modules keep theirs."""
    procs = dict(unet.attn_processors)
    for name, proc in procs.items():
        if "motion_modules" in name or "temporal" in name:
            continue
        if isinstance(proc, _Processor):
            proc.state = state
        elif name.endswith("attn2.processor"):
            procs[name] = RegionalCrossAttnProcessor(name, state, proc if _is_ip_processor(proc) else None)
        elif name.endswith("attn1.processor"):
            procs[name] = FrameSelfAttnProcessor(name, state)
    unet.set_attn_processor(procs)
    return state


def set_ip_scale(unet: nn.Module, scale: float | list[float]) -> None:
    """The IP-Adapter weight on every installed cross-attention processor: one for all images, or one each."""
    for proc in unet.attn_processors.values():
        if isinstance(proc, RegionalCrossAttnProcessor) and proc.to_k_ip is not None:
            proc.scale = [scale] * len(proc.scale)
