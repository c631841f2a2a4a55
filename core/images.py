"""Image ingestion: every reference image enters a project through `import_image`.

Untrusted images are checked before they are decoded (format allowlist, byte and pixel caps, so a
decompression bomb is refused without being inflated), then fully decoded (so a truncated file fails here,
not during a render), oriented by EXIF, converted to 8-bit RGB or RGBA, and stored as PNG under a name
made from the hash of its pixels' PNG bytes.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .atomic import atomic_write_bytes
from .errors import AssetError
from .project import Project

ALLOWED_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP", "MPO": "JPEG"}


def _limits() -> tuple[int, int]:
    from .settings import get_settings

    s = get_settings()
    return s.max_image_bytes, s.max_image_pixels


def read_source(source: Path | str | bytes, max_bytes: int, name: str | None = None) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray)):
        data, label = bytes(source), name or "uploaded image"
    else:
        path = Path(source)
        label = name or path.name
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise AssetError(f"{path} does not exist") from None
        except OSError as err:
            raise AssetError(f"cannot read {path}: {err.strerror or err}") from None
        if not path.is_file():
            raise AssetError(f"{path} is not a file")
        if size > max_bytes:
            raise AssetError(f"{label} is {_mb(size)}; the limit is {_mb(max_bytes)}")
        data = path.read_bytes()
    if len(data) > max_bytes:
        raise AssetError(f"{label} is {_mb(len(data))}; the limit is {_mb(max_bytes)}")
    if not data:
        raise AssetError(f"{label} is empty")
    return data, label


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB".replace(".0 MB", " MB")


def _pixels(n: int) -> str:
    return f"{n / 1e6:.3g} megapixels" if n >= 100_000 else f"{n:,} pixels"


def _reason(err: Exception) -> str:
    text = str(err)
    return "truncated" if "truncated" in text.lower() else text or type(err).__name__


def decode_image(data: bytes, label: str, max_pixels: int) -> Image.Image:
    """Bytes -> an upright 8-bit RGB or RGBA image, or a precise `AssetError`."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise AssetError(f"{label} is not an image (PNG, JPEG or WebP expected)") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise AssetError(f"{label} is a decompression bomb (too many pixels); refused") from None
        except ValueError as err:
            if "too large" in str(err).lower():  # a metadata chunk (text, ICC profile) that inflates too far
                raise AssetError(f"{label} is a decompression bomb (a metadata block inflates too far); refused") from None
            raise AssetError(f"{label} is damaged ({_reason(err)})") from None
        except Exception as err:  # noqa: BLE001 - a hostile file may trip any decoder error; it is the file's fault
            raise AssetError(f"{label} is damaged ({_reason(err)})") from None
        if img.format not in ALLOWED_FORMATS:
            raise AssetError(f"{label} is {img.format}; only PNG, JPEG and WebP are accepted")
        w, h = img.size
        if w < 1 or h < 1:
            raise AssetError(f"{label} has no pixels")
        if w * h > max_pixels:
            raise AssetError(f"{label} is {w}x{h} = {_pixels(w * h)}; the limit is {_pixels(max_pixels)}")
        try:
            img.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise AssetError(f"{label} is a decompression bomb (too many pixels); refused") from None
        except Exception as err:  # noqa: BLE001 - OSError, SyntaxError, ValueError, EOFError, struct.error, ...
            raise AssetError(f"{label} is damaged ({_reason(err)})") from None
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not lose the image
        pass
    return to_8bit(img)


def to_8bit(img: Image.Image) -> Image.Image:
    """Any Pillow mode (CMYK, 16-bit, palette, LA, ...) -> RGB, or RGBA when it has transparency."""
    mode = img.mode
    if mode == "RGBA" or (mode == "RGB" and "transparency" not in img.info):
        return img
    if mode.startswith("I") or mode == "F":  # 16/32-bit greyscale: scale to 8 bits, don't clip
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if mode in ("P", "L", "RGB") and "transparency" in img.info:  # a palette or colour-key transparency
        return img.convert("RGBA")
    if mode in ("LA", "PA", "RGBa", "La"):
        return img.convert("RGBA")
    return img.convert("RGB")


def import_image(
    project: Project,
    source: Path | str | bytes,
    *,
    name: str | None = None,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
) -> str:
    """Check, normalize and store an image in the project's assets; returns its project-relative path."""
    default_bytes, default_pixels = _limits()
    data, label = read_source(source, max_bytes or default_bytes, name)
    img = decode_image(data, label, max_pixels or default_pixels)
    return store_image(project, img)


def store_image(project: Project, img: Image.Image) -> str:
    """Save a decoded image under its content hash (same pixels, same file) and return the relative path."""
    buf = io.BytesIO()
    to_8bit(img).save(buf, format="PNG", optimize=False)
    png = buf.getvalue()
    digest = hashlib.sha256(png).hexdigest()[:20]
    rel = f"assets/{digest}.png"
    path = project.resolve_asset(rel)
    if not path.exists():
        atomic_write_bytes(path, png)
    return rel


def load_asset_image(project: Project, rel: str) -> Image.Image:
    """Open a project asset for rendering, with the same checks as ingestion (assets can be edited on disk)."""
    path = project.resolve_asset(rel)
    default_bytes, default_pixels = _limits()
    data, label = read_source(path, default_bytes, rel)
    return decode_image(data, label, default_pixels)
