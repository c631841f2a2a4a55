"""How FlowDrafter draws text and entities: fonts, entity colours, captions, labelled boxes, placeholders.

One module, so the animatic, the exports (PDF, contact sheet, title card) and the editor (box colours,
gallery placeholders) look like one product: an entity has the same colour everywhere, text uses the same
font and wraps the same way.
"""

from __future__ import annotations

import colorsys
import hashlib
import textwrap
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from flowdrafter.core.layout import frame_layout, norm_to_pixels
from flowdrafter.core.storyboard import Scene, Storyboard

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
RGB = tuple[int, int, int]

# -- fonts and colours ----------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def font(size: float, bold: bool = False) -> Font:
    """DejaVu Sans when the system has it, else Pillow's bundled font (same look on every machine)."""
    size = max(6, int(size))
    for name in ("DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf") if bold else ("DejaVuSans.ttf", "LiberationSans-Regular.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def entity_color(entity_id: str) -> RGB:
    """A stable, pleasant colour per entity id: the same in the animatic, the exports and the editor."""
    h = int(hashlib.sha1(entity_id.encode()).hexdigest()[:8], 16)
    r, g, b = colorsys.hls_to_rgb((h % 360) / 360.0, 0.55, 0.55)
    return (round(r * 255), round(g * 255), round(b * 255))


def entity_hex(entity_id: str) -> str:
    """`entity_color` as a CSS colour (the editor's boxes and keyframe lanes)."""
    return "#%02x%02x%02x" % entity_color(entity_id)


# -- text --------------------------------------------------------------------------------------------------


def text_size(draw: ImageDraw.ImageDraw, text: str, fnt: Any) -> tuple[int, int]:
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=fnt)
    return x1 - x0, y1 - y0


def fit_line(draw: ImageDraw.ImageDraw, text: str, fnt: Any, width: float) -> str:
    """`text`, shortened with an ellipsis until it fits in `width` pixels."""
    if text_size(draw, text, fnt)[0] <= width:
        return text
    while text and text_size(draw, text + "…", fnt)[0] > width:
        text = text[:-1]
    return text.rstrip() + "…"


def wrap(draw: ImageDraw.ImageDraw, text: str, fnt: Any, width: float, max_lines: int) -> list[str]:
    """At most `max_lines` lines of at most `width` pixels; cut text ends with an ellipsis."""
    avg = max(1, text_size(draw, "abcdefghij", fnt)[0] // 10)
    lines = textwrap.wrap(text, width=max(8, int(width // avg))) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1] + " …"
    return [fit_line(draw, ln, fnt, width) for ln in lines]


def blend_text(img: Image.Image, xy: tuple[float, float], text: str, fnt: Any, rgb: RGB, alpha: int) -> None:
    """Translucent text on an RGB image (through a mask: ImageDraw writes RGBA fills opaquely)."""
    x0, y0, x1, y1 = ImageDraw.Draw(img).textbbox(xy, text, font=fnt)
    x0, y0 = max(0, int(x0) - 2), max(0, int(y0) - 2)
    x1, y1 = min(img.width, int(x1) + 2), min(img.height, int(y1) + 2)
    if x1 <= x0 or y1 <= y0:
        return
    mask = Image.new("L", (x1 - x0, y1 - y0), 0)
    ImageDraw.Draw(mask).text((xy[0] - x0, xy[1] - y0), text, font=fnt, fill=alpha)
    img.paste(rgb, (x0, y0, x1, y1), mask)


# -- captions ------------------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def caption_overlay(title: str, text: str, badge: str, width: int, height: int) -> tuple[Image.Image, int]:
    """The lower third as an RGBA strip and its top y: a dark fade, the title, the description, a badge."""
    band_h = max(24, round(height * 0.30))
    strip = Image.new("RGBA", (width, band_h), (0, 0, 0, 0))
    alpha = (np.linspace(0.0, 1.0, band_h) ** 1.6 * 175).astype(np.uint8)
    strip.putalpha(Image.fromarray(np.broadcast_to(alpha[:, None], (band_h, width)).copy(), "L"))
    d = ImageDraw.Draw(strip)
    margin = max(8, round(width * 0.035))
    f_title, f_text, f_badge = font(height * 0.058, bold=True), font(height * 0.046), font(height * 0.036, bold=True)
    lines = wrap(d, text, f_text, width - 2 * margin, 2) if text else []
    line_h = text_size(d, "Ag", f_text)[1] + max(2, height // 100)
    y = band_h - margin * 0.8 - line_h * len(lines)
    for i, ln in enumerate(lines):
        d.text((margin + 1, y + i * line_h + 1), ln, font=f_text, fill=(0, 0, 0, 160))
        d.text((margin, y + i * line_h), ln, font=f_text, fill=(235, 235, 235, 255))
    if title:
        th = text_size(d, "Ag", f_title)[1]
        ty = y - th - max(4, height // 60)
        t = fit_line(d, title, f_title, width - 2 * margin - 80)
        d.text((margin + 1, ty + 1), t, font=f_title, fill=(0, 0, 0, 170))
        d.text((margin, ty), t, font=f_title, fill=(255, 255, 255, 255))
    if badge:
        bw, bh = text_size(d, badge, f_badge)
        bx, by = width - margin - bw, band_h - margin * 0.8 - bh
        d.text((bx, by - d.textbbox((0, 0), badge, font=f_badge)[1]), badge, font=f_badge, fill=(255, 255, 255, 170))
    return strip, height - band_h


# -- entities ------------------------------------------------------------------------------------------------


def draw_boxes(img: Image.Image, scene: Scene, frame: int, sb: Storyboard) -> Image.Image:
    """A copy of `img` (any size) with each entity's box on `frame` outlined in its colour and labelled."""
    out = img.convert("RGB").copy()
    d = ImageDraw.Draw(out)
    W, H = out.size
    fnt = font(max(9, H * 0.06), bold=True)
    width = max(2, H // 110)
    for entity_id, box in frame_layout(scene, frame).items():
        entity = sb.entity(entity_id)
        name = entity.name if entity else entity_id
        col = entity_color(entity_id)
        x0, y0, x1, y1 = norm_to_pixels(box, W, H)
        d.rectangle((x0, y0, x1 - 1, y1 - 1), outline=col, width=width)
        tx0, ty0, tx1, ty1 = d.textbbox((0, 0), name, font=fnt)
        lw, lh = tx1 - tx0 + 6, ty1 - ty0 + 4
        ly = y0 - lh if y0 - lh >= 0 else y0
        lx = min(max(0, x0), W - lw)
        d.rectangle((lx, ly, lx + lw, ly + lh), fill=col)
        d.text((lx + 3 - tx0, ly + 2 - ty0), name, font=fnt, fill=(255, 255, 255))
    return out


@lru_cache(maxsize=128)
def placeholder_tile(entity_id: str, name: str, kind: str, size: int = 256) -> Image.Image:
    """A square card for an entity without a reference image: its initial in its colour, "no image yet"."""
    img = Image.new("RGB", (size, size), (236, 238, 243) if kind == "foreground" else (226, 236, 228))
    d = ImageDraw.Draw(img)
    col = entity_color(entity_id)
    u = size / 256
    d.rounded_rectangle((16 * u, 16 * u, 240 * u, 240 * u), radius=24 * u, outline=col, width=max(1, round(3 * u)))
    d.text((128 * u, 96 * u), (name.strip()[:1] or "?").upper(), fill=col, font=font(96 * u, bold=True), anchor="mm")
    d.text((128 * u, 164 * u), "no image yet", fill=(120, 126, 140), font=font(20 * u), anchor="mm")
    return img
