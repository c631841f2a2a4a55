"""What the LLM is asked to write, per stage: a flat JSON schema for constrained decoding, and a strict
pydantic model that checks the reply.

The schemas are not the storyboard's: they have no `$ref`, no `anyOf`/Optional, enums for every choice and
bounds on every array and string, because llama.cpp's grammar and the servers' structured-output modes
handle only that subset well. Geometry (boxes inside the frame, motion matching the words) is not checked
here: `planners.checks` does that, so the problems can go back to the LLM as refinement feedback.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from flowdrafter.core.storyboard import MAX_MOTION, CameraMotion

MAX_PLAN_SCENES = 12
MAX_FOREGROUND = 4  # foreground entities per scene
MAX_KEYFRAMES = 6  # accepted in a reply
MAX_CAST = 6  # characters and objects the cast step may name
MIN_DURATION, MAX_DURATION = 1, 8  # seconds, whole; converted to frames at the storyboard's fps

CAMERA_CHOICES = [m.value for m in CameraMotion]

TITLE_LEN = 80
EVENT_LEN = 300
NAME_LEN = 40
STYLE_LEN = 120
DESCRIPTION_LEN = 400
NOTE_LEN = 160


def _str(max_len: int, min_len: int = 1) -> dict[str, Any]:
    return {"type": "string", "minLength": min_len, "maxLength": max_len}


def _obj(props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


def cast_schema(candidates: list[str], english: bool) -> dict[str, Any]:
    """Names that must be words of the prompt (an enum of its noun phrases); for a prompt in another
    language, the prompt's words and an English name for them."""
    words = {"type": "string", "enum": list(candidates)} if candidates else _str(NAME_LEN)
    item = words if english else _obj({"words": words, "name": _str(NAME_LEN)})
    return _obj({"cast": {"type": "array", "items": item, "minItems": 1, "maxItems": MAX_CAST}})


def script_schema(scenes: int | None, names: list[str] | None = None) -> dict[str, Any]:
    """`names`: the foreground names allowed (the cast and the prompt's other noun phrases); None: any."""
    lo, hi = (scenes, scenes) if scenes else (1, MAX_PLAN_SCENES)
    name = {"type": "string", "enum": list(names)} if names else _str(NAME_LEN)
    scene = _obj(
        {
            "title": _str(TITLE_LEN),
            "event": _str(EVENT_LEN),
            "foreground": {"type": "array", "items": name, "minItems": 1 if names else 0, "maxItems": MAX_FOREGROUND},
            "background": _str(NAME_LEN),
            "camera": {"type": "string", "enum": CAMERA_CHOICES},
            "duration": {"type": "integer", "minimum": MIN_DURATION, "maximum": MAX_DURATION},
            "continues": {"type": "boolean"},
        }
    )
    return _obj(
        {
            "title": _str(TITLE_LEN),
            "style": _str(STYLE_LEN, 0),
            "scenes": {"type": "array", "items": scene, "minItems": lo, "maxItems": hi},
        }
    )


def entities_schema(ids: list[str]) -> dict[str, Any]:
    """One description per id, keyed by the id: the grammar allows each exactly once, in order."""
    return _obj({"entities": _obj({i: _str(DESCRIPTION_LEN) for i in ids})})


def keyframe_frames(num_frames: int) -> list[int]:
    """The frames the LLM writes keyframes for: the first, the middle and the last."""
    last = max(0, num_frames - 1)
    return sorted({0, last // 2, last})


def layout_schema(entity_ids: list[str], num_frames: int) -> dict[str, Any]:
    """Keyframes, not every frame: interpolation fills the rest (and keeps the reply short).

    The keyframes are an object keyed by their frame numbers, the first, middle and last frame: small
    models wrote frame numbers past the end (llama.cpp's grammar ignores `minimum`/`maximum` on integers),
    out of order or twice, and each of those needed a repair. Boxes are keyed by entity id, so every entity
    has exactly one box per keyframe."""
    number = {"type": "number"}
    box = {"type": "array", "items": number, "minItems": 4, "maxItems": 4}
    keyframe = _obj({"description": _str(NOTE_LEN), "boxes": _obj({e: box for e in entity_ids})})
    return _obj(
        {
            "background_motion": _obj({"dx": number, "dy": number}),
            "keyframes": _obj({str(f): keyframe for f in keyframe_frames(num_frames)}),
        }
    )


# -- strict reply models: what a good reply looks like; errors are quoted back to the LLM ------------------


CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def _one_line(v: Any) -> Any:
    if isinstance(v, str):
        return " ".join(CONTROL_CHARS.sub(" ", v).split())
    if isinstance(v, list):
        return [_one_line(x) for x in v]
    return v


class _Reply(BaseModel):
    """Strings arrive as one clean line: raw control characters (which llama.cpp lets through) become spaces."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _clean(cls, v: Any) -> Any:
        return _one_line(v)


class CastMember(_Reply):
    words: str = Field(min_length=1, max_length=NAME_LEN)  # as the prompt says it
    name: str = Field(min_length=1, max_length=NAME_LEN)  # in English


class CastReply(_Reply):
    cast: list[CastMember] = Field(min_length=1, max_length=MAX_CAST)

    @field_validator("cast", mode="before")
    @classmethod
    def _plain(cls, v: Any) -> Any:  # an English prompt's cast is plain names
        return [{"words": x, "name": x} if isinstance(x, str) else x for x in v] if isinstance(v, list) else v


class ScriptScene(_Reply):
    title: str = Field(min_length=1, max_length=TITLE_LEN)
    event: str = Field(min_length=1, max_length=EVENT_LEN)
    foreground: list[str] = Field(max_length=MAX_FOREGROUND)
    background: str = Field(min_length=1, max_length=NAME_LEN)
    camera: CameraMotion
    duration: int = Field(ge=MIN_DURATION, le=MAX_DURATION)
    continues: bool = False

    @field_validator("foreground")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not name.strip() or len(name) > NAME_LEN:
                raise ValueError(f"foreground names must be 1-{NAME_LEN} characters, got {name!r}")
        return list(dict.fromkeys(v))  # ["fox", "fox"] names one subject


class ScriptReply(_Reply):
    title: str = Field(min_length=1, max_length=TITLE_LEN)
    style: str = Field(default="", max_length=STYLE_LEN)
    scenes: list[ScriptScene] = Field(min_length=1, max_length=MAX_PLAN_SCENES)


class EntityText(_Reply):
    id: str
    description: str = Field(min_length=1, max_length=DESCRIPTION_LEN)


class EntitiesReply(_Reply):
    entities: list[EntityText]

    @field_validator("entities", mode="before")
    @classmethod
    def _keyed(cls, v: Any) -> Any:  # {"fox": "a red fox"} as the schema asks, or a list of {id, description}
        return [{"id": k, "description": d} for k, d in v.items()] if isinstance(v, dict) else v


class BoxReply(_Reply):
    entity: str
    box: list[float] = Field(min_length=4, max_length=4)


class KeyframeReply(_Reply):
    frame: int
    description: str = Field(min_length=1, max_length=NOTE_LEN)
    boxes: list[BoxReply] = Field(default_factory=list)

    @field_validator("boxes", mode="before")
    @classmethod
    def _keyed(cls, v: Any) -> Any:  # {"fox": [x0, y0, x1, y1]} as the schema asks, or a list of {entity, box}
        return [{"entity": k, "box": b} for k, b in v.items()] if isinstance(v, dict) else v


class MotionReply(_Reply):
    dx: float = 0.0
    dy: float = 0.0


class LayoutReply(_Reply):
    background_motion: MotionReply = Field(default_factory=MotionReply)
    keyframes: list[KeyframeReply] = Field(min_length=1, max_length=MAX_KEYFRAMES)

    @field_validator("keyframes", mode="before")
    @classmethod
    def _keyed(cls, v: Any) -> Any:  # {"0": {...}, "11": {...}} as the schema asks, or a list with "frame"s
        return keyed_keyframes(v)


def keyed_keyframes(v: Any) -> Any:
    """{"0": {...}, "11": {...}} -> [{"frame": 0, ...}, {"frame": 11, ...}]; anything else as it is."""
    if not isinstance(v, dict):
        return v
    out = []
    for k, kf in v.items():
        if isinstance(kf, dict) and str(k).strip().isdigit():
            out.append({**kf, "frame": int(str(k).strip())})
    return out


# -- checks that need the stage's context (ids, counts); each returns problems, never raises ---------------


def script_problems(reply: ScriptReply, scenes: int | None) -> list[str]:
    if scenes and len(reply.scenes) != scenes:
        return [f"scenes: expected exactly {scenes} scenes, got {len(reply.scenes)}"]
    return []


def entities_problems(reply: EntitiesReply, ids: list[str]) -> list[str]:
    problems = []
    seen: set[str] = set()
    for e in reply.entities:
        if e.id not in ids:
            problems.append(f"entities: unknown id '{e.id}' (known: {', '.join(ids)})")
        elif e.id in seen:
            problems.append(f"entities: '{e.id}' is described twice")
        seen.add(e.id)
    missing = [i for i in ids if i not in seen]
    if missing:
        problems.append(f"entities: no description for {', '.join(missing)}")
    return problems


def layout_problems(reply: LayoutReply, entity_ids: list[str], num_frames: int) -> list[str]:
    """Structure only (ids, frame numbers, finite numbers); geometry is `planners.checks`' job."""
    problems = []
    prev = -1
    for kf in reply.keyframes:
        if not 0 <= kf.frame < num_frames:
            problems.append(f"keyframe {kf.frame}: frame must be between 0 and {num_frames - 1}")
        if kf.frame <= prev:
            problems.append(f"keyframe {kf.frame}: frames must be strictly increasing (after {prev})")
        prev = max(prev, kf.frame)
        seen: set[str] = set()
        for b in kf.boxes:
            if b.entity not in entity_ids:
                problems.append(f"keyframe {kf.frame}: unknown entity '{b.entity}' (known: {', '.join(entity_ids) or 'none'})")
            elif b.entity in seen:
                problems.append(f"keyframe {kf.frame}: two boxes for '{b.entity}'")
            seen.add(b.entity)
            if not all(math.isfinite(c) for c in b.box):
                problems.append(f"keyframe {kf.frame}, {b.entity}: box numbers must be finite, got {b.box}")
    m = reply.background_motion
    if not (math.isfinite(m.dx) and math.isfinite(m.dy)):
        problems.append(f"background_motion: dx and dy must be finite numbers, got {m.dx}, {m.dy}")
    elif abs(m.dx) > MAX_MOTION or abs(m.dy) > MAX_MOTION:
        problems.append(f"background_motion: dx and dy must be between -{MAX_MOTION} and {MAX_MOTION} (fraction of the frame per frame)")
    return problems
