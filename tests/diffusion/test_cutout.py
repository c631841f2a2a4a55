"""Background removal through rembg, offline, with a U2-Net-shaped ONNX model built locally."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from flowdrafter.core.errors import ModelUnavailableError
from flowdrafter.core.settings import Settings
from flowdrafter.generators.diffusion.cutout import composite, remove_background


def _photo() -> Image.Image:
    rng = np.random.default_rng(0)
    arr = (rng.random((60, 90, 3)) * 60).astype(np.uint8)
    arr[15:45, 30:60] = (230, 40, 40)
    return Image.fromarray(arr)


def test_cutout_returns_rgba_with_a_mask_from_the_model(tiny_settings):
    out = remove_background(_photo(), tiny_settings)
    assert out.mode == "RGBA" and out.size == (90, 60)
    alpha = np.asarray(out)[..., 3]
    assert alpha.min() < 64 and alpha.max() > 192  # a real mask: some pixels kept, some removed
    rgb = np.asarray(out)[..., :3][alpha > 0]
    assert rgb.size  # kept pixels keep their colour
    assert composite(out).mode == "RGB"


def test_missing_onnx_file_is_a_clear_error(tmp_path):
    path = tmp_path / "u2net.onnx"
    with pytest.raises(ModelUnavailableError, match="cut-out model .*u2net.onnx.*FLOWDRAFTER_CUTOUT_MODEL"):
        remove_background(_photo(), Settings(cutout_model=str(path)))


def test_a_file_that_is_not_onnx_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(ModelUnavailableError, match="not a usable ONNX model"):
        remove_background(_photo(), Settings(cutout_model=str(path)))


def test_unknown_session_name_is_a_clear_error():
    with pytest.raises(ModelUnavailableError, match="cut-out model 'no-such-session'"):
        remove_background(_photo(), Settings(cutout_model="no-such-session"))
