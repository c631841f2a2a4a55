"""Background removal for foreground entities (VideoDrafter used U2-Net), through rembg.

`cutout_model` is either a rembg session name (`u2net`, `isnet-general-use`, `birefnet-general`, ...;
rembg downloads its weights to `$U2NET_HOME`, default `~/.u2net`, on first use and needs them there
afterwards) or the path of a local U2-Net-style ONNX file (input 1x3x320x320, output 1x1x320x320 mask),
run through rembg's `u2net_custom` session with no download at all. The tests and `flowdrafter selftest`
use the second form with a tiny model from `tiny.build_cutout`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PIL import Image

from flowdrafter.core.errors import ModelUnavailableError
from flowdrafter.core.settings import Settings, get_settings

from . import models


def _is_file_setting(value: str) -> bool:
    return value.endswith(".onnx") or models.is_local(value)


def _u2net_home() -> Path:
    return Path(os.environ.get("U2NET_HOME", os.path.join(os.environ.get("XDG_DATA_HOME", "~"), ".u2net"))).expanduser()


def load_session(settings: Settings | None = None) -> Any:
    """The rembg session for `cutout_model`, created once per process."""
    settings = settings or get_settings()
    value = settings.cutout_model

    def build() -> Any:
        try:
            from rembg import new_session
        except ImportError:
            raise models.unavailable(models.CUTOUT, value, "the rembg package is not installed") from None
        if _is_file_setting(value):
            path = Path(value).expanduser()
            if not path.is_file():
                raise models.unavailable(models.CUTOUT, value, "no such file")
            try:
                return new_session("u2net_custom", model_path=str(path))
            except Exception as err:  # onnxruntime refuses a file that is not a usable ONNX model
                raise models.unavailable(models.CUTOUT, value, f"not a usable ONNX model: {err}") from None
        try:
            return new_session(value)
        except ValueError as err:
            raise models.unavailable(models.CUTOUT, value, str(err)) from None
        except Exception as err:  # the first-use download failed (offline)
            raise ModelUnavailableError(
                f"cut-out model '{value}' could not be loaded: looked in {_u2net_home()} (U2NET_HOME) and "
                f"tried to download it ({type(err).__name__}); put the .onnx there or point FLOWDRAFTER_CUTOUT_MODEL "
                "(setting cutout_model) at a local U2-Net-style .onnx file"
            ) from None

    return models.shared("cutout", (value,), build)


def remove_background(image: Image.Image, settings: Settings | None = None) -> Image.Image:
    """The image as RGBA with the background made transparent (alpha from the cut-out model's mask)."""
    from rembg import remove

    session = load_session(settings)
    rgb = image.convert("RGB")
    out = remove(rgb, session=session)
    if not isinstance(out, Image.Image):  # rembg returns the input's type
        out = Image.fromarray(out)
    return out.convert("RGBA")


NEUTRAL_BACKDROP = (127, 127, 127)  # mid grey: no colour or brightness of its own for an image encoder to pick up


def composite(image: Image.Image, background: tuple[int, int, int] = NEUTRAL_BACKDROP) -> Image.Image:
    """An RGBA cut-out flattened on a plain background; every path into an image encoder (IP-Adapter in the
    scene image and in layout-video) uses it with the default, one neutral backdrop."""
    if image.mode != "RGBA":
        return image.convert("RGB")
    base = Image.new("RGB", image.size, background)
    base.paste(image, mask=image.getchannel("A"))
    return base
