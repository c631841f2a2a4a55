"""The animatic: the CPU preview a storyboard artist would show a client.

Per frame: the background (its reference image, or a soft labelled placeholder) seen through a camera
window that pans, tilts or zooms and drifts with the background motion; each foreground entity's reference
(a cut-out scaled into its interpolated box, aspect kept, standing on the box's bottom edge) or a labelled
coloured card; an optional lower-third caption with the scene title and the current frame description.

Foreground boxes are screen space (what the editor draws), so they are not moved by the camera.
`compose_frame` is also the editor's layout preview, so decoded and scaled images, background plates and
caption overlays are cached.
"""

from __future__ import annotations

import colorsys
import hashlib
import logging
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from flowdrafter.core.errors import AssetError, RenderError
from flowdrafter.core.images import load_asset_image
from flowdrafter.core.layout import ease, frame_description, frame_layout, norm_to_pixels
from flowdrafter.core.project import Project
from flowdrafter.core.storyboard import CameraMotion, Easing, Entity, Scene, Storyboard

from .base import FrameSink, Generator, RenderContext, register
from .drawing import blend_text, caption_overlay, entity_color, font, text_size

log = logging.getLogger("flowdrafter.animatic")

MAX_PLATE_FRAMES = 3.0  # a background plate covers at most this many frames per axis; beyond, it wraps
MAX_PLATE_SIDE = 4096
_LOCK = threading.RLock()  # the caches below are shared by the editor's preview and render threads


# -- reference images -----------------------------------------------------------------------------------


class _References:
    """Decoded reference images keyed by file identity, and their scaled versions; warnings are kept."""

    def __init__(self, max_scaled: int = 256):
        self._decoded: dict[tuple, Image.Image | str] = {}  # image, or why it cannot be used
        self._scaled: OrderedDict[tuple, Image.Image] = OrderedDict()
        self._max_scaled = max_scaled
        self.warnings: list[str] = []

    def _identity(self, project: Project, rel: str) -> tuple | str:
        try:
            path = project.resolve_asset(rel)
            st = path.stat()
        except AssetError as err:
            return str(err)
        except OSError:
            return f"{rel} does not exist"
        return (str(path), st.st_mtime_ns, st.st_size)

    def load(self, project: Project, entity: Entity) -> tuple[tuple, Image.Image] | None:
        """(identity, image) for an entity's reference, or None (and a warning) when it cannot be used."""
        with _LOCK:
            return self._load(project, entity)

    def _load(self, project: Project, entity: Entity) -> tuple[tuple, Image.Image] | None:
        if entity.reference is None:
            return None
        ident = self._identity(project, entity.reference.image)
        if isinstance(ident, str):
            self._warn(f"entity {entity.id}: reference {ident}; drawing a placeholder")
            return None
        if ident not in self._decoded:
            try:
                img = load_asset_image(project, entity.reference.image)
                if img.mode == "RGBA":
                    bbox = img.getchannel("A").getbbox()  # trim transparent margins of cut-outs
                    if bbox is None:
                        raise AssetError(f"{entity.reference.image} is fully transparent")
                    img = img.crop(bbox)
                self._decoded[ident] = img
            except AssetError as err:
                self._decoded[ident] = f"entity {entity.id}: {err}; drawing a placeholder"
            if len(self._decoded) > 64:
                self._decoded.pop(next(iter(self._decoded)))
        img = self._decoded.get(ident)
        if isinstance(img, str):  # unusable: say so on every render, not only the first
            self._warn(img)
            return None
        return None if img is None else (ident, img)

    def scaled(self, ident: tuple, img: Image.Image, size: tuple[int, int]) -> Image.Image:
        with _LOCK:
            return self._scaled_locked(ident, img, size)

    def _scaled_locked(self, ident: tuple, img: Image.Image, size: tuple[int, int]) -> Image.Image:
        key = (ident, size)
        out = self._scaled.get(key)
        if out is None:
            out = img.resize(size, Image.LANCZOS, reducing_gap=2.0)
            self._scaled[key] = out
            if len(self._scaled) > self._max_scaled:
                self._scaled.popitem(last=False)
        else:
            self._scaled.move_to_end(key)
        return out

    def _warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            log.warning(message)

    def drain_warnings(self) -> list[str]:
        with _LOCK:
            out, self.warnings = self.warnings, []
        return out


_REFS = _References()


# -- camera and background --------------------------------------------------------------------------------


def camera_window(scene: Scene, frame: int) -> tuple[float, float, float]:
    """(centre x, centre y, scale) of the camera window in frame units; scale 1 is the whole frame.

    Pan and tilt move the window by up to half a frame at strength 1; zoom shrinks it to half its size at
    strength 1. The background motion (dx, dy per frame) moves the content, so the window moves against it.
    """
    n = scene.num_frames
    t = ease(frame / (n - 1), Easing.ease_in_out) if n > 1 else 0.0
    strength = scene.camera.strength
    travel = 0.5 * strength
    cx, cy, s = 0.5, 0.5, 1.0
    motion = scene.camera.motion
    if motion is CameraMotion.pan_right:
        cx = 0.5 - travel / 2 + travel * t
    elif motion is CameraMotion.pan_left:
        cx = 0.5 + travel / 2 - travel * t
    elif motion is CameraMotion.tilt_down:
        cy = 0.5 - travel / 2 + travel * t
    elif motion is CameraMotion.tilt_up:
        cy = 0.5 + travel / 2 - travel * t
    elif motion is CameraMotion.zoom_in:
        s = 1.0 - 0.5 * strength * t
    elif motion is CameraMotion.zoom_out:
        s = 1.0 - 0.5 * strength * (1.0 - t)
    cx -= scene.background_motion.dx * frame
    cy -= scene.background_motion.dy * frame
    return cx, cy, s


def _cover(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale and centre-crop to fill `size` exactly, keeping the aspect ratio."""
    w, h = size
    scale = max(w / img.width, h / img.height)
    sw, sh = max(w, math.ceil(img.width * scale)), max(h, math.ceil(img.height * scale))
    big = img.convert("RGB").resize((sw, sh), Image.LANCZOS, reducing_gap=2.0)
    left, top = (sw - w) // 2, (sh - h) // 2
    return big.crop((left, top, left + w, top + h))


def placeholder_background(size: tuple[int, int], entity: Entity | None, frame_h: int) -> Image.Image:
    """A soft two-tone gradient with a horizon, gentle shapes (so motion reads) and the entity's name."""
    w, h = size
    key = entity.id if entity else "none"
    r, g, b = entity_color(key)
    hue, _, _ = colorsys.rgb_to_hls(r / 255, g / 255, b / 255)

    def tone(l: float, s: float, dh: float = 0.0) -> np.ndarray:
        return np.array(colorsys.hls_to_rgb((hue + dh) % 1.0, l, s)) * 255

    sky_top, sky_low = tone(0.86, 0.35), tone(0.93, 0.25)
    ground_top, ground_low = tone(0.78, 0.30, 0.08), tone(0.66, 0.28, 0.08)
    ys = np.linspace(0.0, 1.0, h)[:, None]
    horizon = 0.62
    upper = sky_top + (sky_low - sky_top) * np.clip(ys / horizon, 0, 1)
    lower = ground_top + (ground_low - ground_top) * np.clip((ys - horizon) / (1 - horizon), 0, 1)
    mix = np.clip((ys - horizon) / 0.03 + 0.5, 0, 1)  # a soft horizon, not a hard edge
    col = upper * (1 - mix) + lower * mix
    arr = np.broadcast_to(col[:, None, :], (h, w, 3)).astype(np.uint8)
    img = Image.fromarray(np.ascontiguousarray(arr), "RGB")

    # Soft shapes: rounded hills on the horizon and pale clouds, seeded by the entity id, so motion reads.
    rng = np.random.default_rng(int(hashlib.sha1(key.encode()).hexdigest()[:8], 16))
    unit = frame_h
    blur = ImageFilter.GaussianBlur(max(1, unit // 50))
    hills, clouds = Image.new("L", size, 0), Image.new("L", size, 0)
    dh, dc = ImageDraw.Draw(hills), ImageDraw.Draw(clouds)
    for _ in range(max(3, int(w / unit * 2.5))):
        cx, rad = rng.uniform(0, w), rng.uniform(0.25, 0.6) * unit
        top = horizon * h - rng.uniform(0.05, 0.2) * unit
        dh.ellipse((cx - rad * 1.8, top, cx + rad * 1.8, top + 2 * rad), fill=int(rng.uniform(70, 120)))
    for _ in range(max(2, int(w / unit * 1.5))):
        cx, cy, rad = rng.uniform(0, w), rng.uniform(0.08, 0.42) * h, rng.uniform(0.04, 0.1) * unit
        for k in range(3):  # a cloud is three overlapping puffs
            ox = (k - 1) * rad * 1.3
            dc.ellipse((cx + ox - rad * 1.4, cy - rad * (1.0 if k == 1 else 0.7), cx + ox + rad * 1.4, cy + rad), fill=150)
    img.paste(tuple(int(c) for c in tone(0.70, 0.26, 0.08)), (0, 0), hills.filter(blur))
    img.paste((255, 255, 255), (0, 0), clouds.filter(blur))

    # The label: the name, and a quiet "no reference image yet" line, centred on the plate.
    d = ImageDraw.Draw(img)
    name = entity.name if entity else "no background"
    f_big, f_small = font(unit * 0.09, bold=True), font(unit * 0.045)
    tw, th = text_size(d, name, f_big)
    sub = "background · no reference image yet" if entity else "this scene has no background entity"
    sw, sh = text_size(d, sub, f_small)
    cx, cy = w / 2, h * 0.36
    shadow = max(1, unit // 160)
    for (x, y), text, fnt, alpha in (((cx - tw / 2, cy - th), name, f_big, 225), ((cx - sw / 2, cy + th * 0.45), sub, f_small, 200)):
        blend_text(img, (x + shadow, y + shadow), text, fnt, (0, 0, 0), 50)
        blend_text(img, (x, y), text, fnt, (255, 255, 255), alpha)
    return img


@dataclass
class _Plate:
    image: Image.Image
    windows: list[tuple[float, float, float, float]]  # per frame, in plate pixels


def _make_plate(project: Project, sb: Storyboard, scene: Scene, refs: _References) -> _Plate:
    W, H = sb.width, sb.height
    wins = []
    for f in range(scene.num_frames):
        cx, cy, s = camera_window(scene, f)
        wins.append((cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2))
    ox, oy = min(w[0] for w in wins), min(w[1] for w in wins)
    ext_w, ext_h = max(w[2] for w in wins) - ox, max(w[3] for w in wins) - oy
    wrap = ext_w > MAX_PLATE_FRAMES or ext_h > MAX_PLATE_FRAMES
    if wrap:  # long drifts: a 2x2-frame plate mirrored into a seamless texture
        ext_w, ext_h = 2.0, 2.0
    # Oversample so the tightest zoom window still has (about) native resolution.
    q = 1.0 / min(min(w[2] - w[0] for w in wins), 1.0)
    q = min(q, MAX_PLATE_SIDE / (ext_w * W), MAX_PLATE_SIDE / (ext_h * H))
    pw, ph = max(2, round(ext_w * W * q)), max(2, round(ext_h * H * q))

    bg = sb.entity(scene.background) if scene.background else None
    loaded = refs.load(project, bg) if bg is not None else None
    if loaded is not None:
        plate = _cover(loaded[1], (pw, ph))
    else:
        plate = placeholder_background((pw, ph), bg, round(H * q))
    windows = [((x0 - ox) * W * q, (y0 - oy) * H * q, (x1 - ox) * W * q, (y1 - oy) * H * q) for x0, y0, x1, y1 in wins]
    if wrap:
        arr = np.asarray(plate)
        plate = Image.fromarray(np.pad(arr, ((0, 2 * ph), (0, 2 * pw), (0, 0)), mode="symmetric"))
        windows = [
            (x0 % (2 * pw), y0 % (2 * ph), x0 % (2 * pw) + (x1 - x0), y0 % (2 * ph) + (y1 - y0))
            for x0, y0, x1, y1 in windows
        ]
    return _Plate(plate, [_inside(w, plate.width, plate.height) for w in windows])


_PLATES: OrderedDict[tuple, _Plate] = OrderedDict()


def _plate(project: Project, sb: Storyboard, scene: Scene, refs: _References) -> _Plate:
    """The scene's plate, shared by edits that do not touch the background or the camera (box edits)."""
    bg = sb.entity(scene.background) if scene.background else None
    stamp = None
    if bg is not None and bg.reference is not None:
        try:
            st = project.resolve_asset(bg.reference.image).stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except (OSError, AssetError):
            stamp = "unusable"
    key = (str(project.root), bg.model_dump_json() if bg else None, stamp, scene.camera.model_dump_json(),
           scene.background_motion.model_dump_json(), scene.num_frames, sb.width, sb.height)  # fmt: skip
    with _LOCK:
        plate = _PLATES.get(key)
        if plate is None or (stamp == "unusable"):
            plate = _make_plate(project, sb, scene, refs)
            _PLATES[key] = plate
            if len(_PLATES) > 8:
                _PLATES.popitem(last=False)
        else:
            _PLATES.move_to_end(key)
        return plate


def _inside(win: tuple[float, float, float, float], pw: int, ph: int) -> tuple[float, float, float, float]:
    """Shift a window back inside the plate (rounding can push it out by a fraction of a pixel)."""
    x0, y0, x1, y1 = win
    ww, wh = min(x1 - x0, pw), min(y1 - y0, ph)
    x0, y0 = min(max(x0, 0.0), pw - ww), min(max(y0, 0.0), ph - wh)
    return (x0, y0, x0 + ww, y0 + wh)


# -- foreground ----------------------------------------------------------------------------------------------


def _placeholder_card(entity_id: str, name: str, size: tuple[int, int], frame_h: int) -> Image.Image:
    """A translucent rounded card in the entity's colour with its initial, standing in for a missing image."""
    w, h = size
    col = entity_color(entity_id)
    card = Image.new("RGBA", size, (0, 0, 0, 0))
    d = ImageDraw.Draw(card)
    radius = max(2, min(w, h) // 8)
    d.rounded_rectangle((0, 0, w - 1, h - 1), radius=radius, fill=(*col, 115), outline=(*col, 255), width=max(2, frame_h // 160))
    initial = (name.strip()[:1] or "?").upper()
    fnt = font(min(w, h) * 0.5, bold=True)
    x0, y0, x1, y1 = d.textbbox((0, 0), initial, font=fnt)
    d.text(((w - (x1 - x0)) / 2 - x0, (h - (y1 - y0)) / 2 - y0 - h * 0.06), initial, font=fnt, fill=(255, 255, 255, 150))
    return card


@lru_cache(maxsize=256)
def _name_pill(name: str, entity_id: str, frame_h: int) -> Image.Image:
    """The entity's name on a white pill; drawn over the card's bottom edge and allowed to overhang it."""
    fnt = font(max(9, frame_h * 0.042), bold=True)
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    x0, y0, x1, y1 = probe.textbbox((0, 0), name, font=fnt)
    px, py = max(4, frame_h // 80), max(2, frame_h // 160)
    w, h = x1 - x0 + 2 * px, y1 - y0 + 2 * py
    pill = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(pill)
    d.rounded_rectangle((0, 0, w - 1, h - 1), radius=h // 2, fill=(255, 255, 255, 230))
    dark = tuple(int(c * 0.6) for c in entity_color(entity_id))
    d.text((px - x0, py - y0), name, font=fnt, fill=(*dark, 255))
    return pill


def _fit_into(img: Image.Image, box_w: int, box_h: int) -> tuple[int, int]:
    scale = min(box_w / img.width, box_h / img.height)
    return max(1, round(img.width * scale)), max(1, round(img.height * scale))


# -- one scene ---------------------------------------------------------------------------------------------------


class SceneCompositor:
    """Composes the frames of one scene; the background plate is built once per scene."""

    def __init__(self, project: Project, storyboard: Storyboard, scene_id: str, *, captions: bool = True, refs: _References | None = None):
        self.project, self.sb = project, storyboard
        scene = storyboard.scene(scene_id)
        if scene is None:
            raise RenderError(f"no scene with id '{scene_id}'")
        self.scene = scene
        self.captions = captions
        self.refs = refs or _REFS
        self.plate = _plate(project, storyboard, scene, self.refs)

    def frame(self, f: int) -> Image.Image:
        sb, scene = self.sb, self.scene
        f = min(max(int(f), 0), scene.num_frames - 1)
        W, H = sb.width, sb.height
        x0, y0, x1, y1 = self.plate.windows[f]
        if abs((x1 - x0) - W) < 1e-6 and abs((y1 - y0) - H) < 1e-6:  # pan/tilt/drift at 1:1: a crop is enough
            left, top = round(x0), round(y0)
            img = self.plate.image.crop((left, top, left + W, top + H))
        else:
            img = self.plate.image.resize((W, H), Image.BILINEAR, box=(x0, y0, x1, y1))
        for entity_id, box in frame_layout(scene, f).items():
            entity = sb.entity(entity_id)
            if entity is None:
                continue
            x0, y0, x1, y1 = norm_to_pixels(box, W, H)
            bw, bh = max(1, x1 - x0), max(1, y1 - y0)
            loaded = self.refs.load(self.project, entity)
            if loaded is None:
                card = _card_cached(entity.id, entity.name, bw, bh, H)
                img.paste(card, (x0, y0), card)
                pill = _name_pill(entity.name, entity.id, H)
                lx = min(max(0, x0 + (bw - pill.width) // 2), W - pill.width)
                ly = min(max(0, y1 - pill.height - max(3, bh // 14)), H - pill.height)
                img.paste(pill, (lx, ly), pill)
                continue
            ident, ref = loaded
            size = _fit_into(ref, bw, bh)
            cut = self.refs.scaled(ident, ref, size)
            px, py = x0 + (bw - size[0]) // 2, y1 - size[1]  # centred, standing on the box's bottom edge
            if cut.mode == "RGBA":
                img.paste(cut, (px, py), cut)
            else:
                img.paste(cut, (px, py))
        if self.captions:
            prev, nxt, w = frame_description(scene, f)
            text = nxt if w >= 0.5 else prev
            badge = scene.id.upper()
            strip, top = caption_overlay(scene.title, text, badge, W, H)
            img.paste(strip, (0, top), strip)
        return img


@lru_cache(maxsize=512)
def _card_cached(entity_id: str, name: str, w: int, h: int, frame_h: int) -> Image.Image:
    return _placeholder_card(entity_id, name, (w, h), frame_h)


_COMPOSITORS: OrderedDict[tuple, SceneCompositor] = OrderedDict()


def _compositor_key(project: Project, sb: Storyboard, scene: Scene, captions: bool) -> tuple:
    ids = {t.entity for t in scene.tracks} | ({scene.background} if scene.background else set())
    ents = [e.model_dump_json() for e in sb.entities if e.id in ids]
    stamps = []
    for e in sb.entities:
        if e.id in ids and e.reference is not None:
            try:
                st = project.resolve_asset(e.reference.image).stat()
                stamps.append((st.st_mtime_ns, st.st_size))
            except (OSError, AssetError):
                stamps.append(None)
    return (str(project.root), scene.model_dump_json(exclude={"warnings"}), tuple(ents), tuple(stamps),
            sb.width, sb.height, captions)  # fmt: skip


def compose_frame(project: Project, storyboard: Storyboard, scene_id: str, frame: int, *, captions: bool = True) -> Image.Image:
    """One animatic frame as an RGB image at the storyboard's size (the editor's layout preview).

    Fast on repeated calls: the scene's background plate, decoded and scaled references and caption
    overlays are cached, and the cache notices edits to the scene and to reference files.
    """
    scene = storyboard.scene(scene_id)
    if scene is None:
        raise RenderError(f"no scene with id '{scene_id}'")
    key = _compositor_key(project, storyboard, scene, captions)
    with _LOCK:
        comp = _COMPOSITORS.get(key)
        if comp is None:
            comp = SceneCompositor(project, storyboard, scene_id, captions=captions)
            _COMPOSITORS[key] = comp
            if len(_COMPOSITORS) > 16:
                _COMPOSITORS.popitem(last=False)
        else:
            _COMPOSITORS.move_to_end(key)
    return comp.frame(frame)


def reference_warnings() -> list[str]:
    """Warnings about unusable reference images since the last call (placeholders were drawn)."""
    return _REFS.drain_warnings()


@register
class AnimaticGenerator(Generator):
    """CPU animatic: camera and background motion over the background, cut-outs or cards in their boxes."""

    name = "animatic"
    version = "1"
    description = "Fast CPU preview: reference images (or placeholders) moved by the storyboard's camera and boxes."
    uses_seed = False
    uses_style = False

    def cache_settings(self) -> dict[str, Any]:
        return {"captions": bool(getattr(self.settings, "animatic_captions", True))}

    def render_scene(self, ctx: RenderContext, sink: FrameSink) -> None:
        # 1. check inputs and build the scene's background plate
        scene = ctx.scene
        captions = bool(ctx.options.get("captions", self.cache_settings()["captions"]))
        comp = SceneCompositor(ctx.project, ctx.storyboard, ctx.scene_id, captions=captions)
        # 2. compose and write every frame
        n = scene.num_frames
        for f in range(n):
            ctx.check_cancelled()
            sink.write(np.asarray(comp.frame(f)))
            ctx.progress((f + 1) / n, f"frame {f + 1}/{n}")

    def take_warnings(self) -> list[str]:
        return reference_warnings()


__all__ = ["AnimaticGenerator", "SceneCompositor", "camera_window", "compose_frame", "reference_warnings"]
