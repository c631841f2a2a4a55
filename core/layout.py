"""Boxes over time: interpolation between keyframes, a scene's per-frame layout, and format conversions.

Inside FlowDrafter a box is always normalized `[x0, y0, x1, y1]` (origin top-left, y down). Other formats
are converted here, at the edges: pixel boxes from the editor widget, and the `[x, y, w, h]`-on-a-512-canvas
boxes of LMD/LVD prompts.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

from .storyboard import Box, Easing, Keyframe, Scene, Track


def ease(t: float, easing: Easing) -> float:
    if easing is Easing.ease_in_out:
        return 0.5 - 0.5 * math.cos(math.pi * t)
    return t


def lerp_box(a: Box, b: Box, t: float) -> Box:
    return tuple(p + (q - p) * t for p, q in zip(a, b))  # type: ignore[return-value]


def interpolate_box(keyframes: Sequence[Keyframe], frame: int, easing: Easing = Easing.linear) -> Box:
    """The box at `frame`: exact on keyframes, interpolated between, held before the first and after the last."""
    if not keyframes:
        raise ValueError("a track needs at least one keyframe")
    frames = [k.frame for k in keyframes]
    i = bisect.bisect_right(frames, frame)
    if i == 0:
        return tuple(keyframes[0].box)  # type: ignore[return-value]
    if i == len(keyframes):
        return tuple(keyframes[-1].box)  # type: ignore[return-value]
    a, b = keyframes[i - 1], keyframes[i]
    t = (frame - a.frame) / (b.frame - a.frame)
    return lerp_box(a.box, b.box, ease(t, easing))


def track_box(track: Track, frame: int) -> Box:
    return interpolate_box(track.keyframes, frame, track.easing)


def frame_layout(scene: Scene, frame: int) -> dict[str, Box]:
    """Entity id -> box on one frame of a scene, in track order (back to front)."""
    return {t.entity: track_box(t, frame) for t in scene.tracks}


def scene_layout(scene: Scene) -> list[dict[str, Box]]:
    """The full per-frame layout of a scene: one {entity id: box} per frame."""
    return [frame_layout(scene, f) for f in range(scene.num_frames)]


def frame_description(scene: Scene, frame: int) -> tuple[str, str, float]:
    """(previous note, next note, weight of next) at `frame`, for prompt travel and captions."""
    notes = scene.frames
    if not notes:
        return scene.event, scene.event, 0.0
    frames = [n.frame for n in notes]
    i = bisect.bisect_right(frames, frame)
    if i == 0:
        return notes[0].description, notes[0].description, 0.0
    if i == len(notes):
        return notes[-1].description, notes[-1].description, 0.0
    a, b = notes[i - 1], notes[i]
    return a.description, b.description, (frame - a.frame) / (b.frame - a.frame)


def keyframe_frames(scene: Scene) -> list[int]:
    """Every frame on which some track or frame description has a keyframe, sorted."""
    frames = {k.frame for t in scene.tracks for k in t.keyframes} | {n.frame for n in scene.frames}
    return sorted(frames)


# -- conversions at the edges --------------------------------------------------------------------------


def clamp_box(box: Sequence[float], min_size: float = 0.01) -> Box:
    """Force any four finite numbers into a valid normalized box (used by repair, never by validation)."""
    vals = [0.0 if not math.isfinite(float(v)) else float(v) for v in box]
    x0, y0, x1, y1 = (min(max(v, 0.0), 1.0) for v in vals)
    if x0 > x1:
        x0, x1 = x1, x0
    if y0 > y1:
        y0, y1 = y1, y0

    def widen(a: float, b: float) -> tuple[float, float]:
        if b - a >= min_size:
            return a, b
        mid = min(max((a + b) / 2, min_size / 2), 1 - min_size / 2)
        return mid - min_size / 2, mid + min_size / 2

    x0, x1 = widen(x0, x1)
    y0, y1 = widen(y0, y1)
    return (round(x0, 6), round(y0, 6), round(x1, 6), round(y1, 6))


def pixels_to_norm(box: Sequence[float], width: int, height: int) -> Box:
    """Editor pixel `[x0, y0, x1, y1]` -> normalized, clamped to the frame."""
    x0, y0, x1, y1 = (float(v) for v in box)
    return clamp_box((x0 / width, y0 / height, x1 / width, y1 / height))


def norm_to_pixels(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return (round(x0 * width), round(y0 * height), round(x1 * width), round(y1 * height))


def lmd_to_norm(box: Sequence[float], canvas: tuple[int, int] = (512, 512)) -> Box:
    """LMD/LVD `[x, y, w, h]` on a canvas (512x512 by default) -> normalized `[x0, y0, x1, y1]`."""
    x, y, w, h = (float(v) for v in box)
    cw, ch = canvas
    return clamp_box((x / cw, y / ch, (x + w) / cw, (y + h) / ch))


def norm_to_lmd(box: Box, canvas: tuple[int, int] = (512, 512)) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    cw, ch = canvas
    return (round(x0 * cw), round(y0 * ch), round((x1 - x0) * cw), round((y1 - y0) * ch))


def box_area(box: Box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def box_center(box: Box) -> tuple[float, float]:
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


def box_iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0
