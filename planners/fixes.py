"""Deterministic geometry fixes for the problems `planners.checks` finds, applied when the LLM's own
refinement rounds are used up. Each fix is small and predictable, so a person can see in the editor what
was changed (the problems become warnings on the scene).
"""

from __future__ import annotations

import math

from flowdrafter.core.layout import box_center, box_iou, clamp_box
from flowdrafter.core.storyboard import Box

from .checks import (
    MAX_AREA,
    MAX_IOU,
    MAX_SPEED,
    MIN_AREA,
    MIN_SCALE,
    MIN_SIDE,
    FOLLOWS,
    Problem,
    SceneContext,
    box_at,
    direction_ok,
    event_directions,
    held,
    subject,
    tracks_of,
)
from .words import repeats
from .schemas import BoxReply, KeyframeReply, LayoutReply, MotionReply

Tracks = dict[str, list[tuple[int, Box]]]

DEFAULT_W, DEFAULT_H = 0.26, 0.5


def fix_layout(layout: LayoutReply, ctx: SceneContext, problems: list[Problem]) -> LayoutReply:
    """A layout without the geometric problems listed (and with every box valid, whatever was listed)."""
    kinds = {p.kind for p in problems}
    notes = {kf.frame: kf.description for kf in layout.keyframes}
    tracks = {e: [(f, _valid_box(b)) for f, b in t] for e, t in tracks_of(layout).items() if e in ctx.entities or not ctx.entities}
    last = max(ctx.num_frames - 1, 0)

    for p in problems:
        if p.kind == "missing" and p.entity and p.entity not in tracks:
            tracks[p.entity] = [(min(notes), _free_slot(tracks, len(tracks)))]
    tracks = {e: [(f, _sized(b)) for f, b in t] for e, t in tracks.items()}
    if "continuity" in kinds:
        for p in problems:
            if p.kind == "continuity" and p.entity in tracks and p.entity in ctx.previous:
                tracks[p.entity] = _shift_to(tracks[p.entity], ctx.previous[p.entity])
    if kinds & {"direction", "follow"}:
        eid = subject(ctx)
        if eid in tracks:
            for d in event_directions(ctx.event):
                if d == FOLLOWS.get(ctx.camera):
                    if not held(tracks[eid], d):
                        tracks[eid] = _held(tracks[eid], d, last)
                elif not direction_ok(tracks[eid], d):
                    tracks[eid] = _directed(tracks[eid], d, last)
    tracks = {e: _limit_speed(t) for e, t in tracks.items()}
    if "overlap" in kinds:
        _separate(tracks)

    frames = sorted(set(notes) | {f for t in tracks.values() for f, _ in t})
    keyframes = []
    if "copy" in kinds:  # a keyframe that retells the whole story shows the scene's event instead
        notes = {f: ctx.event if repeats(d, ctx.prompt) else d for f, d in notes.items()}
    for f in frames:
        desc = notes.get(f) or notes[min(notes, key=lambda n: abs(n - f))]
        boxes = [BoxReply(entity=e, box=list(clamp_box(b, MIN_SIDE))) for e, t in tracks.items() for tf, b in t if tf == f]
        keyframes.append(KeyframeReply(frame=f, description=desc, boxes=boxes))
    dx, dy = layout.background_motion.dx, layout.background_motion.dy
    if "background" in kinds or not (math.isfinite(dx) and math.isfinite(dy)):
        dx, dy = 0.0, 0.0  # a still background; the camera's move is the camera's
    return LayoutReply(background_motion=MotionReply(dx=dx, dy=dy), keyframes=keyframes)


def _valid_box(box: Box) -> Box:
    return clamp_box([c if math.isfinite(c) else 0.0 for c in box], MIN_SIDE)


def _sized(box: Box) -> Box:
    """Grow a speck to the minimum size, shrink a frame-filler below the maximum, around its centre."""
    cx, cy = box_center(box)
    w, h = box[2] - box[0], box[3] - box[1]
    w, h = max(w, MIN_SIDE), max(h, MIN_SIDE)
    if w * h < MIN_AREA:
        k = math.sqrt(MIN_AREA / (w * h)) * 1.01
        w, h = w * k, h * k
    if w * h > MAX_AREA:
        k = math.sqrt(MAX_AREA / (w * h)) * 0.99
        w, h = w * k, h * k
    return _place(cx, cy, w, h)


def _place(cx: float, cy: float, w: float, h: float) -> Box:
    """A w x h box centred as near (cx, cy) as the frame allows."""
    w, h = min(w, 1.0), min(h, 1.0)
    x0 = min(max(cx - w / 2, 0.0), 1.0 - w)
    y0 = min(max(cy - h / 2, 0.0), 1.0 - h)
    return (x0, y0, x0 + w, y0 + h)


def _free_slot(tracks: Tracks, index: int) -> Box:
    """A standing box in the horizontal slot farthest from every existing box."""
    centres = [box_center(t[0][1])[0] for t in tracks.values()]
    candidates = [0.2, 0.5, 0.8, 0.35, 0.65]
    cx = max(candidates, key=lambda c: (min((abs(c - o) for o in centres), default=1.0), -abs(c - 0.5)))
    return _place(cx, 0.9 - DEFAULT_H / 2, DEFAULT_W, DEFAULT_H)


def _shift_to(track: list[tuple[int, Box]], prev: Box) -> list[tuple[int, Box]]:
    """Translate the whole track so it starts where the previous scene left the entity."""
    (px, py), (cx, cy) = box_center(prev), box_center(track[0][1])
    dx, dy = px - cx, py - cy
    return [(f, _place(box_center(b)[0] + dx, box_center(b)[1] + dy, b[2] - b[0], b[3] - b[1])) for f, b in track]


def _directed(track: list[tuple[int, Box]], direction: str, last: int) -> list[tuple[int, Box]]:
    """Make the track move the way the words say: reverse it in time if it moves the wrong way, else
    (static or too short a move) give it a clear straight move from the first frame to the last."""
    reversed_track = [(f, b) for (f, _), (_, b) in zip(track, reversed(track))]
    if len(track) > 1 and direction_ok(reversed_track, direction):
        return reversed_track
    start = track[0][1]
    w, h = start[2] - start[0], start[3] - start[1]
    cx, cy = box_center(start)
    if direction in ("right", "left"):
        lo, hi = w / 2 + 0.02, 1 - w / 2 - 0.02
        a, b = (lo, hi) if direction == "right" else (hi, lo)
        first, end = _place(a, cy, w, h), _place(b, cy, w, h)
    elif direction in ("down", "up"):
        lo, hi = h / 2 + 0.02, 1 - h / 2 - 0.02
        a, b = (lo, hi) if direction == "down" else (hi, lo)
        first, end = _place(cx, a, w, h), _place(cx, b, w, h)
    else:
        k = math.sqrt(MIN_SCALE * 1.4)
        small_w, small_h = (w, h) if direction == "closer" else (w / k, h / k)
        if small_w * k * small_h * k > MAX_AREA:  # room to grow: start smaller
            s = math.sqrt(MAX_AREA * 0.95 / (small_w * k * small_h * k))
            small_w, small_h = small_w * s, small_h * s
        small = _sized(_place(cx, cy, small_w, small_h))
        big = _sized(_place(cx, cy, small_w * k, small_h * k))
        first, end = (small, big) if direction == "closer" else (big, small)
    return [(0, first), (max(last, 1), end)]


def _held(track: list[tuple[int, Box]], direction: str, last: int) -> list[tuple[int, Box]]:
    """A subject the camera follows: its box stays a little behind the centre of the frame, drifting
    towards it, while the camera carries the motion."""
    start = track[0][1]
    w, h = start[2] - start[0], start[3] - start[1]
    cx, cy = box_center(start)
    lead = {"right": (-0.08, 0.0), "left": (0.08, 0.0), "up": (0.0, 0.08), "down": (0.0, -0.08)}[direction]
    ax, ay = (0.5 + lead[0], cy) if lead[0] else (cx, 0.5 + lead[1])
    bx, by = (0.5, cy) if lead[0] else (cx, 0.5)
    return [(0, _place(ax, ay, w, h)), (max(last, 1), _place(bx, by, w, h))]


def _limit_speed(track: list[tuple[int, Box]]) -> list[tuple[int, Box]]:
    out = [track[0]]
    for f, b in track[1:]:
        pf, pb = out[-1]
        (ax, ay), (bx, by) = box_center(pb), box_center(b)
        dist = math.hypot(bx - ax, by - ay)
        limit = MAX_SPEED * max(f - pf, 1) * 0.98
        if dist > limit:
            k = limit / dist
            b = _place(ax + (bx - ax) * k, ay + (by - ay) * k, b[2] - b[0], b[3] - b[1])
        out.append((f, b))
    return out


def _separate(tracks: Tracks) -> None:
    """Move the later entity of each overlapping pair sideways, to the side with more room."""
    ids = list(tracks)
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            moved = []
            for f, bb in tracks[b]:
                ab = box_at(tracks[a], f)
                if box_iou(ab, bb) > MAX_IOU * 0.9:
                    acx = box_center(ab)[0]
                    w = bb[2] - bb[0]
                    room_right, room_left = 1 - ab[2], ab[0]
                    cx = ab[2] + w / 2 if room_right >= room_left else ab[0] - w / 2
                    if room_right < w and room_left < w:  # no room beside: shrink and put it in front-side
                        cx = acx + (0.25 if acx < 0.5 else -0.25)
                    bb = _place(cx, box_center(bb)[1], w, bb[3] - bb[1])
                moved.append((f, bb))
            tracks[b] = moved


def default_boxes(n: int) -> list[Box]:
    """Standing boxes for `n` subjects, spread across the frame (placeholders before the layout stage)."""
    tracks: Tracks = {}
    out = []
    for i in range(n):
        box = clamp_box(_free_slot(tracks, i), MIN_SIDE)
        tracks[str(i)] = [(0, box)]
        out.append(box)
    return out
