"""Spatial layers on chunks of rows: the same frames and the same per-frame attention as all rows at once
(with cross-frame attention on, so chunks without frame 0 read its keys from the chunk that had it)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flowdrafter.generators.diffusion import frame_chunks
from flowdrafter.generators.diffusion.layout_video import LayoutVideoGenerator

from .conftest import FRAMES, context, lv_settings


@pytest.fixture(scope="module")
def renders(tiny_overrides, lv_project):
    """The cat scene (12 frames in two 8-frame windows, guidance on: 16 rows a window) unchunked, and in chunks
    of 5 rows, which cut through frames and across the boundary between the negative and the prompt half;
    with attention recorded (self-attention too) and cross-frame attention to frame 0 and the previous frame."""
    out = {}
    for rows in (0, 5):
        gen = LayoutVideoGenerator(lv_settings(tiny_overrides, layout_video_frame_chunk=rows, layout_video_cross_frame="first+previous"))
        lv = gen.pipeline()
        lv.state.record, lv.state.record_self, lv.state.record_self_probs = {}, True, True
        try:
            frames = gen.generate(context(lv_project))
            out[rows] = {"frames": frames, "record": dict(lv.state.record), "again": None}
        finally:
            lv.state.record, lv.state.record_self, lv.state.record_self_probs = None, False, False
        out[rows]["again"] = gen.generate(context(lv_project))
    return out


def test_chunked_spatial_layers_make_the_same_frames(renders):
    whole, chunked = renders[0]["frames"], renders[5]["frames"]
    assert chunked.shape == whole.shape == (FRAMES, 64, 96, 3)
    assert np.abs(chunked.astype(int) - whole.astype(int)).max() <= 1  # float rounding at most


def test_each_chunk_reads_its_own_rows_boxes_and_frame_0s_keys(renders):
    whole, chunked = renders[0]["record"], renders[5]["record"]
    assert whole.keys() == chunked.keys() and whole
    assert any(n.endswith("attn1.processor:keys") for n in whole) and any(n.endswith("attn2.processor") for n in whole)
    for name, probs in whole.items():
        assert chunked[name].shape == probs.shape and probs.shape[:2] == (2, FRAMES)  # [half, frame, ...]
        scale = float(probs.abs().max())  # float rounding of other batch sizes, growing through the layers
        torch.testing.assert_close(chunked[name], probs, atol=2e-3 * scale, rtol=1e-3)


def test_a_chunked_render_repeats_with_the_same_seed(renders):
    assert np.abs(renders[5]["again"].astype(int) - renders[5]["frames"].astype(int)).max() <= 1


def test_every_resnet_and_spatial_transformer_is_chunked_and_no_motion_module(tiny_overrides, lv_project):
    gen = LayoutVideoGenerator(lv_settings(tiny_overrides, layout_video_frame_chunk=4))
    gen.prepare(context(lv_project))  # each scene sets the chunk size of the shared pipeline
    unet = gen.pipeline().pipe.unet
    layers = frame_chunks.spatial_layers(unet)
    names = {id(m): n for n, m in unet.named_modules()}
    assert layers and all("motion_modules" not in names[id(m)] for m in layers)
    kinds = {type(m).__name__ for m in layers}
    assert kinds == {"ResnetBlock2D", "Transformer2DModel"}
    assert all(m.forward.rows == 4 for m in layers)
