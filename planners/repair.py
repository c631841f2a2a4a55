"""Deterministic repair: make a reply that failed validation (twice) usable without asking again.

Each function takes the parsed JSON object of a stage's reply, whatever is in it, and returns a reply model
that passes that stage's checks: strings are cleaned and cut, unknown ids dropped, missing fields filled
from the context, numbers clamped. It raises `PlanningError` only when there is nothing to build on
(a script without a single scene).
"""

from __future__ import annotations

import math
from typing import Any

from flowdrafter.core.errors import PlanningError
from flowdrafter.core.layout import clamp_box
from flowdrafter.core.storyboard import MAX_MOTION, CameraMotion

from .schemas import (
    CONTROL_CHARS,
    DESCRIPTION_LEN,
    EVENT_LEN,
    MAX_DURATION,
    MAX_FOREGROUND,
    MAX_KEYFRAMES,
    MAX_PLAN_SCENES,
    MIN_DURATION,
    NAME_LEN,
    NOTE_LEN,
    STYLE_LEN,
    TITLE_LEN,
    MAX_CAST,
    BoxReply,
    keyed_keyframes,
    CastMember,
    CastReply,
    EntitiesReply,
    EntityText,
    KeyframeReply,
    LayoutReply,
    MotionReply,
    ScriptReply,
    ScriptScene,
)



def clean_text(value: Any, max_len: int, fallback: str = "") -> str:
    """One line of printable text, at most `max_len` characters, cut at a word boundary when possible."""
    if not isinstance(value, str):
        value = "" if value is None or isinstance(value, (dict, list)) else str(value)
    text = " ".join(CONTROL_CHARS.sub(" ", value).split())
    if len(text) > max_len:
        cut = text[:max_len]
        space = cut.rfind(" ")
        text = (cut[:space] if space > max_len // 2 else cut).rstrip(" ,;:")
    return text or fallback[:max_len]


def finite(value: Any, default: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        return default
    return v if math.isfinite(v) else default


def _int_in(value: Any, lo: int, hi: int, default: int) -> int:
    v = finite(value, float(default))
    return int(min(max(round(v), lo), hi))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _camera(value: Any) -> CameraMotion:
    text = str(value).strip().lower().replace(" ", "_").replace("-", "_") if isinstance(value, str) else ""
    try:
        return CameraMotion(text)
    except ValueError:
        return CameraMotion.static


def repair_script(data: dict[str, Any], prompt: str, scenes: int | None) -> ScriptReply:
    """Every scene the reply has (up to the number asked for), each with all its fields."""
    raw_scenes = [s for s in _list(data.get("scenes")) if isinstance(s, dict)]
    if not raw_scenes:
        raise PlanningError("the LLM's script has no scenes, even after asking again")
    limit = scenes or MAX_PLAN_SCENES
    if len(raw_scenes) > limit:
        raw_scenes = raw_scenes[:limit]
    story = clean_text(prompt, EVENT_LEN, "a short story")
    out = []
    for i, s in enumerate(raw_scenes, 1):
        title = clean_text(s.get("title"), TITLE_LEN, f"Scene {i}")
        event = clean_text(s.get("event"), EVENT_LEN, title if title != f"Scene {i}" else story)
        names = []
        for name in _list(s.get("foreground")):
            n = clean_text(name, NAME_LEN)
            if n and n.lower() not in (x.lower() for x in names):
                names.append(n)
        out.append(
            ScriptScene(
                title=title,
                event=event,
                foreground=names[:MAX_FOREGROUND],
                background=clean_text(s.get("background"), NAME_LEN, "background"),
                camera=_camera(s.get("camera")),
                duration=_int_in(s.get("duration"), MIN_DURATION, MAX_DURATION, 2),
                continues=s.get("continues") is True,
            )
        )
    return ScriptReply(
        title=clean_text(data.get("title"), TITLE_LEN, clean_text(prompt, TITLE_LEN, "Untitled")),
        style=clean_text(data.get("style"), STYLE_LEN),
        scenes=out,
    )


def repair_entities(data: dict[str, Any], names: dict[str, str]) -> EntitiesReply:
    """Keep one description per known id (the first); fill the rest with the entity's name."""
    got: dict[str, str] = {}
    raw = data.get("entities")
    if isinstance(raw, dict):  # the keyed form the schema asks for
        raw = [{"id": k, "description": d} for k, d in raw.items()]
    for e in _list(raw):
        if not isinstance(e, dict):
            continue
        eid = e.get("id")
        if isinstance(eid, str) and eid in names and eid not in got:
            text = clean_text(e.get("description"), DESCRIPTION_LEN)
            if text:
                got[eid] = text
    return EntitiesReply(entities=[EntityText(id=i, description=got.get(i) or names[i]) for i in names])


def repair_cast(data: dict[str, Any], candidates: list[str]) -> CastReply:
    """The names that are words of the prompt; an empty cast when none is (the subjects found in the
    prompt's words still make the cast, see `planners.cast`)."""
    out = []
    for x in _list(data.get("cast")):
        words = x if isinstance(x, str) else x.get("words") if isinstance(x, dict) else None
        name = x if isinstance(x, str) else x.get("name") if isinstance(x, dict) else None
        words = clean_text(words, NAME_LEN).lower()
        if words in candidates:
            out.append(CastMember(words=words, name=clean_text(name, NAME_LEN, words)))
    return CastReply.model_construct(cast=out[:MAX_CAST])


def repair_layout(data: dict[str, Any], entity_ids: list[str], num_frames: int, event: str) -> LayoutReply:
    """Frames clamped into the scene and made increasing, boxes of unknown entities dropped, numbers finite.

    Geometry (boxes inside the frame, motion) is left to `planners.checks`/`planners.refine`, except that
    each box becomes four finite numbers.
    """
    by_frame: dict[int, KeyframeReply] = {}
    for k in _list(keyed_keyframes(data.get("keyframes"))):
        if not isinstance(k, dict):
            continue
        frame = _int_in(k.get("frame"), 0, max(0, num_frames - 1), 0)
        boxes: list[BoxReply] = []
        raw = k.get("boxes")
        if isinstance(raw, dict):  # the keyed form the schema asks for
            raw = [{"entity": e, "box": b} for e, b in raw.items()]
        for b in _list(raw):
            if not isinstance(b, dict) or b.get("entity") not in entity_ids:
                continue
            if any(x.entity == b["entity"] for x in boxes):
                continue
            raw = _list(b.get("box"))
            if len(raw) != 4:
                continue
            boxes.append(BoxReply(entity=b["entity"], box=list(clamp_box([finite(c, 0.0) for c in raw]))))
        if frame in by_frame:  # the same frame twice: merge, the first box of an entity wins
            known = {x.entity for x in by_frame[frame].boxes}
            by_frame[frame].boxes.extend(x for x in boxes if x.entity not in known)
            continue
        by_frame[frame] = KeyframeReply(
            frame=frame, description=clean_text(k.get("description"), NOTE_LEN, clean_text(event, NOTE_LEN, "the scene")), boxes=boxes
        )
    keyframes = [by_frame[f] for f in sorted(by_frame)]
    if len(keyframes) > MAX_KEYFRAMES:  # keep the first and last, thin the middle evenly
        step = (len(keyframes) - 1) / (MAX_KEYFRAMES - 1)
        keyframes = [keyframes[round(i * step)] for i in range(MAX_KEYFRAMES)]
    if not keyframes:
        keyframes = [KeyframeReply(frame=0, description=clean_text(event, NOTE_LEN, "the scene"), boxes=[])]
    motion = data.get("background_motion")
    motion = motion if isinstance(motion, dict) else {}
    return LayoutReply(
        background_motion=MotionReply(
            dx=min(max(finite(motion.get("dx"), 0.0), -MAX_MOTION), MAX_MOTION),
            dy=min(max(finite(motion.get("dy"), 0.0), -MAX_MOTION), MAX_MOTION),
        ),
        keyframes=keyframes,
    )
