"""Deterministic checks of one scene's layout: the problems FlowZero's self-refinement asks the LLM to fix.

Each check looks at the keyframe layout the LLM wrote (boxes still raw, possibly outside the frame) in the
context of its scene (event words, camera, foreground entities, the previous scene's last boxes) and
returns `Problem`s whose messages are concrete enough to send back to the LLM and to show in the editor.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from flowdrafter.core.layout import box_area, box_center, box_iou, lerp_box
from flowdrafter.core.storyboard import Box, CameraMotion

from .schemas import LayoutReply
from .words import repeats

MIN_SIDE = 0.04  # a box thinner than this is a speck, not a subject
MIN_AREA = 0.005
MAX_AREA = 0.8
MAX_SPEED = 0.15  # centre travel per frame, in frame widths; faster reads as a teleport
MIN_TRAVEL = 0.1  # a directed move must cover at least this much of the frame
MIN_SCALE = 1.3  # towards/away from the camera: the box grows/shrinks at least this much in area
MAX_IOU = 0.6
MAX_CUT_SHIFT = 0.2  # continuing action: centre may move this much across the cut
STATIC_MOTION = 0.003  # |dx|, |dy| below this is "not moving"
MAX_FOLLOW_DRIFT = 0.15  # a subject the camera follows stays within this much of where it started


@dataclass(frozen=True)
class SceneContext:
    """What the checks need to know about the scene a layout belongs to."""

    scene_id: str
    event: str
    num_frames: int
    camera: CameraMotion = CameraMotion.static
    entities: dict[str, str] = field(default_factory=dict)  # foreground id -> name, in script order
    previous: dict[str, Box] = field(default_factory=dict)  # id -> box on the previous scene's last frame
    continues: bool = False  # the script says this scene continues the previous one's action
    prompt: str = ""  # the whole story, which no keyframe description should repeat
    background: str = ""  # the background's name and description: does anything in it move?


@dataclass(frozen=True)
class Problem:
    kind: str  # layout: outside | small | large | missing | direction | follow | jump | overlap | background | continuity | copy
    message: str  # story (planners.story): coverage | copy | order | identity
    entity: str | None = None
    scene: str | None = None  # which scene a story-level problem is about


# -- direction words ------------------------------------------------------------------------------------

DIRECTIONS: list[tuple[str, re.Pattern[str]]] = [
    ("right", re.compile(r"\bfrom (?:the )?left(?: side)?(?: of the (?:frame|screen))?(?! to the left)\b|\bleft[- ]to[- ]right\b|\bto(?:wards?)? the right\b|\brightwards?\b")),
    ("left", re.compile(r"\bfrom (?:the )?right(?: side)?(?: of the (?:frame|screen))?(?! to the right)\b|\bright[- ]to[- ]left\b|\bto(?:wards?)? the left\b|\bleftwards?\b")),
    ("closer", re.compile(r"\btowards? (?:the )?(?:camera|viewer)\b|\bapproach(?:es|ing)? the (?:camera|viewer)\b|\bcloser to the (?:camera|viewer)\b")),
    ("away", re.compile(r"\baway from (?:the )?(?:camera|viewer)\b|\binto the distance\b|\brecedes?\b")),
    ("down", re.compile(r"\b(?:falls?|falling|fell)\b(?! asleep| silent| in love| apart)|\b(?:drops?|dropping|sinks?|sinking|descends?|descending|tumbles? down|slides? down|climbs? down|goes down)\b")),
    ("up", re.compile(r"\b(?:rises?|rising|ascends?|ascending|flies up|jumps up|climbs up|floats up|takes off|lifts off|soars)\b")),
]

# The one camera-vs-subject rule, said the same way by the prompts, the checks and the fixes: boxes are
# where a subject is on screen. A pan or tilt the way the subject moves FOLLOWS it: its box stays near the
# same place while the world slides past behind it. Any other camera (static, zoom, a pan the other way):
# the box itself travels the way the event says.
FOLLOWS = {CameraMotion.pan_right: "right", CameraMotion.pan_left: "left", CameraMotion.tilt_up: "up", CameraMotion.tilt_down: "down"}

# The background's own motion (independent of the camera) needs something in it that moves.
MOVING_BACKGROUND = re.compile(
    r"\b(?:rivers?|streams?|water\w*|waves?|sea|ocean|tides?|currents?|flow\w*|drift\w*|clouds?|wind\w*|rain\w*|snowfall|snowing|"
    r"traffic|cars|conveyor|treadmill|smoke|fog|mist|steam|crowds?|rush\w*|stream\w*|scroll\w*|passing|fireworks|flames?|"
    r"waterfalls?|rapids|lava|sand ?storm|storm\w*|blizzard|train window)\b"
)

CONTACT_WORDS = re.compile(r"\b(?:rides?|riding|carr(?:y|ies|ying)|holds?|holding|hugs?|hugging|on top of|inside|sits? on|in (?:his|her|its|their) (?:arms|hands|mouth|paws))\b")


def event_directions(event: str) -> list[str]:
    """The motion directions the event's words ask for ("from left to right" -> ["right"])."""
    text = event.lower()
    found = [name for name, pattern in DIRECTIONS if pattern.search(text)]
    for a, b in (("right", "left"), ("down", "up"), ("closer", "away")):
        if a in found and b in found:  # "jumps up and falls", "comes closer, then walks away": an arc, not a line
            found = [d for d in found if d not in (a, b)]
    return found


def subject(ctx: SceneContext) -> str | None:
    """The foreground entity the event is about: the one named earliest in the event, else the first."""
    text = ctx.event.lower()
    best: tuple[int, str] | None = None
    for eid, name in ctx.entities.items():
        positions = [p for p in (text.find(name.lower()), text.find(eid.replace("-", " "))) if p >= 0]
        if positions and (best is None or min(positions) < best[0]):
            best = (min(positions), eid)
    if best:
        return best[1]
    return next(iter(ctx.entities), None)


# -- layout as tracks -------------------------------------------------------------------------------------


def tracks_of(layout: LayoutReply) -> dict[str, list[tuple[int, Box]]]:
    """Entity id -> [(frame, box)] in frame order, from the keyframe-major reply."""
    tracks: dict[str, list[tuple[int, Box]]] = {}
    for kf in layout.keyframes:
        for b in kf.boxes:
            tracks.setdefault(b.entity, []).append((kf.frame, tuple(b.box)))  # type: ignore[arg-type]
    return tracks


def box_at(track: list[tuple[int, Box]], frame: int) -> Box:
    if frame <= track[0][0]:
        return track[0][1]
    for (fa, a), (fb, b) in zip(track, track[1:]):
        if fa <= frame <= fb:
            return lerp_box(a, b, (frame - fa) / (fb - fa)) if fb > fa else b
    return track[-1][1]


def _fmt(box: Box) -> str:
    return "[" + ", ".join(f"{c:.2f}" if math.isfinite(c) and abs(c) < 1e6 else f"{c:g}" for c in box) + "]"


# -- the checks -------------------------------------------------------------------------------------------


def check_layout(layout: LayoutReply, ctx: SceneContext) -> list[Problem]:
    """Every problem of a layout, in a stable order."""
    tracks = tracks_of(layout)
    problems: list[Problem] = []
    problems += _boxes(tracks, ctx)
    problems += _missing(tracks, ctx)
    problems += _direction(tracks, ctx)
    problems += _jumps(tracks, ctx)
    problems += _overlaps(tracks, layout, ctx)
    problems += _background(layout, ctx)
    problems += _continuity(tracks, ctx)
    problems += _copies(layout, ctx)
    return problems


def _boxes(tracks: dict[str, list[tuple[int, Box]]], ctx: SceneContext) -> list[Problem]:
    out = []
    for eid, track in tracks.items():
        for frame, box in track:
            x0, y0, x1, y1 = box
            where = f"{eid} at frame {frame}"
            if not all(math.isfinite(c) and 0.0 <= c <= 1.0 for c in box) or x0 >= x1 or y0 >= y1:
                out.append(Problem("outside", f"{where}: box {_fmt(box)} is not inside the frame as [x0, y0, x1, y1] with 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1", eid))
                continue
            if x1 - x0 < MIN_SIDE or y1 - y0 < MIN_SIDE or box_area(box) < MIN_AREA:
                out.append(Problem("small", f"{where}: box {_fmt(box)} is too small to draw a subject (make each side at least {MIN_SIDE} and the area at least {MIN_AREA})", eid))
            elif box_area(box) > MAX_AREA:
                out.append(Problem("large", f"{where}: box {_fmt(box)} covers {box_area(box):.0%} of the frame; keep a foreground subject under {MAX_AREA:.0%}", eid))
    return out


def _missing(tracks: dict[str, list[tuple[int, Box]]], ctx: SceneContext) -> list[Problem]:
    return [
        Problem("missing", f"{eid} ({name}) is in this scene but has no box in any keyframe", eid)
        for eid, name in ctx.entities.items()
        if eid not in tracks
    ]


def _valid(box: Box) -> bool:
    return all(math.isfinite(c) for c in box) and box[0] < box[2] and box[1] < box[3]


def direction_ok(track: list[tuple[int, Box]], direction: str) -> bool:
    a, b = track[0][1], track[-1][1]
    (ax, ay), (bx, by) = box_center(a), box_center(b)
    if direction == "right":
        return bx - ax >= MIN_TRAVEL
    if direction == "left":
        return ax - bx >= MIN_TRAVEL
    if direction == "down":
        return by - ay >= MIN_TRAVEL
    if direction == "up":
        return ay - by >= MIN_TRAVEL
    area_a, area_b = box_area(a), box_area(b)
    if direction == "closer":
        return area_b >= area_a * MIN_SCALE
    return area_a >= area_b * MIN_SCALE  # away


def held(track: list[tuple[int, Box]], direction: str) -> bool:
    """The box of a subject the camera follows stays put: no keyframe strays far from the first."""
    ax, ay = box_center(track[0][1])
    axis = 0 if direction in ("right", "left") else 1
    return all(abs(box_center(b)[axis] - (ax, ay)[axis]) <= MAX_FOLLOW_DRIFT for _, b in track)


_DIRECTION_WORDS = {
    "right": "move from left to right (its box centre must end at least {d} further right)",
    "left": "move from right to left (its box centre must end at least {d} further left)",
    "down": "move down (its box centre must end at least {d} lower)",
    "up": "move up (its box centre must end at least {d} higher)",
    "closer": "come towards the camera (its box must grow to at least {s}x its area)",
    "away": "move away from the camera (its box must shrink to at most 1/{s} of its area)",
}


def _direction(tracks: dict[str, list[tuple[int, Box]]], ctx: SceneContext) -> list[Problem]:
    eid = subject(ctx)
    if eid is None or eid not in tracks:
        return []
    track = tracks[eid]
    if not all(_valid(b) for _, b in track):
        return []
    out = []
    followed = FOLLOWS.get(ctx.camera)
    for d in event_directions(ctx.event):
        if d == followed:
            if not held(track, d):
                first, last = track[0], track[-1]
                out.append(
                    Problem(
                        "follow",
                        f"{eid}: the camera ({ctx.camera.value}) follows it, so its box stays near the same place on screen "
                        f"(moving at most {MAX_FOLLOW_DRIFT}), but it goes from {_fmt(first[1])} at frame {first[0]} "
                        f"to {_fmt(last[1])} at frame {last[0]}",
                        eid,
                    )
                )
            continue
        if not direction_ok(track, d):
            first, last = track[0], track[-1]
            want = _DIRECTION_WORDS[d].format(d=MIN_TRAVEL, s=MIN_SCALE)
            out.append(
                Problem(
                    "direction",
                    f"{eid}: the event says it should {want}, but its box goes from {_fmt(first[1])} at frame {first[0]} "
                    f"to {_fmt(last[1])} at frame {last[0]}",
                    eid,
                )
            )
    return out


def _jumps(tracks: dict[str, list[tuple[int, Box]]], ctx: SceneContext) -> list[Problem]:
    out = []
    for eid, track in tracks.items():
        for (fa, a), (fb, b) in zip(track, track[1:]):
            if not (_valid(a) and _valid(b)) or fb <= fa:
                continue
            (ax, ay), (bx, by) = box_center(a), box_center(b)
            dist = math.hypot(bx - ax, by - ay)
            if dist / (fb - fa) > MAX_SPEED:
                out.append(Problem("jump", f"{eid}: jumps {dist:.2f} of the frame between frames {fa} and {fb}; move at most {MAX_SPEED} per frame or add frames between", eid))
    return out


def _overlaps(tracks: dict[str, list[tuple[int, Box]]], layout: LayoutReply, ctx: SceneContext) -> list[Problem]:
    if CONTACT_WORDS.search(ctx.event.lower()):
        return []
    out = []
    ids = [e for e in tracks if all(_valid(b) for _, b in tracks[e])]
    reported: set[tuple[str, str]] = set()
    for kf in layout.keyframes:
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                if (a, b) in reported:
                    continue
                iou = box_iou(box_at(tracks[a], kf.frame), box_at(tracks[b], kf.frame))
                if iou > MAX_IOU:
                    reported.add((a, b))
                    out.append(Problem("overlap", f"{a} and {b} overlap almost completely at frame {kf.frame} (IoU {iou:.2f}); place them side by side", b))
    return out


def _background(layout: LayoutReply, ctx: SceneContext) -> list[Problem]:
    dx, dy = layout.background_motion.dx, layout.background_motion.dy
    if not (math.isfinite(dx) and math.isfinite(dy)):
        return [Problem("background", f"background_motion ({dx}, {dy}) must be finite numbers")]
    if abs(dx) < STATIC_MOTION and abs(dy) < STATIC_MOTION:
        return []
    if MOVING_BACKGROUND.search(f"{ctx.event} {ctx.background}".lower()):
        return []
    return [
        Problem(
            "background",
            f"background_motion (dx {dx:g}, dy {dy:g}) moves the background, but nothing in it moves (no water, clouds or "
            f"traffic); the camera's own move is not background motion, so write dx 0 and dy 0",
        )
    ]


def _copies(layout: LayoutReply, ctx: SceneContext) -> list[Problem]:
    if not ctx.prompt:
        return []
    return [
        Problem("copy", f"keyframe {kf.frame}: its description repeats the whole story; say only what is seen at that moment")
        for kf in layout.keyframes
        if repeats(kf.description, ctx.prompt)
    ]


def _continuity(tracks: dict[str, list[tuple[int, Box]]], ctx: SceneContext) -> list[Problem]:
    if not ctx.continues:
        return []
    out = []
    for eid, prev in ctx.previous.items():
        track = tracks.get(eid)
        if not track or not _valid(track[0][1]):
            continue
        (px, py), (cx, cy) = box_center(prev), box_center(track[0][1])
        if math.hypot(cx - px, cy - py) > MAX_CUT_SHIFT:
            out.append(Problem("continuity", f"{eid}: the scene continues the previous action, but it starts at {_fmt(track[0][1])} while the previous scene ended with it at {_fmt(prev)}", eid))
    return out
