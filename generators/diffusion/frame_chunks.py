"""Bounded memory for long videos: a video UNet's spatial layers run over the batch rows in chunks.

AnimateDiff's UNet folds frames into the batch: its resnets and spatial transformers see `guidance halves x
frames` rows at once, so their working memory (GroupNorm and conv temporaries, the feed-forward's 8x-wide
activations, q/k/v) grows with the frame count. Each of these layers is independent per row, so running it
on `rows` rows at a time and concatenating gives the same result with memory bounded by the chunk. The
motion modules are not chunked: they mix frames (layout-video bounds them by running the UNet on context
windows, `context_windows`).

Per-row attention state stays right because every chunk tells the shared attention state which rows it
holds (`state.rows(start, stop, total)`): boxes, text blocks and IP-Adapter regions are laid out over all
`total` rows of the call (negative half first, then the prompt half, one row per frame) and each chunk
reads its own slice. The chunked call is installed by wrapping the layers' `forward` in place, so
module names and weights (LoRA targets, IP-Adapter processors) do not change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn


class RowState:
    """What chunks report their rows to (`attention.RegionState`, `video_attention.VideoAttentionState`):
    `window` is (start, stop, total rows) while a chunk runs."""

    window: tuple[int, int, int] | None = None

    @contextmanager
    def rows(self, start: int, stop: int, total: int) -> Iterator[None]:
        """Calls inside see rows [start, stop) of a batch of `total` rows."""
        self.window = (start, stop, total)
        try:
            yield
        finally:
            self.window = None


_ATTR = "_flowdrafter_chunked"


def _slice(value: Any, start: int, stop: int, total: int) -> Any:
    """`value` cut to rows [start, stop) where it is batch-shaped (tensors of `total` rows, also inside the
    (text, [image embeds]) tuples IP-Adapter passes as encoder_hidden_states); anything else unchanged."""
    if isinstance(value, torch.Tensor):
        return value[start:stop] if value.ndim >= 1 and value.shape[0] == total else value
    if isinstance(value, tuple):
        return tuple(_slice(v, start, stop, total) for v in value)
    if isinstance(value, list):
        return [_slice(v, start, stop, total) for v in value]
    return value


def _cat(outputs: list[Any]) -> Any:
    first = outputs[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(outputs)
    if isinstance(first, tuple):
        return tuple(_cat([o[i] for o in outputs]) if isinstance(first[i], torch.Tensor) else first[i] for i in range(len(first)))
    if hasattr(first, "sample"):  # diffusers' Transformer2DModelOutput
        return type(first)(sample=torch.cat([o.sample for o in outputs]))
    raise TypeError(f"cannot join chunked outputs of type {type(first).__name__}")


class _Chunked:
    """The replacement `forward`: the original, called on row chunks inside the state's window."""

    def __init__(self, forward: Callable[..., Any], state: RowState, rows: int):
        self.forward = forward
        self.state = state
        self.rows = rows

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        main = args[0] if args else kwargs.get("hidden_states", kwargs.get("input_tensor"))
        total = main.shape[0]
        step = self.rows if self.rows > 0 else total
        if self.state.window is not None:  # already inside a chunk (nested wrapped layers): run as is
            return self.forward(*args, **kwargs)
        outputs = []
        for start in range(0, total, step):
            stop = min(start + step, total)
            with self.state.rows(start, stop, total):
                outputs.append(self.forward(*_slice(args, start, stop, total), **_slice_kwargs(kwargs, start, stop, total)))
        return outputs[0] if len(outputs) == 1 else _cat(outputs)


def _slice_kwargs(kwargs: dict[str, Any], start: int, stop: int, total: int) -> dict[str, Any]:
    return {k: _slice(v, start, stop, total) for k, v in kwargs.items()}


def spatial_layers(unet: nn.Module) -> list[nn.Module]:
    """The per-row layers of a motion UNet: resnets and spatial transformers of every block (not motion modules)."""
    layers: list[nn.Module] = []
    blocks = [*getattr(unet, "down_blocks", []), getattr(unet, "mid_block", None), *getattr(unet, "up_blocks", [])]
    for block in blocks:
        if block is None:
            continue
        layers += list(getattr(block, "resnets", []) or [])
        layers += list(getattr(block, "attentions", []) or [])
    return layers


def install(unet: nn.Module, state: RowState, rows: int) -> int:
    """Run `unet`'s spatial layers in chunks of `rows` batch rows (0 = all rows at once); returns how many
    layers are chunked. Calling it again only changes the chunk size."""
    layers = spatial_layers(unet)
    for layer in layers:
        chunked = layer.__dict__.get(_ATTR)
        if chunked is None:
            chunked = _Chunked(layer.forward, state, rows)
            layer.__dict__[_ATTR] = chunked
            layer.forward = chunked  # instance attribute: nn.Module.__call__ dispatches to it
        chunked.state = state
        chunked.rows = rows
    return len(layers)
