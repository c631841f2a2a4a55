"""Draw the reference images of the bundled examples and point each storyboard at them.

The examples must open on a fresh machine with real pictures and no model download, so the project draws
its own references here with Pillow and numpy: clean storyboard-style illustrations (flat colours, soft
shading, a dark outline). Everything is drawn at `SCALE` times the output size and box-filtered down
(premultiplied alpha), which gives foreground cut-outs a soft anti-aliased edge on a clean transparent
background. Backgrounds are opaque and larger than the frame, so camera pans and background drift have
picture to reveal.

Drawing is deterministic (fixed seeds, no clock): re-running the script reproduces the same pixels (and,
with the same zlib, the same PNG bytes).

    .venv/bin/python assets/examples/make_examples.py [EXAMPLES_DIR]

For every example folder under EXAMPLES_DIR (default: this script's folder) it writes
`assets/<entity id>.png` for each entity and sets the entity's `reference` to
`{"image": "assets/<entity id>.png", "source": "drawn", "cutout": <foreground>}` in `storyboard.json`.
"""

from __future__ import annotations

import io
import json
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from flowdrafter.core.atomic import atomic_write_bytes, atomic_write_text
from flowdrafter.core.errors import StoryboardError
from flowdrafter.core.storyboard import parse_storyboard

Point = tuple[float, float]
Color = tuple[int, int, int]

SCALE = 4  # supersampling factor for foreground cut-outs
BG_SCALE = 3  # backgrounds are big and have no transparent edge; 3x is smooth enough and faster
INK: Color = (46, 42, 52)  # outline colour shared by every drawing


# -- geometry ----------------------------------------------------------------------------------------


def ellipse_pts(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0, n: int = 160) -> list[Point]:
    a = math.radians(angle)
    ca, sa = math.cos(a), math.sin(a)
    pts = []
    for i in range(n):
        t = 2 * math.pi * i / n
        x, y = rx * math.cos(t), ry * math.sin(t)
        pts.append((cx + x * ca - y * sa, cy + x * sa + y * ca))
    return pts


def spline(points: Sequence[Point], closed: bool = False, steps: int = 16) -> list[Point]:
    """A Catmull-Rom curve through `points`: organic shapes from a few control points."""
    pts = list(points)
    if closed:
        ext = [pts[-1], *pts, pts[0], pts[1]]
    else:
        ext = [pts[0], *pts, pts[-1]]
    out: list[Point] = []
    for i in range(1, len(ext) - 2):
        p0, p1, p2, p3 = ext[i - 1], ext[i], ext[i + 1], ext[i + 2]
        for s in range(steps):
            t = s / steps
            t2, t3 = t * t, t * t * t
            out.append(
                tuple(
                    0.5 * (2 * b + (-a + c) * t + (2 * a - 5 * b + 4 * c - d) * t2 + (-a + 3 * b - 3 * c + d) * t3)
                    for a, b, c, d in zip(p0, p1, p2, p3)
                )  # type: ignore[arg-type]
            )
    if not closed:
        out.append(pts[-1])
    return out


def along(points: Sequence[Point], t: float) -> Point:
    """The point at fraction `t` of a polyline's length."""
    seg = [math.dist(a, b) for a, b in zip(points, points[1:])]
    target = t * sum(seg)
    for (a, b), d in zip(zip(points, points[1:]), seg):
        if target <= d and d > 0:
            u = target / d
            return (a[0] + (b[0] - a[0]) * u, a[1] + (b[1] - a[1]) * u)
        target -= d
    return points[-1]


# -- the canvas --------------------------------------------------------------------------------------


class Mask:
    """A coverage mask kept only as large as its shape: an "L" image and its offset on the canvas."""

    def __init__(self, img: Image.Image, x: int, y: int):
        self.img, self.x, self.y = img, x, y

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.x + self.img.width, self.y + self.img.height)

    def region(self, box: tuple[int, int, int, int]) -> Image.Image:
        """This mask's coverage over `box` (zero outside the mask)."""
        out = Image.new("L", (box[2] - box[0], box[3] - box[1]), 0)
        out.paste(self.img, (self.x - box[0], self.y - box[1]))
        return out


class Field:
    """A per-pixel value (opacity, gradient position) evaluated only where something is painted."""

    def __init__(self, fn: Callable[[np.ndarray, np.ndarray], np.ndarray]):
        self.fn = fn

    def __call__(self, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
        return self.fn(xx, yy)

    def __mul__(self, k: float) -> Field:
        return Field(lambda xx, yy: self.fn(xx, yy) * k)

    __rmul__ = __mul__

    def __rsub__(self, k: float) -> Field:
        return Field(lambda xx, yy: k - self.fn(xx, yy))

    def __sub__(self, k: float) -> Field:
        return Field(lambda xx, yy: self.fn(xx, yy) - k)


class Canvas:
    """A supersampled RGBA drawing surface; every coordinate is in output pixels.

    Shapes are `Mask`s that can be combined (`union`, `minus`, `inter`) and painted with a colour,
    optionally through an opacity `Field`. `finish` box-filters down to the output size with
    premultiplied alpha, so edges are anti-aliased and transparent pixels stay clean.
    """

    def __init__(self, w: int, h: int, *, scale: int = SCALE, background: Color | None = None):
        self.w, self.h, self.s = w, h, scale
        self.size = (w * scale, h * scale)
        fill = (*background, 255) if background else (0, 0, 0, 0)
        self.img = Image.new("RGBA", self.size, fill)

    # masks ---------------------------------------------------------------------------------------------

    def _new(self, pts: Sequence[Point], pad: float) -> tuple[Image.Image, ImageDraw.ImageDraw, int, int]:
        s = self.s
        xs, ys = [p[0] * s for p in pts], [p[1] * s for p in pts]
        x0, y0 = math.floor(min(xs) - pad) - 1, math.floor(min(ys) - pad) - 1
        x1, y1 = math.ceil(max(xs) + pad) + 2, math.ceil(max(ys) + pad) + 2
        img = Image.new("L", (x1 - x0, y1 - y0), 0)
        return img, ImageDraw.Draw(img), x0, y0

    def poly(self, pts: Sequence[Point]) -> Mask:
        img, d, x0, y0 = self._new(pts, 0)
        d.polygon([(x * self.s - x0, y * self.s - y0) for x, y in pts], fill=255)
        return Mask(img, x0, y0)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, angle: float = 0.0) -> Mask:
        return self.poly(ellipse_pts(cx, cy, rx, ry, angle, n=max(48, int((rx + ry) * 1.5))))

    def blob(self, pts: Sequence[Point]) -> Mask:
        return self.poly(spline(pts, closed=True))

    def rect(self, x0: float, y0: float, x1: float, y1: float, r: float = 0.0) -> Mask:
        s = self.s
        img, d, ox, oy = self._new([(x0, y0), (x1, y1)], 0)
        d.rounded_rectangle((x0 * s - ox, y0 * s - oy, x1 * s - ox - 1, y1 * s - oy - 1), radius=r * s, fill=255)
        return Mask(img, ox, oy)

    def line(self, pts: Sequence[Point], width: float, width_end: float | None = None) -> Mask:
        """A stroke with round caps; a second width tapers it along its length."""
        s = self.s
        img, d, ox, oy = self._new(pts, max(width, width_end or 0) * s / 2 + 2)
        sc = [(x * s - ox, y * s - oy) for x, y in pts]
        if width_end is None:
            d.line(sc, fill=255, width=max(1, round(width * s)), joint="curve")
            r = width * s / 2
            for x, y in (sc[0], sc[-1]):
                d.ellipse((x - r, y - r, x + r, y + r), fill=255)
            return Mask(img, ox, oy)
        arr = np.asarray(sc, dtype=np.float64)
        cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(arr, axis=0).T))])
        n = max(8, int(cum[-1] / s * 1.5))
        ts = np.linspace(0.0, 1.0, n + 1)
        xs, ys = np.interp(ts * cum[-1], cum, arr[:, 0]), np.interp(ts * cum[-1], cum, arr[:, 1])
        for t, x, y in zip(ts, xs, ys):
            r = (width + (width_end - width) * t) * s / 2
            d.ellipse((x - r, y - r, x + r, y + r), fill=255)
        return Mask(img, ox, oy)

    @staticmethod
    def union(*masks: Mask) -> Mask:
        x0, y0 = min(m.x for m in masks), min(m.y for m in masks)
        x1, y1 = max(m.box[2] for m in masks), max(m.box[3] for m in masks)
        out = Image.new("L", (x1 - x0, y1 - y0), 0)
        for m in masks:
            area = (m.x - x0, m.y - y0, m.box[2] - x0, m.box[3] - y0)
            out.paste(ImageChops.lighter(out.crop(area), m.img), area[:2])
        return Mask(out, x0, y0)

    @staticmethod
    def minus(a: Mask, b: Mask) -> Mask:
        return Mask(ImageChops.subtract(a.img, b.region(a.box)), a.x, a.y)

    @staticmethod
    def inter(a: Mask, b: Mask) -> Mask:
        box = (max(a.x, b.x), max(a.y, b.y), min(a.box[2], b.box[2]), min(a.box[3], b.box[3]))
        if box[2] <= box[0] or box[3] <= box[1]:
            return Mask(Image.new("L", (1, 1), 0), a.x, a.y)
        return Mask(ImageChops.darker(a.region(box), b.region(box)), box[0], box[1])

    def _padded(self, m: Mask, pad: int) -> Mask:
        return Mask(m.region((m.x - pad, m.y - pad, m.box[2] + pad, m.box[3] + pad)), m.x - pad, m.y - pad)

    def grow(self, mask: Mask, r: float) -> Mask:
        """Dilate a mask by about `r` output pixels (blur then threshold: round corners, fast)."""
        m = self._padded(mask, math.ceil(r * self.s * 1.5) + 2)
        blurred = m.img.filter(ImageFilter.GaussianBlur(r * self.s * 0.5))
        return Mask(blurred.point(lambda v: 255 if v > 8 else 0), m.x, m.y)

    def soften(self, mask: Mask, r: float) -> Mask:
        m = self._padded(mask, math.ceil(r * self.s * 3) + 2)
        return Mask(m.img.filter(ImageFilter.GaussianBlur(r * self.s)), m.x, m.y)

    # fields ----------------------------------------------------------------------------------------------

    @staticmethod
    def radial(cx: float, cy: float, r: float) -> Field:
        """1 at (cx, cy) falling to 0 at distance r."""
        return Field(lambda xx, yy: np.clip(1.0 - np.hypot(xx - cx, yy - cy) / r, 0.0, 1.0))

    @staticmethod
    def linear(x0: float, y0: float, x1: float, y1: float) -> Field:
        """0 at (x0, y0) rising to 1 at (x1, y1), along that direction."""
        dx, dy = x1 - x0, y1 - y0
        n = dx * dx + dy * dy
        return Field(lambda xx, yy: np.clip(((xx - x0) * dx + (yy - y0) * dy) / n, 0.0, 1.0))

    # painting ------------------------------------------------------------------------------------------

    def _clipped(self, mask: Mask) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]] | None:
        """The mask's coverage (0..1) on the canvas, and the output-pixel coordinates of its samples."""
        box = (max(mask.x, 0), max(mask.y, 0), min(mask.box[2], self.size[0]), min(mask.box[3], self.size[1]))
        if box[2] <= box[0] or box[3] <= box[1]:
            return None
        cov = np.asarray(mask.region(box), dtype=np.float32) / 255.0
        xx = ((np.arange(box[0], box[2], dtype=np.float32) + 0.5) / self.s)[None, :]
        yy = ((np.arange(box[1], box[3], dtype=np.float32) + 0.5) / self.s)[:, None]
        return cov, xx, yy, (box[0], box[1])

    def paint(self, mask: Mask, color: Color, opacity: float | Field = 1.0) -> None:
        """Composite `color` over the canvas through `mask` (times `opacity`)."""
        got = self._clipped(mask)
        if got is None:
            return
        cov, xx, yy, dest = got
        a = cov * (np.clip(opacity(xx, yy), 0.0, 1.0) if isinstance(opacity, Field) else opacity)
        layer = Image.new("RGBA", (cov.shape[1], cov.shape[0]), (*color, 0))
        layer.putalpha(Image.fromarray(np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8)))
        self.img.alpha_composite(layer, dest=dest)

    def gradient(self, mask: Mask, stops: Sequence[tuple[float, Color]], t: Field) -> None:
        """Paint through `mask` with a colour ramp; `t` (0..1 per pixel) picks the colour."""
        got = self._clipped(mask)
        if got is None:
            return
        cov, xx, yy, dest = got
        idx = np.broadcast_to(np.clip(t(xx, yy), 0.0, 1.0) * 1023.0 + 0.5, cov.shape).astype(np.int32)
        pos = np.array([p for p, _ in stops])
        ramp = np.linspace(0.0, 1.0, 1024)
        lut = np.stack([np.interp(ramp, pos, [col[k] for _, col in stops]) for k in range(3)], axis=-1)
        layer = np.empty((*cov.shape, 4), dtype=np.uint8)
        layer[..., :3] = np.clip(lut + 0.5, 0, 255).astype(np.uint8)[idx]
        layer[..., 3] = np.clip(cov * 255.0 + 0.5, 0, 255).astype(np.uint8)
        self.img.alpha_composite(Image.fromarray(layer), dest=dest)

    def outlined(self, mask: Mask, color: Color, width: float = 2.0, ink: Color = INK) -> None:
        """Fill a shape and give it an outline of `width` output pixels."""
        self.paint(self.grow(mask, width), ink)
        self.paint(mask, color)

    def stroke(self, pts: Sequence[Point], width: float, color: Color = INK, width_end: float | None = None) -> None:
        self.paint(self.line(pts, width, width_end), color)

    # output --------------------------------------------------------------------------------------------

    def finish(self, *, crop_margin: int | None = None) -> Image.Image:
        """Downsample to the output size; with `crop_margin`, crop to the drawing plus that margin."""
        if self.img.getextrema()[3][0] == 255:  # opaque: a plain box filter
            out = self.img.convert("RGB").reduce(self.s)
            return out if crop_margin is None else out.convert("RGBA")
        out = self.img.convert("RGBa").reduce(self.s).convert("RGBA")  # premultiplied, so edges don't darken
        img = np.array(out)
        img[img[..., 3] == 0] = 0  # fully transparent pixels carry no colour
        out = Image.fromarray(img)
        if crop_margin is None:
            return out
        x0, y0, x1, y1 = out.getbbox() or (0, 0, self.w, self.h)
        m = crop_margin
        return out.crop((max(0, x0 - m), max(0, y0 - m), min(self.w, x1 + m), min(self.h, y1 + m)))


def shade(color: Color, k: float) -> Color:
    """Darker (k < 1) or lighter (k > 1, towards white) version of a colour."""
    if k <= 1:
        return tuple(int(round(c * k)) for c in color)  # type: ignore[return-value]
    t = k - 1
    return tuple(int(round(c + (255 - c) * t)) for c in color)  # type: ignore[return-value]


def mix(a: Color, b: Color, t: float) -> Color:
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))  # type: ignore[return-value]


# -- kitten-garden -------------------------------------------------------------------------------------

FUR: Color = (158, 160, 172)
FUR_LIGHT: Color = (198, 200, 210)
STRIPE: Color = (88, 90, 106)
WHITE: Color = (248, 246, 240)
PINK: Color = (236, 146, 162)


def _stripes(c: Canvas, clip: Image.Image, strokes: Iterable[tuple[Sequence[Point], float, float]]) -> None:
    for pts, w0, w1 in strokes:
        c.paint(c.inter(c.line(pts, w0, w1), clip), STRIPE)


def draw_kitten() -> Image.Image:
    """A grey tabby kitten sitting and looking at the viewer: ears, green eyes, stripes, white paws, tail."""
    c = Canvas(420, 440)
    # 1. tail, behind everything, curling up on the right
    tail_path = spline([(290, 400), (350, 405), (388, 372), (396, 318), (374, 272)], steps=24)
    tail = c.line(tail_path, 36, 24)
    c.outlined(tail, FUR, 3)
    _stripes(
        c, tail,
        [([p, (p[0] + dx, p[1] + dy)], 10, 10)
         for p, dx, dy in [(along(tail_path, t), -30, -12 if t < 0.5 else 14) for t in (0.3, 0.48, 0.66, 0.82)]],
    )
    tip = c.inter(c.ellipse(*along(tail_path, 1.0), 16, 16), tail)
    c.paint(tip, STRIPE)

    # 2. body and haunches
    body = c.blob([(150, 212), (262, 212), (302, 282), (316, 352), (298, 404), (205, 418), (112, 404), (94, 352), (108, 282)])
    c.outlined(body, FUR, 3)
    c.paint(body, shade(FUR, 0.8), c.linear(230, 300, 320, 330) * 0.7)
    _stripes(c, body, [
        ([(96, 300), (124, 306), (144, 318)], 12, 3), ([(94, 336), (124, 340), (140, 350)], 12, 3),
        ([(314, 300), (286, 306), (266, 318)], 12, 3), ([(316, 336), (286, 340), (270, 350)], 12, 3),
    ])
    for cx in (128, 282):
        h = c.ellipse(cx, 380, 54, 42)
        c.outlined(h, FUR, 2.5)
        c.paint(h, shade(FUR, 0.85), c.linear(cx, 350, cx, 420) * 0.6)
        _stripes(c, h, [([(cx - 40, 360), (cx - 10, 352)], 9, 3), ([(cx + 40, 360), (cx + 10, 352)], 9, 3)])
    chest = c.blob([(205, 226), (246, 248), (252, 300), (230, 338), (205, 346), (180, 338), (158, 300), (164, 248)])
    c.paint(chest, WHITE)

    # 3. front legs with white paws
    for x in (176, 234):
        leg = c.rect(x - 19, 282, x + 19, 416, r=16)
        c.outlined(leg, FUR_LIGHT, 2.5)
        _stripes(c, leg, [([(x - 20, 320), (x + 2, 324)], 7, 3), ([(x + 20, 346), (x - 2, 350)], 7, 3)])
        paw = c.ellipse(x, 414, 27, 16)
        c.outlined(paw, WHITE, 2.5)
        for dx in (-9, 0, 9):
            c.stroke([(x + dx, 408), (x + dx, 422)], 1.6)

    # 4. head: ears, face, stripes
    for sgn in (-1, 1):
        base_in, base_out, tip_ = (205 + sgn * 30, 80), (205 + sgn * 92, 122), (205 + sgn * 98, 22)
        ear = c.poly([base_in, (tip_[0] - sgn * 6, tip_[1] + 4), tip_, (tip_[0] + sgn * 2, tip_[1] + 8), base_out])
        c.outlined(ear, FUR, 3)
        inner = c.poly([(205 + sgn * 42, 88), (205 + sgn * 90, 42), (205 + sgn * 82, 112)])
        c.paint(c.soften(inner, 2), PINK)
    head = c.blob([(205, 64), (270, 76), (302, 124), (312, 176), (292, 214), (250, 236), (205, 242),
                   (160, 236), (118, 214), (98, 176), (108, 124), (140, 76)])
    c.outlined(head, FUR_LIGHT, 3)
    c.paint(head, shade(FUR, 0.95), c.linear(205, 150, 205, 60) * 0.8)
    _stripes(c, head, [
        ([(205, 66), (205, 112)], 11, 3), ([(176, 72), (186, 110)], 9, 3), ([(234, 72), (224, 110)], 9, 3),
        ([(98, 166), (136, 172)], 10, 2), ([(102, 194), (136, 190)], 9, 2),
        ([(312, 166), (274, 172)], 10, 2), ([(308, 194), (274, 190)], 9, 2),
    ])
    muzzle = c.union(c.ellipse(190, 212, 24, 19), c.ellipse(220, 212, 24, 19), c.ellipse(205, 222, 20, 14))
    c.paint(muzzle, WHITE)
    for cx in (150, 260):
        c.paint(c.ellipse(cx, 200, 20, 11), PINK, 0.35)

    # 5. eyes, nose, mouth, whiskers
    for cx in (163, 247):
        eye = c.ellipse(cx, 158, 24, 27)
        c.paint(c.grow(eye, 2.5), INK)
        c.gradient(eye, [(0.0, (70, 130, 50)), (0.6, (128, 196, 84)), (1.0, (190, 226, 120))], c.linear(cx, 132, cx, 184))
        c.paint(c.ellipse(cx, 160, 9, 20), (26, 24, 30))
        c.paint(c.ellipse(cx - 8, 148, 7, 7), (255, 255, 255))
        c.paint(c.ellipse(cx + 8, 170, 3, 3), (255, 255, 255))
    nose = c.blob([(192, 194), (218, 194), (205, 208)])
    c.outlined(nose, PINK, 1.5)
    c.stroke([(205, 207), (205, 215)], 2.2)
    c.stroke(spline([(205, 215), (196, 222), (186, 218)]), 2.2)
    c.stroke(spline([(205, 215), (214, 222), (224, 218)]), 2.2)
    for sgn in (-1, 1):
        for y0, y1 in ((206, 196), (214, 214), (221, 232)):
            c.stroke(spline([(205 + sgn * 34, y0), (205 + sgn * 70, (y0 + y1) / 2 - 2), (205 + sgn * 112, y1)]), 1.4)
    return c.finish(crop_margin=4)


def draw_ball() -> Image.Image:
    """A shiny red rubber ball with a white stripe and a highlight."""
    c = Canvas(300, 300)
    cx, cy, r = 150.0, 150.0, 138.0
    ball = c.ellipse(cx, cy, r, r)
    c.paint(c.grow(ball, 3.5), INK)
    c.gradient(ball, [(0.0, (244, 78, 70)), (0.55, (214, 34, 40)), (1.0, (128, 14, 26))], 1.0 - c.radial(cx - 45, cy - 50, 230))
    band = c.minus(c.ellipse(cx, cy + 8, r * 1.05, r * 0.5, angle=-18), c.ellipse(cx + 10, cy - 30, r * 1.05, r * 0.5, angle=-18))
    band = c.inter(band, ball)
    c.paint(band, (252, 248, 240))
    c.paint(band, (150, 110, 120), (1.0 - c.radial(cx - 45, cy - 50, 260) - 0.35) * 0.9)
    c.paint(c.soften(c.inter(c.ellipse(cx + 60, cy + 70, 120, 90), ball), 10), (90, 8, 20), 0.35)
    c.paint(c.soften(c.ellipse(cx - 55, cy - 62, 34, 22, angle=-35), 4), (255, 255, 255), 0.9)
    c.paint(c.ellipse(cx - 20, cy - 88, 8, 6, angle=-35), (255, 255, 255), 0.85)
    return c.finish(crop_margin=4)


# -- scenery shared by the backgrounds -------------------------------------------------------------------


def sky(c: Canvas, top: Color, horizon: Color, y_horizon: float) -> None:
    c.gradient(c.rect(0, 0, c.w, y_horizon + 4), [(0.0, top), (1.0, horizon)], c.linear(0, 0, 0, y_horizon))


def cloud(c: Canvas, cx: float, cy: float, w: float, color: Color, shadow: Color, rng: np.random.Generator) -> None:
    """A puffy cloud: a flat bottom and a row of overlapping puffs, shaded underneath."""
    puffs = [c.rect(cx - w / 2, cy - w * 0.08, cx + w / 2, cy + w * 0.1, r=w * 0.09)]
    n = 4
    for i in range(n):
        t = (i + 0.5) / n
        r = w * (0.16 + 0.1 * math.sin(math.pi * t)) * rng.uniform(0.85, 1.1)
        puffs.append(c.ellipse(cx - w / 2 + w * t, cy - r * 0.45, r, r * 0.9))
    m = c.union(*puffs)
    c.paint(m, color)
    c.paint(m, shadow, c.linear(0, cy - w * 0.1, 0, cy + w * 0.12) * 0.8)


def grass_tufts(c: Canvas, y0: float, y1: float, n: int, colors: Sequence[Color], rng: np.random.Generator,
                height: tuple[float, float] = (10, 22)) -> None:
    """Scattered tufts of three to five blades between rows y0 and y1 (back to front)."""
    spots = sorted(((rng.uniform(0, c.w), rng.uniform(y0, y1)) for _ in range(n)), key=lambda p: p[1])
    for x, y in spots:
        col = colors[int(rng.integers(len(colors)))]
        h = rng.uniform(*height) * (0.7 + 0.6 * (y - y0) / max(1.0, y1 - y0))
        blades = [c.line(spline([(x + dx, y), (x + dx + lean * 0.4, y - h * 0.6), (x + dx + lean, y - h)]), 3.2, 0.6)
                  for dx, lean in ((-4, -6), (0, rng.uniform(-3, 3)), (4, 6), (-2, -10), (2, 10))[: int(rng.integers(3, 6))]]
        c.paint(c.union(*blades), col)


def lavender(c: Canvas, x: float, y: float, h: float, rng: np.random.Generator) -> None:
    """A clump of lavender: grey-green stems topped by spikes of purple buds."""
    for k in range(7):
        lean = rng.uniform(-0.35, 0.35)
        hh = h * rng.uniform(0.75, 1.05)
        top = (x + lean * hh, y - hh)
        c.stroke([(x + k - 3, y), top], 1.8, (104, 138, 96))
        buds = [c.ellipse(x + lean * hh * (1 - j * 0.06) + (j % 2) * 2 - 1, y - hh + j * 5.2, 3.6, 4.4)
                for j in range(7)]
        c.paint(c.union(*buds), (132, 100, 186))
        c.paint(c.union(*buds[:3]), (164, 134, 214))


def daisy(c: Canvas, x: float, y: float, r: float, petal: Color = WHITE, heart: Color = (246, 196, 52)) -> None:
    c.stroke([(x, y + r), (x + r * 0.3, y + r * 4)], max(1.5, r * 0.22), (84, 140, 70))
    petals = c.union(*(c.ellipse(x + math.cos(a) * r * 0.62, y + math.sin(a) * r * 0.62, r * 0.52, r * 0.24,
                                 angle=math.degrees(a)) for a in np.linspace(0, 2 * math.pi, 11)[:-1]))
    c.paint(c.grow(petals, 1.0), INK)
    c.paint(petals, petal)
    c.paint(c.ellipse(x, y, r * 0.32, r * 0.32), heart)


def tulip(c: Canvas, x: float, y: float, r: float, color: Color) -> None:
    c.stroke([(x, y), (x - r * 0.2, y + r * 4.5)], max(1.5, r * 0.25), (76, 136, 64))
    c.paint(c.ellipse(x - r * 0.7, y + r * 3.0, r * 0.9, r * 0.3, angle=-60), (90, 156, 74))
    cup = c.blob([(x - r, y - r * 0.8), (x - r * 0.4, y - r * 0.3), (x, y - r * 1.0), (x + r * 0.4, y - r * 0.3),
                  (x + r, y - r * 0.8), (x + r * 0.8, y + r * 0.5), (x, y + r * 0.9), (x - r * 0.8, y + r * 0.5)])
    c.outlined(cup, color, 1.2)
    c.paint(cup, shade(color, 0.75), c.linear(x - r, 0, x + r, 0) * 0.6)


def bush(c: Canvas, x: float, y: float, w: float, h: float, color: Color, rng: np.random.Generator) -> Image.Image:
    lumps = [c.ellipse(x + rng.uniform(-0.42, 0.42) * w, y - rng.uniform(0.25, 0.7) * h, w * rng.uniform(0.2, 0.32),
                       h * rng.uniform(0.3, 0.42)) for _ in range(7)]
    lumps.append(c.ellipse(x, y - h * 0.3, w * 0.5, h * 0.32))
    m = c.union(*lumps)
    c.outlined(m, color, 2)
    c.paint(m, shade(color, 1.25), c.linear(0, y, 0, y - h) * 0.5)
    c.paint(m, shade(color, 0.7), c.linear(0, y - h * 0.4, 0, y) * 0.6)
    return m


def draw_garden() -> Image.Image:
    """A sunny cottage garden: sky, clouds, a tree, a wooden fence, lavender, flowers and grass (1024x640)."""
    rng = np.random.default_rng(11)
    c = Canvas(1024, 640, scale=BG_SCALE, background=(214, 234, 246))
    sky(c, (112, 176, 232), (214, 234, 246), 360)
    c.paint(c.soften(c.ellipse(860, 90, 70, 70), 30), (255, 244, 200), 0.9)
    c.paint(c.ellipse(860, 90, 40, 40), (255, 236, 150))
    for cx, cy, w in ((170, 96, 200), (520, 64, 150), (700, 150, 220), (980, 200, 130)):
        cloud(c, cx, cy, w, (255, 255, 255), (206, 220, 236), rng)
    hills = c.poly(spline([(-20, 330), (160, 282), (380, 312), (620, 270), (860, 300), (1044, 280)], steps=20)
                   + [(1044, 400), (-20, 400)])
    c.paint(hills, (162, 204, 150))
    # a round tree on the left, a hedge on the right, behind the fence
    c.outlined(c.poly([(124, 380), (130, 200), (146, 200), (154, 380)]), (122, 88, 62), 2)
    c.stroke(spline([(140, 236), (112, 206), (96, 196)]), 7, (122, 88, 62), 3)
    bush(c, 138, 214, 230, 190, (86, 150, 82), rng)
    bush(c, 900, 352, 300, 110, (96, 158, 86), rng)
    bush(c, 560, 356, 180, 70, (104, 166, 92), rng)
    # 2. the fence
    wood, wood_dark = (226, 198, 156), (188, 152, 110)
    for y in (296, 372):
        rail = c.rect(-10, y, 1034, y + 18, r=3)
        c.outlined(rail, wood_dark, 2)
    x = 6.0
    while x < 1024:
        picket = c.poly([(x, 420), (x, 262), (x + 17, 240), (x + 34, 262), (x + 34, 420)])
        c.outlined(picket, wood, 2)
        c.paint(picket, wood_dark, c.linear(x + 18, 0, x + 34, 0) * 0.45)
        c.paint(c.ellipse(x + 17, 282, 2.5, 2.5), (120, 96, 80))
        c.paint(c.ellipse(x + 17, 392, 2.5, 2.5), (120, 96, 80))
        x += 46
    # 3. the lawn
    lawn = c.poly(spline([(-20, 404), (300, 398), (640, 408), (1044, 400)], steps=20) + [(1044, 660), (-20, 660)])
    c.gradient(lawn, [(0.0, (150, 202, 96)), (1.0, (92, 158, 68))], c.linear(0, 400, 0, 640))
    c.paint(c.soften(c.rect(-20, 396, 1044, 420), 6), (70, 110, 50), 0.35)  # the fence's shade on the grass
    grass_tufts(c, 408, 440, 70, [(112, 170, 76), (126, 182, 84)], rng, (8, 16))
    # 4. the flower bed along the fence: lavender, daisies, tulips
    for x in np.arange(30, 1024, 118):
        lavender(c, x + rng.uniform(-12, 12), 432, rng.uniform(70, 95), rng)
    for x in np.arange(80, 1024, 118):
        color = [(226, 70, 80), (246, 160, 60), (236, 110, 150)][int(rng.integers(3))]
        tulip(c, x + rng.uniform(-16, 16), 392 + rng.uniform(0, 14), 9, color)
        daisy(c, x + 34 + rng.uniform(-10, 10), 408 + rng.uniform(0, 14), 9)
    grass_tufts(c, 450, 640, 150, [(104, 164, 72), (86, 146, 62), (122, 178, 84)], rng, (12, 24))
    for _ in range(26):
        x, y = rng.uniform(0, 1024), rng.uniform(470, 630)
        daisy(c, x, y, 5 + (y - 470) / 40)
    return c.finish()


def potted_plant(c: Canvas, x: float, y: float, size: float, flower: Color, rng: np.random.Generator) -> None:
    """A terracotta pot of leafy geraniums standing with its base at (x, y)."""
    leaves = [c.ellipse(x + rng.uniform(-0.8, 0.8) * size, y - size * rng.uniform(1.3, 2.0), size * 0.42, size * 0.3,
                        angle=float(rng.uniform(-40, 40))) for _ in range(9)]
    c.outlined(c.union(*leaves), (84, 146, 74), 1.8)
    for _ in range(5):
        fx, fy = x + rng.uniform(-0.7, 0.7) * size, y - size * rng.uniform(1.7, 2.4)
        blossom = c.union(*(c.ellipse(fx + math.cos(a) * size * 0.12, fy + math.sin(a) * size * 0.12, size * 0.12, size * 0.12)
                            for a in np.linspace(0, 2 * math.pi, 6)[:-1]))
        c.outlined(blossom, flower, 1.2)
        c.paint(c.ellipse(fx, fy, size * 0.05, size * 0.05), (250, 226, 120))
    pot = c.poly([(x - size * 0.7, y - size * 1.05), (x + size * 0.7, y - size * 1.05), (x + size * 0.52, y), (x - size * 0.52, y)])
    c.outlined(pot, (204, 112, 72), 2)
    c.paint(pot, (150, 70, 44), c.linear(x, 0, x + size * 0.7, 0) * 0.5)
    c.outlined(c.rect(x - size * 0.78, y - size * 1.15, x + size * 0.78, y - size * 0.88, r=3), (216, 126, 84), 2)


def draw_porch() -> Image.Image:
    """A sunlit wooden porch: clapboard wall with a window, an opening onto the garden, plank floor, woven mat."""
    rng = np.random.default_rng(5)
    c = Canvas(1024, 640, scale=BG_SCALE, background=(236, 226, 204))
    wall, wall_line = (238, 228, 206), (206, 190, 160)
    # 1. the view out through the open side of the porch
    sky(c, (130, 186, 236), (220, 236, 246), 330)
    c.paint(c.poly(spline([(600, 300), (760, 262), (900, 290), (1044, 256)], steps=16) + [(1044, 420), (600, 420)]), (150, 200, 130))
    bush(c, 760, 350, 240, 110, (92, 154, 84), rng)
    bush(c, 980, 340, 200, 130, (84, 146, 78), rng)
    # 2. the clapboard wall on the left two thirds
    c.paint(c.rect(0, 0, 640, 410), wall)
    for y in range(34, 410, 30):
        c.paint(c.rect(0, y, 640, y + 3), wall_line)
        c.paint(c.rect(0, y + 3, 640, y + 8), shade(wall, 1.3), 0.6)
    # the window: frame, sky and leaves in the panes, curtains
    c.outlined(c.rect(112, 70, 432, 312, r=4), (250, 250, 246), 2.5)
    panes = [c.rect(x, y, x + 136, y + 100) for x in (130, 278) for y in (88, 204)]
    for pane in panes:
        c.gradient(pane, [(0.0, (150, 200, 240)), (1.0, (222, 238, 248))], c.linear(0, 88, 0, 304))
    c.paint(c.inter(c.union(*panes), c.union(c.ellipse(190, 300, 110, 70), c.ellipse(380, 290, 90, 60))), (110, 170, 96))
    for pane in panes:
        x = pane.x / c.s  # a diagonal glint across each pane
        glint = c.poly([(x + 20, 0), (x + 60, 0), (x - 40, 640), (x - 80, 640)])
        c.paint(c.inter(pane, glint), (255, 255, 255), 0.35)
    for edge, sgn in ((96.0, 1), (448.0, -1)):  # tied-back drapes, outer edge straight, inner edge gathered
        inner = spline([(edge + sgn * 74, 60), (edge + sgn * 62, 140), (edge + sgn * 24, 214),
                        (edge + sgn * 40, 280), (edge + sgn * 58, 334)], steps=12)
        drape = c.poly([(edge, 60), *inner, (edge, 334)])
        c.outlined(drape, (244, 214, 140), 2)
        for k in (0.35, 0.7):
            c.stroke(spline([(edge + sgn * 72 * k, 66), (edge + sgn * 58 * k, 150), (edge + sgn * 18 * k, 214),
                             (edge + sgn * 46 * k, 326)]), 2, (210, 170, 96))
        c.outlined(c.ellipse(edge + sgn * 14, 214, 16, 7, angle=sgn * -10), (200, 90, 80), 1.5)
    c.outlined(c.rect(82, 52, 462, 64, r=4), (150, 104, 66), 2)
    c.outlined(c.rect(100, 310, 444, 326, r=3), (250, 250, 246), 2)
    # 3. posts, railing and the roof beam
    for x in (622, 984):
        c.outlined(c.rect(x, 30, x + 40, 420), (250, 248, 240), 2.5)
        c.paint(c.rect(x + 26, 30, x + 40, 420), (200, 196, 186), 0.7)
    c.outlined(c.rect(662, 296, 984, 312, r=2), (250, 248, 240), 2)
    c.outlined(c.rect(662, 394, 984, 406, r=2), (250, 248, 240), 2)
    for x in np.arange(676, 980, 30):
        c.outlined(c.rect(x, 312, x + 12, 394), (250, 248, 240), 1.8)
    c.outlined(c.rect(-10, 0, 1034, 36), (150, 104, 66), 2.5)
    c.paint(c.rect(-10, 26, 1034, 36), (110, 74, 46))
    # 4. the plank floor, receding toward a vanishing point above the frame
    floor = c.rect(-10, 408, 1034, 650)
    c.gradient(floor, [(0.0, (176, 122, 78)), (1.0, (206, 152, 98))], c.linear(0, 408, 0, 640))
    vx, vy = 512.0, 60.0
    for xb in np.arange(-1400, 2500, 86):
        t0 = (408 - vy) / (640 - vy)
        top = (vx + (xb - vx) * t0, 408)
        c.stroke([top, (xb, 640)], 1.6, (128, 84, 52))
    for y in (440, 486, 552):
        c.paint(c.rect(-10, y, 1034, y + 2), (150, 100, 62), 0.5)
    c.paint(c.rect(-10, 404, 1034, 412), (110, 74, 46))
    # sunlight through the window and the open side
    c.paint(c.soften(c.poly([(300, 412), (620, 412), (560, 640), (150, 640)]), 6), (255, 236, 170), 0.28)
    c.paint(c.soften(c.poly([(700, 412), (1034, 412), (1034, 640), (760, 640)]), 8), (255, 236, 170), 0.3)
    # 5. a braided oval mat
    rings = [(196, 84, 70), (236, 214, 170), (86, 118, 160), (236, 214, 170), (196, 84, 70), (232, 176, 80)]
    mcx, mcy, rx, ry = 500.0, 550.0, 250.0, 66.0
    c.paint(c.soften(c.ellipse(mcx + 6, mcy + 8, rx + 6, ry + 6), 4), (80, 50, 30), 0.35)
    c.paint(c.grow(c.ellipse(mcx, mcy, rx, ry), 2), INK)
    for i, col in enumerate(rings):
        k = 1 - i / len(rings)
        ring = c.ellipse(mcx, mcy, rx * k, ry * k)
        c.paint(ring, col)
        for a in np.linspace(0, 2 * math.pi, int(60 * k) + 8)[:-1]:
            px, py = mcx + math.cos(a) * rx * (k - 0.04), mcy + math.sin(a) * ry * (k - 0.04)
            c.paint(c.ellipse(px, py, 4.5, 1.6, angle=math.degrees(a) + 50), shade(col, 0.8), 0.8)
    c.paint(c.ellipse(mcx, mcy, rx, ry), (255, 240, 200), c.radial(mcx - 80, mcy - 30, 260) * 0.25)
    potted_plant(c, 70, 470, 46, (226, 72, 86), rng)
    potted_plant(c, 930, 472, 40, (240, 140, 170), rng)
    return c.finish()



# -- lighthouse-storm ------------------------------------------------------------------------------------

SAIL: Color = (248, 242, 226)
FOAM: Color = (232, 240, 244)


def draw_sailboat() -> Image.Image:
    """A small sailboat seen from the side: red hull with a white stripe, mast, mainsail, jib and a pennant."""
    c = Canvas(360, 360)
    # 1. sails and mast, behind the hull
    c.outlined(c.rect(174, 36, 184, 276, r=3), (150, 110, 76), 2)
    main = c.poly([(172, 50), *spline([(172, 50), (132, 120), (96, 190), (62, 252)], steps=12)[1:], (172, 252)])
    c.outlined(main, SAIL, 2.5)
    c.paint(main, (196, 186, 166), c.linear(172, 150, 70, 170) * 0.6)
    for y in (110, 160, 210):
        c.paint(c.inter(c.line([(40, y + 14), (172, y - 6)], 1.6), main), (190, 176, 150))
    jib = c.poly([(188, 58), *spline([(188, 58), (236, 130), (276, 200), (304, 246)], steps=12)[1:], (188, 246)])
    c.outlined(jib, SAIL, 2.5)
    c.paint(jib, (196, 186, 166), c.linear(190, 150, 300, 200) * 0.5)
    c.outlined(c.rect(56, 252, 186, 262, r=4), (150, 110, 76), 2)  # the boom
    flag = c.poly([(184, 30), (222, 40), (184, 52)])
    c.outlined(flag, (226, 70, 60), 2)
    # 2. the cabin and the hull
    c.outlined(c.rect(120, 240, 236, 286, r=10), (244, 240, 232), 2.5)
    for x in (146, 176, 206):
        c.outlined(c.ellipse(x, 262, 7, 7), (110, 170, 210), 1.5)
    hull = c.poly([(18, 274), *spline([(18, 274), (60, 318), (140, 338), (250, 334), (318, 310), (346, 266)], steps=12)[1:]])
    c.outlined(hull, (200, 58, 54), 3)
    c.paint(c.inter(hull, c.poly([(0, 274), (360, 262), (360, 282), (0, 294)])), (248, 246, 240))
    c.paint(hull, (110, 24, 30), c.linear(0, 280, 0, 340) * 0.6)
    c.paint(c.inter(hull, c.poly([(0, 316), (360, 300), (360, 360), (0, 360)])), (40, 60, 90))
    c.stroke([(16, 273), (348, 264)], 5, (120, 84, 56))
    return c.finish(crop_margin=4)


def draw_seagull() -> Image.Image:
    """A herring gull gliding to the right, both wings raised: white body, grey wings with black tips."""
    c = Canvas(360, 240)
    wing_grey, tip = (196, 204, 214), (40, 42, 50)
    far = c.blob([(200, 116), (214, 84), (238, 58), (272, 36), (310, 22), (290, 46), (262, 72), (240, 98), (220, 124)])
    c.outlined(far, shade(wing_grey, 0.85), 2.5)
    c.paint(c.inter(far, c.ellipse(310, 22, 42, 28, angle=-30)), tip)
    tail = c.blob([(132, 126), (100, 114), (82, 118), (80, 134), (92, 150), (132, 142)])
    c.outlined(tail, (246, 246, 244), 2.5)
    c.paint(tail, (150, 158, 170), c.linear(110, 0, 80, 0) * 0.8)
    body = c.union(c.ellipse(178, 132, 64, 24, angle=-6), c.ellipse(240, 114, 24, 21))
    c.outlined(body, (250, 250, 248), 2.5)
    c.paint(body, (180, 190, 204), c.linear(0, 150, 0, 110) * 0.6)
    beak = c.poly([(258, 108), (292, 116), (286, 122), (260, 124)])
    c.outlined(beak, (246, 196, 60), 1.8)
    c.paint(c.ellipse(282, 121, 3.2, 2.6), (220, 60, 50))
    c.paint(c.ellipse(246, 108, 4, 4), (20, 20, 26))
    c.paint(c.ellipse(247, 106.5, 1.4, 1.4), (255, 255, 255))
    near = c.blob([(192, 122), (168, 84), (144, 56), (104, 34), (52, 22), (82, 46), (108, 70), (130, 100), (158, 136)])
    c.outlined(near, wing_grey, 2.5)
    c.paint(near, shade(wing_grey, 0.8), c.linear(100, 30, 150, 100) * 0.5)
    c.paint(c.inter(near, c.ellipse(52, 22, 46, 30, angle=25)), tip)
    for x, y in ((64, 28), (80, 36)):
        c.paint(c.ellipse(x, y, 3.5, 2.5, angle=25), (250, 250, 250))
    return c.finish(crop_margin=4)


def storm_sky(c: Canvas, y_horizon: float, rng: np.random.Generator) -> None:
    sky(c, (38, 46, 66), (104, 118, 136), y_horizon)
    for _ in range(9):
        x, y, w = rng.uniform(-60, c.w + 60), rng.uniform(-20, y_horizon * 0.55), rng.uniform(240, 420)
        cloud(c, x, y, w, (76, 86, 106), (46, 54, 72), rng)
    for _ in range(6):
        x, y, w = rng.uniform(-60, c.w + 60), rng.uniform(y_horizon * 0.3, y_horizon * 0.75), rng.uniform(200, 340)
        cloud(c, x, y, w, (98, 108, 126), (64, 74, 92), rng)


def rain(c: Canvas, rng: np.random.Generator, n: int = 260) -> None:
    streaks = [c.line([(x, y), (x - 10, y + 34)], 1.3)
               for x, y in zip(rng.uniform(0, c.w + 40, n), rng.uniform(-20, c.h, n))]
    for k in range(0, n, 40):
        c.paint(c.union(*streaks[k:k + 40]), (200, 214, 230), 0.35)


def waves(c: Canvas, y0: float, y1: float, rows: int, deep: Color, light: Color, rng: np.random.Generator) -> None:
    """Rows of peaked, foam-capped waves from the horizon (y0, small) to the bottom (y1, tall), back to front."""
    c.gradient(c.rect(0, y0, c.w, c.h), [(0.0, light), (1.0, deep)], c.linear(0, y0, 0, y1))
    for i in range(rows):
        t = (i + 1) / rows
        y = y0 + (y1 - y0) * t ** 1.4
        amp, period = 5 + 76 * t ** 1.5, 70 + 260 * t
        phase, swell = rng.uniform(0, math.pi), rng.uniform(0, 2 * math.pi)
        xs = np.arange(-60, c.w + 61, 4.0)
        # a crest is a cusp (1 - |sin|): sharp peaks, round troughs; a slow swell varies the height
        heights = [amp * (0.55 + 0.45 * math.sin(x / (period * 2.7) + swell))
                   * (1 - abs(math.sin(math.pi * x / period + phase))) ** 1.6 for x in xs]
        crest = [(x, y - h) for x, h in zip(xs, heights)]
        # the next row paints over everything below its own crest, so this band can stop there
        bottom = c.h + 10 if i == rows - 1 else y0 + (y1 - y0) * ((i + 2) / rows) ** 1.4 + 4
        band = c.poly([*crest, (c.w + 60, bottom), (-60, bottom)])
        col = mix(light, deep, 0.25 + 0.6 * t)
        c.paint(band, col)
        c.paint(band, shade(col, 0.6), c.linear(0, y - amp * 0.6, 0, y + 20 + 50 * t) * 0.8)
        c.paint(band, shade(col, 1.25), c.linear(0, y + 10, 0, y - amp) * 0.5)
        # foam on the highest peaks, spilling down their faces
        peaks = [k for k in range(1, len(xs) - 1) if heights[k] >= heights[k - 1] and heights[k] >= heights[k + 1]
                 and heights[k] > amp * 0.55]
        for k in peaks:  # sea-green light shining through the thin top of each big wave
            px, py = crest[k]
            c.paint(band, (120, 176, 180), c.radial(px, py + amp * 0.35, period * 0.3) * 0.45)
        foam = []
        for k in peaks:  # a scalloped whitecap: puffs along the crest, biggest on the peak
            m = max(2, int(period * rng.uniform(0.12, 0.2) / 4))
            for j in range(-m, m + 1, max(1, m // 3)):
                if 0 <= k + j < len(crest):
                    fx, fy = crest[k + j]
                    r = (2.5 + 7 * t) * (1 - 0.6 * abs(j) / m)
                    foam.append(c.ellipse(fx, fy + r * 0.5, r * 1.2, r))
            for _ in range(3):
                fx = crest[k][0] + rng.uniform(-1.2, 1.2) * m * 4
                foam.append(c.ellipse(fx, crest[k][1] + rng.uniform(0.4, 0.9) * amp * 0.5, 1.5 + 3 * t, 1 + 1.5 * t))
        if foam:
            f = c.union(*foam)
            c.paint(f, FOAM, 0.92)
            c.paint(f, (150, 176, 196), c.linear(0, y - amp * 0.8, 0, y) * 0.6)
        c.paint(c.line(crest, 0.8 + 1.4 * t), shade(FOAM, 0.9), 0.35)


def draw_sea() -> Image.Image:
    """The open sea in a storm: low clouds, rain, a lightning bolt and rows of foaming waves (1024x768)."""
    rng = np.random.default_rng(21)
    c = Canvas(1024, 768, scale=BG_SCALE, background=(104, 118, 136))
    storm_sky(c, 330, rng)
    bolt = [(700, 60), (676, 150), (708, 158), (664, 270), (690, 276), (650, 336)]
    c.paint(c.soften(c.line(bolt, 18), 12), (220, 230, 255), 0.5)
    c.paint(c.line(bolt, 4), (250, 252, 255))
    waves(c, 330, 768, 9, (18, 40, 58), (84, 112, 130), rng)
    rain(c, rng)
    return c.finish()


def draw_coast() -> Image.Image:
    """A lighthouse on a rocky headland at dusk in the storm, its beam sweeping over the sea (1024x640)."""
    rng = np.random.default_rng(3)
    c = Canvas(1024, 640, scale=BG_SCALE, background=(104, 118, 136))
    storm_sky(c, 340, rng)
    waves(c, 340, 640, 8, (20, 44, 62), (86, 114, 132), rng)
    # 1. the headland: layered rocks rising on the right
    rock, rock_dark = (92, 84, 86), (60, 54, 60)
    cliff = c.poly(spline([(560, 660), (600, 520), (650, 430), (700, 330), (760, 300), (900, 292), (1044, 300)], steps=20)
                   + [(1044, 660)])
    c.outlined(cliff, rock, 3)
    for pts in ([(640, 470), (720, 430), (800, 452)], [(700, 380), (780, 350), (860, 372)], [(760, 520), (860, 480), (980, 500)],
                [(880, 400), (960, 370), (1030, 392)], [(620, 580), (700, 550), (780, 570)]):
        c.paint(c.inter(c.line(spline(pts), 3), cliff), rock_dark)
    c.paint(cliff, rock_dark, c.linear(700, 300, 620, 520) * 0.6)
    grass = c.poly(spline([(700, 336), (760, 298), (900, 290), (1044, 298)], steps=16) + [(1044, 312), (900, 304), (760, 314)])
    c.outlined(grass, (78, 110, 76), 2)
    surf = [c.ellipse(x + dx, y - 6 * math.cos(dx / 20), 14 - abs(dx) / 8, 10 - abs(dx) / 12)
            for x, y in ((596, 604), (650, 628)) for dx in range(-60, 61, 12)]
    c.paint(c.union(*surf), FOAM, 0.85)
    # 2. the lighthouse: tapered tower with red bands, gallery, lantern, dome
    lx, base, top = 860.0, 300.0, 120.0
    tower = c.poly([(lx - 36, base), (lx - 24, top), (lx + 24, top), (lx + 36, base)])
    c.outlined(tower, (240, 238, 232), 3)
    for y0 in (150, 210, 266):
        c.paint(c.inter(tower, c.rect(lx - 40, y0, lx + 40, y0 + 26)), (200, 56, 52))
    c.paint(tower, (90, 90, 110), c.linear(lx - 10, 0, lx + 36, 0) * 0.55)
    c.outlined(c.rect(lx - 10, 272, lx + 10, 300, r=8), (110, 80, 60), 2)
    c.outlined(c.rect(lx - 8, 176, lx + 8, 196, r=6), (255, 220, 120), 1.5)
    # the beam, under the lantern glow
    beam = c.poly([(lx - 4, 92), (-40, 40), (-40, 250), (lx - 4, 102)])
    c.paint(c.soften(beam, 6), (255, 238, 160), c.linear(-40, 0, lx, 0) * 0.55)
    c.paint(c.soften(c.ellipse(lx, 97, 70, 70), 18), (255, 230, 140), 0.7)
    c.outlined(c.rect(lx - 34, 110, lx + 34, 122, r=2), (60, 60, 70), 2)  # the gallery
    for x in np.arange(lx - 30, lx + 31, 10):
        c.stroke([(x, 110), (x, 100)], 1.6, (60, 60, 70))
    c.stroke([(lx - 34, 100), (lx + 34, 100)], 2, (60, 60, 70))
    c.outlined(c.rect(lx - 18, 78, lx + 18, 110, r=2), (255, 236, 150), 2.5)
    c.paint(c.ellipse(lx, 94, 10, 12), (255, 255, 236))
    for x in (lx - 6, lx + 6):
        c.stroke([(x, 80), (x, 108)], 1.5, (60, 60, 70))
    dome = c.poly([(lx - 22, 80), *spline([(lx - 22, 80), (lx - 12, 62), (lx, 56), (lx + 12, 62), (lx + 22, 80)], steps=8)[1:]])
    c.outlined(dome, (200, 56, 52), 2.5)
    c.stroke([(lx, 56), (lx, 44)], 2.5, (60, 60, 70))
    # 3. the keeper's cottage beside it
    house = c.rect(930, 250, 1000, 300)
    c.outlined(house, (226, 222, 212), 2.5)
    c.outlined(c.poly([(922, 252), (965, 222), (1008, 252)]), (120, 70, 60), 2.5)
    c.outlined(c.rect(950, 266, 966, 282), (255, 214, 110), 1.5)
    rain(c, rng)
    return c.finish()



# -- caterpillar-butterfly -------------------------------------------------------------------------------

LEAF: Color = (104, 168, 72)


def draw_caterpillar() -> Image.Image:
    """A plump green caterpillar crawling to the right: humped segments, yellow spots, legs, a smiling face."""
    c = Canvas(440, 240)
    green, belly = (122, 194, 72), (186, 226, 120)
    centers = [(40 + i * 40, 170 - 16 * math.sin(math.pi * min(1.0, i / 6)) ** 2) for i in range(8)]
    # 1. stubby legs, then segments from the tail forward, each outlined so the joins show
    for i, (x, y) in enumerate(centers[:-1]):
        r = 30 + 4 * math.sin(math.pi * i / 7)
        for dx in (-9, 9):
            c.outlined(c.line([(x + dx, y + r - 6), (x + dx + 3, y + r + 9)], 8), (70, 116, 50), 1.5)
    for i, (x, y) in enumerate(centers[:-1]):
        r = 30 + 4 * math.sin(math.pi * i / 7)
        seg = c.ellipse(x, y, r, r * 0.96)
        c.outlined(seg, green, 2.5)
        c.paint(c.inter(seg, c.ellipse(x, y + r * 0.9, r * 0.9, r * 0.55)), belly)
        c.paint(seg, (70, 130, 50), c.linear(x, y - r, x, y + r) * 0.35)
        c.paint(c.ellipse(x - 6, y - r * 0.45, 7, 6), (250, 214, 70))
        c.paint(c.ellipse(x + 10, y - r * 0.2, 4, 3.5), (250, 214, 70))
        c.paint(c.ellipse(x - r * 0.3, y - r * 0.55, r * 0.35, r * 0.16, angle=-20), (255, 255, 255), 0.35)
    # 2. the head: antennae, face
    hx, hy = centers[-1][0] + 26, centers[-1][1] - 32
    for dx, tx in ((-10, -26), (12, 20)):
        c.stroke(spline([(hx + dx, hy - 30), (hx + dx + tx * 0.3, hy - 56), (hx + tx, hy - 70)]), 4, INK)
        c.outlined(c.ellipse(hx + tx, hy - 72, 7, 7), (246, 120, 90), 2)
    head = c.ellipse(hx, hy, 40, 38)
    c.outlined(head, (136, 204, 82), 3)
    c.paint(head, (80, 140, 56), c.linear(hx - 20, hy, hx - 50, hy) * 0.5)
    for ex in (hx - 2, hx + 20):
        eye = c.ellipse(ex, hy - 8, 9, 12)
        c.outlined(eye, (255, 255, 255), 2)
        c.paint(c.ellipse(ex + 3, hy - 6, 5, 7), (24, 24, 30))
        c.paint(c.ellipse(ex + 1, hy - 11, 2, 2), (255, 255, 255))
    c.stroke(spline([(hx + 2, hy + 14), (hx + 14, hy + 22), (hx + 28, hy + 12)]), 3)
    c.paint(c.ellipse(hx + 30, hy + 6, 7, 4), (240, 140, 140), 0.6)
    return c.finish(crop_margin=4)


def draw_butterfly() -> Image.Image:
    """A monarch butterfly seen from above, wings open: orange with black veins and white-dotted borders."""
    c = Canvas(420, 340)
    orange, black = (242, 140, 40), (34, 30, 34)
    cx = 210.0
    for sgn in (-1, 1):
        def P(x: float, y: float) -> Point:  # noqa: N802 - mirror a right-wing point to this side
            return (cx + sgn * x, y)

        upper = c.blob([P(10, 150), P(40, 70), P(110, 26), P(190, 22), P(196, 60), P(170, 120), P(100, 160), P(20, 172)])
        lower = c.blob([P(12, 172), P(80, 166), P(140, 190), P(150, 250), P(110, 300), P(60, 312), P(20, 270), P(8, 210)])
        for wing in (lower, upper):
            c.paint(c.grow(wing, 3.5), black)
            c.paint(wing, orange)
            c.paint(wing, (252, 196, 90), c.radial(cx + sgn * 60, 150, 150) * 0.6)
        border = c.union(c.minus(upper, c.grow(c.blob([P(16, 150), P(44, 78), P(110, 40), P(176, 38), P(178, 64), P(158, 114),
                                                        P(96, 148), P(24, 160)]), 0.1)),
                         c.minus(lower, c.blob([P(18, 180), P(80, 176), P(130, 196), P(136, 246), P(104, 288), P(62, 296),
                                                P(28, 262), P(18, 212)])))
        c.paint(border, black)
        veins = [[P(14, 152), P(70, 90), P(150, 40)], [P(16, 156), P(90, 120), P(176, 80)], [P(20, 162), P(110, 150), P(160, 118)],
                 [P(16, 180), P(80, 220), P(120, 276)], [P(14, 184), P(100, 200), P(134, 236)], [P(12, 190), P(50, 250), P(70, 296)]]
        for v in veins:
            c.paint(c.inter(c.line(spline(v), 3.2), c.union(upper, lower)), black)
        for x, y in [(186, 34), (188, 52), (176, 80), (160, 110), (60, 302), (96, 292), (122, 270), (140, 236), (138, 206), (120, 186)]:
            c.paint(c.ellipse(*P(x, y), 3.2, 3.2), (255, 255, 255))
    # body: thorax, abdomen, head, antennae
    c.outlined(c.ellipse(cx, 210, 9, 60), (52, 46, 52), 2)
    c.outlined(c.ellipse(cx, 150, 12, 20), (60, 54, 60), 2)
    for y in (180, 196, 212, 228, 244):
        c.paint(c.ellipse(cx - 4, y, 2, 2), (250, 250, 250))
    c.outlined(c.ellipse(cx, 124, 11, 10), (60, 54, 60), 2)
    for sgn in (-1, 1):
        c.stroke(spline([(cx + sgn * 4, 116), (cx + sgn * 14, 80), (cx + sgn * 30, 54)]), 2.4)
        c.paint(c.ellipse(cx + sgn * 31, 52, 5, 5), INK)
    return c.finish(crop_margin=4)


def leaf(c: Canvas, base: Point, tip: Point, width: float, color: Color, bite: Point | None = None) -> None:
    """A leaf from its stalk to its tip with a midrib and side veins; `bite` takes a round nibble out of it."""
    (bx, by), (tx, ty) = base, tip
    dx, dy = tx - bx, ty - by
    length = math.hypot(dx, dy)
    nx, ny = -dy / length, dx / length
    def at(t: float, side: float) -> Point:
        w = width * math.sin(math.pi * t) ** 0.8 * side
        return (bx + dx * t + nx * w, by + dy * t + ny * w)
    shape = c.poly([at(t, 1) for t in np.linspace(0, 1, 24)] + [at(t, -1) for t in np.linspace(1, 0, 24)])
    if bite is not None:
        shape = c.minus(shape, c.union(*(c.ellipse(bite[0] - abs(k) * 3, bite[1] + k * 18, 15, 15) for k in range(-1, 2))))
    c.outlined(shape, color, 2)
    c.paint(shape, shade(color, 0.75), Field(lambda xx, yy: ((xx - bx) * nx + (yy - by) * ny < 0).astype(np.float32)) * 0.5)
    c.paint(c.inter(c.line([at(0, 0), at(0.95, 0)], 2.4), shape), shade(color, 1.35))
    for t in np.arange(0.18, 0.85, 0.14):
        for side in (1, -1):
            c.paint(c.inter(c.line([at(t, 0), at(t + 0.1, side * 0.75)], 1.4), shape), shade(color, 1.3))


def draw_branch() -> Image.Image:
    """A close-up of a leafy branch against a soft, out-of-focus garden: where the caterpillar lives (1024x640)."""
    rng = np.random.default_rng(8)
    c = Canvas(1024, 640, scale=BG_SCALE, background=(170, 206, 150))
    c.gradient(c.rect(0, 0, 1024, 640), [(0.0, (196, 226, 176)), (1.0, (118, 168, 96))], c.linear(0, 0, 0, 640))
    for _ in range(40):  # bokeh: soft discs of light and leaves far behind
        x, y, r = rng.uniform(0, 1024), rng.uniform(0, 640), rng.uniform(20, 70)
        col = [(220, 240, 200), (140, 190, 110), (250, 246, 214), (120, 170, 100)][int(rng.integers(4))]
        c.paint(c.soften(c.ellipse(x, y, r, r), r * 0.25), col, 0.35)
    # 1. the branch: a thick twig across the frame with a fork, under the caterpillar's path
    branch = spline([(-30, 470), (200, 440), (460, 452), (700, 420), (900, 380), (1060, 360)], steps=20)
    c.paint(c.grow(c.line(branch, 34, 20), 2.5), INK)
    c.paint(c.line(branch, 34, 20), (132, 96, 64))
    c.paint(c.line([(p[0], p[1] - 6) for p in branch], 8, 4), (168, 128, 90), 0.7)
    twig = spline([(560, 444), (610, 380), (640, 300), (650, 230)], steps=16)
    c.outlined(c.line(twig, 16, 8), (132, 96, 64), 2.5)
    # 2. leaves along the branch; one with a caterpillar bite
    leaf(c, (120, 450), (40, 260), 70, (96, 160, 66))
    leaf(c, (260, 446), (330, 620), 80, LEAF, bite=(380, 518))
    leaf(c, (420, 454), (520, 610), 64, (92, 156, 64))
    leaf(c, (640, 300), (780, 190), 60, (112, 176, 76))
    leaf(c, (610, 380), (470, 270), 56, (100, 164, 70))
    leaf(c, (820, 396), (980, 560), 78, LEAF)
    leaf(c, (940, 372), (1010, 200), 60, (92, 156, 64))
    leaf(c, (650, 234), (700, 110), 40, (120, 182, 80))
    for x, y in ((180, 120), (860, 110), (420, 170)):  # dew drops on the air, catching the light
        c.paint(c.soften(c.ellipse(x, y, 10, 10), 3), (255, 255, 240), 0.6)
    return c.finish()


def draw_meadow() -> Image.Image:
    """A summer wildflower meadow under a blue sky: hills, a tree, poppies, daisies and cornflowers (1024x640)."""
    rng = np.random.default_rng(14)
    c = Canvas(1024, 640, scale=BG_SCALE, background=(214, 236, 248))
    sky(c, (96, 170, 236), (220, 238, 250), 330)
    c.paint(c.soften(c.ellipse(150, 90, 80, 80), 30), (255, 248, 210), 0.9)
    c.paint(c.ellipse(150, 90, 42, 42), (255, 238, 150))
    for cx, cy, w in ((420, 80, 180), (760, 120, 240), (1000, 60, 140)):
        cloud(c, cx, cy, w, (255, 255, 255), (210, 224, 240), rng)
    far = c.poly(spline([(-20, 320), (200, 280), (420, 300), (700, 260), (1044, 300)], steps=20) + [(1044, 420), (-20, 420)])
    c.paint(far, (156, 200, 140))
    c.outlined(c.poly([(770, 330), (776, 230), (790, 230), (798, 330)]), (122, 88, 62), 2)
    bush(c, 784, 250, 170, 150, (86, 150, 82), rng)
    near = c.poly(spline([(-20, 350), (260, 330), (560, 356), (820, 336), (1044, 350)], steps=20) + [(1044, 660), (-20, 660)])
    c.gradient(near, [(0.0, (150, 204, 100)), (1.0, (94, 160, 70))], c.linear(0, 340, 0, 640))
    grass_tufts(c, 350, 640, 170, [(104, 164, 72), (86, 146, 62), (122, 178, 84)], rng, (10, 26))
    flowers = sorted(((rng.uniform(0, 1024), rng.uniform(360, 630)) for _ in range(90)), key=lambda p: p[1])
    for x, y in flowers:
        r = 3 + (y - 360) / 30
        kind = int(rng.integers(3))
        if kind == 0:
            daisy(c, x, y, r)
        elif kind == 1:  # poppy
            c.stroke([(x, y), (x + r * 0.3, y + r * 3.5)], max(1.2, r * 0.2), (84, 140, 70))
            petals = c.union(*(c.ellipse(x + math.cos(a) * r * 0.45, y + math.sin(a) * r * 0.35, r * 0.62, r * 0.5)
                               for a in (0.3, 1.9, 3.5, 5.1)))
            c.outlined(petals, (226, 58, 48), 1.0)
            c.paint(c.ellipse(x, y, r * 0.25, r * 0.22), (40, 30, 36))
        else:
            daisy(c, x, y, r * 0.9, petal=(98, 130, 226), heart=(60, 70, 150))
    return c.finish()


# -- writing the examples -------------------------------------------------------------------------------

DRAWINGS: dict[str, dict[str, Callable[[], Image.Image]]] = {
    "kitten-garden": {"kitten": draw_kitten, "ball": draw_ball, "garden": draw_garden, "porch": draw_porch},
    "lighthouse-storm": {"sailboat": draw_sailboat, "seagull": draw_seagull, "sea": draw_sea, "coast": draw_coast},
    "caterpillar-butterfly": {"caterpillar": draw_caterpillar, "butterfly": draw_butterfly, "branch": draw_branch,
                              "meadow": draw_meadow},
}


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def make_example(folder: Path, drawings: dict[str, Callable[[], Image.Image]]) -> None:
    """Draw every entity of one example into its assets/ and point the storyboard at the drawings."""
    sb_path = folder / "storyboard.json"
    data = json.loads(sb_path.read_text(encoding="utf-8"))
    parse_storyboard(data, str(sb_path))  # refuse a broken storyboard before drawing anything
    missing = [e["id"] for e in data["entities"] if e["id"] not in drawings]
    if missing:
        raise SystemExit(f"{folder.name}: no drawing for entity {', '.join(repr(m) for m in missing)}")
    for entity in data["entities"]:
        img = drawings[entity["id"]]()
        rel = f"assets/{entity['id']}.png"
        atomic_write_bytes(folder / rel, png_bytes(img))
        foreground = entity["kind"] == "foreground"
        entity["reference"] = {"image": rel, "source": "drawn", "cutout": foreground, "seed": None}
        print(f"{folder.name}/{rel}: {img.width}x{img.height} {img.mode}")
    atomic_write_text(sb_path, parse_storyboard(data, str(sb_path)).to_json())


def main(argv: Sequence[str]) -> int:
    root = Path(argv[0]) if argv else Path(__file__).resolve().parent
    for name, drawings in DRAWINGS.items():
        folder = root / name
        if (folder / "storyboard.json").is_file():
            try:
                make_example(folder, drawings)
            except StoryboardError as err:
                print(err, file=sys.stderr)
                return 2
            except ValueError as err:  # malformed JSON
                print(f"{folder / 'storyboard.json'}: {err}", file=sys.stderr)
                return 2
        else:
            print(f"{name}: no storyboard.json under {root}, skipped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
