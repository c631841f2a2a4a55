"""The storyboard: the one typed document every stage reads and writes.

Field validators check single values and say what is wrong; `Storyboard` checks everything that needs the
whole document (ids, references between entities, scenes and tracks). `parse_storyboard` turns any input
into either a valid `Storyboard` or a `StoryboardError` whose problems name the exact place, like
``scene s2, track kitten, frame 8: box: x0 0.7 must be less than x1 0.4``.
"""

from __future__ import annotations

import json
import math
import re
from enum import Enum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import StoryboardError

SCHEMA_VERSION = 1

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_ID_RE = re.compile(ID_PATTERN)

MAX_SCENES = 1000
MAX_FRAMES_PER_SCENE = 1024
MAX_MOTION = 0.25  # background motion, fraction of the frame per frame

Box = tuple[float, float, float, float]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class EntityKind(str, Enum):
    foreground = "foreground"
    background = "background"


class CameraMotion(str, Enum):
    static = "static"
    pan_left = "pan_left"
    pan_right = "pan_right"
    tilt_up = "tilt_up"
    tilt_down = "tilt_down"
    zoom_in = "zoom_in"
    zoom_out = "zoom_out"


class TransitionKind(str, Enum):
    cut = "cut"
    crossfade = "crossfade"  # overlaps the next scene by `frames`
    fade = "fade"  # fades out to black over `frames`, the next scene fades in over the same count


class Easing(str, Enum):
    linear = "linear"
    ease_in_out = "ease_in_out"


class Reference(_Model):
    """An entity's reference image, a path relative to the project folder."""

    image: str = Field(min_length=1, max_length=512)
    source: Literal["generated", "upload", "drawn"] = "upload"
    cutout: bool = False
    seed: int | None = None

    @field_validator("image")
    @classmethod
    def _relative(cls, v: str) -> str:
        return check_relative_path(v)


class Entity(_Model):
    id: str = Field(pattern=ID_PATTERN, description="Unique id, lowercase letters, digits, - and _.")
    name: str = Field(min_length=1, max_length=80)
    kind: EntityKind
    description: str = Field(default="", max_length=2000)
    reference: Reference | None = None


class Camera(_Model):
    motion: CameraMotion = CameraMotion.static
    strength: float = Field(default=0.5, ge=0.0, le=1.0)


class BackgroundMotion(_Model):
    """How the background drifts, in fractions of the frame per frame (FlowZero's direction and speed)."""

    dx: float = Field(default=0.0, ge=-MAX_MOTION, le=MAX_MOTION)
    dy: float = Field(default=0.0, ge=-MAX_MOTION, le=MAX_MOTION)


class FrameNote(_Model):
    """What happens on one keyframe of a scene; frames in between interpolate (prompt travel)."""

    frame: int = Field(ge=0)
    description: str = Field(min_length=1, max_length=1000)


class Keyframe(_Model):
    frame: int = Field(ge=0)
    box: Box = Field(description="Normalized [x0, y0, x1, y1], origin top-left, y down.")

    @field_validator("box")
    @classmethod
    def _box(cls, v: Box) -> Box:
        return check_box(v)


class Track(_Model):
    entity: str
    keyframes: list[Keyframe] = Field(min_length=1)
    easing: Easing = Easing.linear

    @field_validator("keyframes")
    @classmethod
    def _increasing(cls, kfs: list[Keyframe]) -> list[Keyframe]:
        for a, b in zip(kfs, kfs[1:]):
            if b.frame <= a.frame:
                raise ValueError(
                    f"keyframe frames must be strictly increasing, got {a.frame} then {b.frame}"
                )
        return kfs


class Transition(_Model):
    kind: TransitionKind = TransitionKind.cut
    frames: int = Field(default=0, ge=0, le=120)

    @model_validator(mode="after")
    def _frames_match_kind(self) -> Transition:
        if self.kind is TransitionKind.cut and self.frames:
            raise ValueError(f"a cut has no frames, got frames={self.frames}")
        if self.kind is not TransitionKind.cut and self.frames < 1:
            raise ValueError(f"a {self.kind.value} needs frames >= 1")
        return self


class Scene(_Model):
    id: str = Field(pattern=ID_PATTERN)
    title: str = Field(default="", max_length=200)
    event: str = Field(min_length=1, max_length=2000)
    background: str | None = Field(default=None, description="Id of a background entity.")
    num_frames: int = Field(default=16, ge=1, le=MAX_FRAMES_PER_SCENE)
    camera: Camera = Field(default_factory=Camera)
    background_motion: BackgroundMotion = Field(default_factory=BackgroundMotion)
    frames: list[FrameNote] = Field(default_factory=list)
    tracks: list[Track] = Field(default_factory=list)
    transition: Transition = Field(default_factory=Transition)
    seed: int | None = None
    warnings: list[str] = Field(
        default_factory=list, description="Planner notes the editor shows; they do not affect rendering."
    )

    @field_validator("frames")
    @classmethod
    def _notes_increasing(cls, notes: list[FrameNote]) -> list[FrameNote]:
        for a, b in zip(notes, notes[1:]):
            if b.frame <= a.frame:
                raise ValueError(
                    f"frame descriptions must be in strictly increasing frame order, got {a.frame} then {b.frame}"
                )
        return notes

    def track(self, entity_id: str) -> Track | None:
        return next((t for t in self.tracks if t.entity == entity_id), None)


class Storyboard(_Model):
    schema_version: Literal[1] = SCHEMA_VERSION
    title: str = Field(default="Untitled", max_length=200)
    prompt: str = Field(default="", max_length=20000)
    style: str = Field(default="", max_length=500)
    negative_prompt: str = Field(default="", max_length=1000)
    fps: int = Field(default=8, ge=1, le=60)
    width: int = Field(default=512, ge=64, le=2048, multiple_of=8)
    height: int = Field(default=320, ge=64, le=2048, multiple_of=8)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    entities: list[Entity] = Field(default_factory=list)
    scenes: list[Scene] = Field(min_length=1, max_length=MAX_SCENES)

    @model_validator(mode="after")
    def _integrity(self) -> Storyboard:
        problems = integrity_problems(self)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    # -- lookups -------------------------------------------------------------------------------------

    def entity(self, entity_id: str) -> Entity | None:
        return next((e for e in self.entities if e.id == entity_id), None)

    def scene(self, scene_id: str) -> Scene | None:
        return next((s for s in self.scenes if s.id == scene_id), None)

    def scene_index(self, scene_id: str) -> int:
        for i, s in enumerate(self.scenes):
            if s.id == scene_id:
                return i
        raise StoryboardError([f"no scene with id '{scene_id}'"])

    def to_json(self) -> str:
        """Stable, readable JSON: fixed key order (the model's), two-space indent, trailing newline."""
        return json.dumps(self.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


# -- checks shared by validators and by tools that repair input ---------------------------------------


def check_box(v: Any) -> Box:
    if len(v) != 4:
        raise ValueError(f"a box has 4 numbers [x0, y0, x1, y1], got {len(v)}")
    x0, y0, x1, y1 = (float(c) for c in v)
    for name, c in zip(("x0", "y0", "x1", "y1"), (x0, y0, x1, y1)):
        if not math.isfinite(c) or not 0.0 <= c <= 1.0:
            raise ValueError(f"{name} {c:g} must be between 0 and 1")
    if x0 >= x1:
        raise ValueError(f"x0 {x0:g} must be less than x1 {x1:g}")
    if y0 >= y1:
        raise ValueError(f"y0 {y0:g} must be less than y1 {y1:g}")
    return (x0, y0, x1, y1)


def check_relative_path(v: str) -> str:
    """Asset paths are POSIX, relative, and never climb out of the project folder."""
    p = v.replace("\\", "/")
    if p.startswith("/") or re.match(r"^[A-Za-z]:", p):
        raise ValueError(f"asset path '{v}' must be relative to the project folder")
    if any(part == ".." for part in p.split("/")):
        raise ValueError(f"asset path '{v}' must not contain '..'")
    if "\x00" in p:
        raise ValueError("asset path contains a NUL character")
    return p


def integrity_problems(sb: Storyboard) -> list[str]:
    """Every cross-reference problem in a storyboard whose fields are individually valid."""
    problems: list[str] = []
    kinds: dict[str, EntityKind] = {}
    for e in sb.entities:
        if e.id in kinds:
            problems.append(f"entity {e.id}: duplicate entity id")
        kinds[e.id] = e.kind
    seen_scenes: set[str] = set()
    for s in sb.scenes:
        where = f"scene {s.id}"
        if s.id in seen_scenes:
            problems.append(f"{where}: duplicate scene id")
        seen_scenes.add(s.id)
        if s.background is not None:
            kind = kinds.get(s.background)
            if kind is None:
                problems.append(f"{where}: background '{s.background}' is not an entity")
            elif kind is not EntityKind.background:
                problems.append(f"{where}: background '{s.background}' is a foreground entity")
        for note in s.frames:
            if note.frame >= s.num_frames:
                problems.append(
                    f"{where}, frame {note.frame}: description is outside the scene (frames 0-{s.num_frames - 1})"
                )
        seen_tracks: set[str] = set()
        for t in s.tracks:
            tw = f"{where}, track {t.entity}"
            if t.entity in seen_tracks:
                problems.append(f"{tw}: duplicate track for this entity")
            seen_tracks.add(t.entity)
            kind = kinds.get(t.entity)
            if kind is None:
                problems.append(f"{tw}: unknown entity '{t.entity}'")
            elif kind is not EntityKind.foreground:
                problems.append(f"{tw}: '{t.entity}' is a background entity; only foreground entities have boxes")
            for kf in t.keyframes:
                if kf.frame >= s.num_frames:
                    problems.append(
                        f"{tw}, frame {kf.frame}: keyframe is outside the scene (frames 0-{s.num_frames - 1})"
                    )
    for a, b in zip(sb.scenes, sb.scenes[1:]):
        tr = a.transition
        if tr.kind is TransitionKind.crossfade and tr.frames > min(a.num_frames, b.num_frames):
            problems.append(
                f"scene {a.id}: crossfade of {tr.frames} frames is longer than scene "
                f"{a.id if a.num_frames <= b.num_frames else b.id}"
            )
    if sb.scenes and sb.scenes[-1].transition.frames > sb.scenes[-1].num_frames:
        problems.append(f"scene {sb.scenes[-1].id}: transition is longer than the scene")
    return problems


# -- turning input into a storyboard ------------------------------------------------------------------


def describe_location(data: Any, loc: tuple[Any, ...]) -> str:
    """Turn a pydantic location into words a person can find in the file: ids and frames, not indices."""
    words: list[str] = []
    node = data
    i = 0
    while i < len(loc):
        key = loc[i]
        nxt = loc[i + 1] if i + 1 < len(loc) else None
        child = _child(node, key)
        if key in ("scenes", "entities", "tracks", "keyframes", "frames") and isinstance(nxt, int):
            item = _child(child, nxt)
            words.append(_item_name(key, item, nxt))
            node = item
            i += 2
            continue
        words.append(str(key))
        node = child
        i += 1
    return ", ".join(words)


def _child(node: Any, key: Any) -> Any:
    try:
        return node[key]
    except (KeyError, IndexError, TypeError):
        return None


def _item_name(collection: str, item: Any, index: int) -> str:
    label = {"scenes": "scene", "entities": "entity", "tracks": "track", "keyframes": "frame", "frames": "frame"}[
        collection
    ]
    field = {"scenes": "id", "entities": "id", "tracks": "entity", "keyframes": "frame", "frames": "frame"}[collection]
    value = item.get(field) if isinstance(item, dict) else None
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
        return f"{label} {value}"
    return f"{label} #{index + 1}"


def validation_problems(err: ValidationError, data: Any) -> list[str]:
    problems: list[str] = []
    for e in err.errors():
        msg = e["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        loc = tuple(e["loc"])
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif e["type"] == "missing":
            msg = "required field is missing"
        elif e["type"] == "too_short" and loc and loc[-1] == "scenes":
            msg = "a storyboard needs at least one scene"
        where = describe_location(data, loc)
        for line in msg.split("\n"):
            problems.append(f"{where}: {line}" if where else line)
    return problems


def parse_storyboard(data: Any, source: str | None = None) -> Storyboard:
    """Validate a dict at the current schema version (use `core.upgrade.load_storyboard` for files)."""
    if not isinstance(data, dict):
        raise StoryboardError([f"a storyboard is a JSON object, got {type(data).__name__}"], source)
    if not data:
        raise StoryboardError(["the storyboard is empty"], source)
    try:
        return Storyboard.model_validate(data)
    except ValidationError as err:
        raise StoryboardError(validation_problems(err, data), source) from None


def json_schema() -> dict[str, Any]:
    schema = Storyboard.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://flowdrafter.dev/schema/storyboard-v{SCHEMA_VERSION}.json"
    return schema


def is_valid_id(value: str) -> bool:
    return bool(_ID_RE.match(value))


def slugify(text: str, taken: set[str] | None = None, fallback: str = "item") -> str:
    """A valid, unused id from free text ("Red Ball!" -> "red-ball", then "red-ball-2")."""
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48] or fallback
    if not base[0].isalnum():
        base = f"{fallback}-{base}"
    taken = taken or set()
    candidate, n = base, 2
    while candidate in taken:
        candidate = f"{base}-{n}"
        n += 1
    return candidate


__all__ = [
    "SCHEMA_VERSION",
    "Box",
    "BackgroundMotion",
    "Camera",
    "CameraMotion",
    "Easing",
    "Entity",
    "EntityKind",
    "FrameNote",
    "Keyframe",
    "Reference",
    "Scene",
    "Storyboard",
    "Track",
    "Transition",
    "TransitionKind",
    "check_box",
    "check_relative_path",
    "integrity_problems",
    "is_valid_id",
    "json_schema",
    "parse_storyboard",
    "slugify",
]
