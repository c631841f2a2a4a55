"""The storyboard: the one typed document every stage reads and writes.

Field validators check single values and say what is wrong; `Storyboard` checks everything that needs the
whole document (ids, references between entities, scenes and tracks). `parse_storyboard` turns any input
into either a valid `Storyboard` or a `StoryboardError` whose problems name the exact place, like
``scene s2, track kitten, frame 8: box: x0 0.7 must be less than x1 0.4``.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
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
MAX_SEED = 2**32 - 1  # what every random generator we hand seeds to (torch, numpy, llama.cpp) accepts

Box = tuple[float, float, float, float]


def _not_bool(v: Any) -> Any:
    # pydantic's lax mode reads `true` as 1; in a hand-written file that is a mistake, not a number
    if v is True or v is False:
        raise ValueError(f"must be a number, got {str(v).lower()}")
    return v


Int = Annotated[int, BeforeValidator(_not_bool)]
Float = Annotated[float, BeforeValidator(_not_bool)]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED), BeforeValidator(_not_bool)]


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
    seed: Seed | None = None

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
    strength: Float = Field(default=0.5, ge=0.0, le=1.0)


class BackgroundMotion(_Model):
    """What the background itself does, in fractions of the frame per frame (FlowZero's direction and speed):
    water flowing, clouds drifting, scenery streaming past a treadmill. Independent of the camera: a static
    shot may have a moving background, and a pan's own motion is the camera's, not counted here."""

    dx: Float = Field(default=0.0, ge=-MAX_MOTION, le=MAX_MOTION)
    dy: Float = Field(default=0.0, ge=-MAX_MOTION, le=MAX_MOTION)


class FrameNote(_Model):
    """What happens on one keyframe of a scene; frames in between interpolate (prompt travel)."""

    frame: Int = Field(ge=0)
    description: str = Field(min_length=1, max_length=1000)


class Keyframe(_Model):
    frame: Int = Field(ge=0)
    box: Box = Field(description="Normalized [x0, y0, x1, y1], origin top-left, y down.")

    @field_validator("box", mode="before")
    @classmethod
    def _box(cls, v: Any) -> Box:
        return check_box(v)


class Track(_Model):
    entity: str = Field(pattern=ID_PATTERN, description="Id of a foreground entity.")
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
    frames: Int = Field(default=0, ge=0, le=120)

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
    background: str | None = Field(default=None, pattern=ID_PATTERN, description="Id of a background entity.")
    num_frames: Int = Field(default=16, ge=1, le=MAX_FRAMES_PER_SCENE)
    camera: Camera = Field(default_factory=Camera)
    background_motion: BackgroundMotion = Field(default_factory=BackgroundMotion)
    frames: list[FrameNote] = Field(default_factory=list)
    tracks: list[Track] = Field(default_factory=list)
    transition: Transition = Field(default_factory=Transition)
    seed: Seed | None = Field(default=None, description="None: the storyboard seed + 1000 x the scene's position.")
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
    fps: Int = Field(default=8, ge=1, le=60)
    width: Int = Field(default=512, ge=64, le=2048, multiple_of=8)
    height: Int = Field(default=320, ge=64, le=2048, multiple_of=8)
    seed: Seed = 0
    cast: list[Annotated[str, Field(min_length=1, max_length=80)]] = Field(
        default_factory=list,
        max_length=32,
        description="The characters and objects the prompt's story needs, as the planner found them; `check --quality` verifies each is an entity.",
    )
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
        """Stable, readable JSON: fixed key order (the model's), two-space indent, UTF-8, trailing newline.

        (pydantic's serializer writes the same layout as `json.dumps(indent=2)`, several times faster.)
        """
        return self.model_dump_json(indent=2) + "\n"


# -- checks shared by validators and by tools that repair input ---------------------------------------


_BOX_NAMES = ("x0", "y0", "x1", "y1")
_PLAIN = (float, int)  # exact types: bool is excluded


def check_box(v: Any) -> Box:
    """A valid normalized box from any input, or a ValueError that says what is wrong with it."""
    if type(v) is list or type(v) is tuple:  # fast path: the common valid case, checked in one expression
        if len(v) == 4:
            x0, y0, x1, y1 = v
            if (
                type(x0) in _PLAIN and type(y0) in _PLAIN and type(x1) in _PLAIN and type(y1) in _PLAIN
                and 0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0
            ):
                return (float(x0), float(y0), float(x1), float(y1))
    if not isinstance(v, (list, tuple)):
        raise ValueError(f"a box is a list of 4 numbers [x0, y0, x1, y1], got {_show(v)}")
    if len(v) != 4:
        raise ValueError(f"a box has 4 numbers [x0, y0, x1, y1], got {len(v)}")
    for name, c in zip(_BOX_NAMES, v):
        t = type(c)
        if t is not float and t is not int and (t is bool or not isinstance(c, numbers.Real)):
            raise ValueError(f"{name} must be a number, got {_show(c)}")
    x0, y0, x1, y1 = (float(c) for c in v)
    if not (0.0 <= x0 <= 1.0 and 0.0 <= y0 <= 1.0 and 0.0 <= x1 <= 1.0 and 0.0 <= y1 <= 1.0):  # False for NaN
        for name, c in zip(_BOX_NAMES, (x0, y0, x1, y1)):
            if not 0.0 <= c <= 1.0:
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


def integrity_problems(sb: Storyboard | dict[str, Any]) -> list[str]:
    """Every cross-reference problem: duplicate ids, unknown or wrong-kind entities, frames outside a scene,
    transitions longer than the scenes they join.

    Works on a `Storyboard` and also on a raw dict whose fields may be invalid (so `flowdrafter check` can
    list these problems next to field errors); in a raw dict, whatever is malformed is skipped, not guessed.
    """
    problems: list[str] = []
    entities = _get(sb, "entities")
    entities = entities if isinstance(entities, list) else []
    kinds: dict[str, str | None] = {}  # id -> "foreground" / "background" / None when the kind is invalid
    entities_ok = True
    for e in entities:
        eid = _get(e, "id")
        if not isinstance(eid, str):
            entities_ok = False  # an entity without a usable id: references to it cannot be judged
            continue
        if eid in kinds:
            problems.append(f"entity {eid}: duplicate entity id")
        kind = _enum_value(_get(e, "kind"))
        kinds[eid] = kind if kind in ("foreground", "background") else None
    scenes = _get(sb, "scenes")
    scenes = scenes if isinstance(scenes, list) else []
    seen_scenes: set[str] = set()
    for index, s in enumerate(scenes):
        sid = _get(s, "id")
        where = _scene_name(s, index)
        if isinstance(sid, str):
            if sid in seen_scenes:
                problems.append(f"{where}: duplicate scene id")
            seen_scenes.add(sid)
        n = _frame_count(s)
        background = _get(s, "background")
        if isinstance(background, str) and is_valid_id(background) and entities_ok:
            if background not in kinds:
                problems.append(f"{where}: background '{background}' is not an entity")
            elif kinds[background] == "foreground":
                problems.append(f"{where}: background '{background}' is a foreground entity")
        for frame in _frames(_list(s, "frames")) if n is not None else ():
            if type(frame) is int and frame >= n:
                problems.append(f"{where}, frame {frame}: description is outside the scene (frames 0-{n - 1})")
        seen_tracks: set[str] = set()
        for t in _list(s, "tracks"):
            entity = _get(t, "entity")
            if not isinstance(entity, str) or not is_valid_id(entity):
                continue  # already a field error
            tw = f"{where}, track {entity}"
            if entity in seen_tracks:
                problems.append(f"{tw}: duplicate track for this entity")
            seen_tracks.add(entity)
            if entities_ok and entity not in kinds:
                problems.append(f"{tw}: unknown entity '{entity}'")
            elif kinds.get(entity) == "background":
                problems.append(f"{tw}: '{entity}' is a background entity; only foreground entities have boxes")
            for frame in _frames(_list(t, "keyframes")) if n is not None else ():
                if type(frame) is int and frame >= n:
                    problems.append(f"{tw}, frame {frame}: keyframe is outside the scene (frames 0-{n - 1})")
    problems += _transition_problems(scenes)
    return problems


def _transition_problems(scenes: list[Any]) -> list[str]:
    """A transition joins the end of one scene to the start of the next and must fit inside both; a scene's
    incoming and outgoing crossfades must not overlap each other. The last scene's transition is its ending."""
    problems: list[str] = []
    incoming = 0
    for i, a in enumerate(scenes):
        b = scenes[i + 1] if i + 1 < len(scenes) else None
        tr = _get(a, "transition")
        kind, frames, n = _enum_value(_get(tr, "kind")), _get(tr, "frames"), _frame_count(a)
        if kind not in ("crossfade", "fade") or not _is_int(frames) or n is None:
            incoming = 0
            continue
        where = _scene_name(a, i)
        if b is None:
            if frames > n:
                problems.append(f"{where}: {kind} of {frames} frames is longer than the scene ({n} frames)")
            continue
        m = _frame_count(b)
        if m is not None and frames > min(n, m):
            shorter = _scene_name(a, i) if n <= m else _scene_name(b, i + 1)
            problems.append(f"{where}: {kind} of {frames} frames is longer than {shorter} ({min(n, m)} frames)")
        elif kind == "crossfade" and incoming + frames > n:
            problems.append(
                f"{where}: its crossfades in ({incoming} frames) and out ({frames} frames) overlap; "
                f"together they must fit in its {n} frames"
            )
        incoming = frames if kind == "crossfade" else 0
    return problems


def _scene_name(scene: Any, index: int) -> str:
    sid = _get(scene, "id")
    return f"scene {sid}" if isinstance(sid, str) and sid.strip() and len(sid) <= 64 else f"scene #{index + 1}"


def _get(obj: Any, name: str) -> Any:
    """A field of a model or of a raw dict; None for anything else (no JSON scalar has these attributes)."""
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)  # (isinstance(obj, BaseModel) would cost an ABC check per call)


def _frames(items: list[Any]) -> list[Any]:
    """The `frame` of each keyframe or frame note (models: plain attribute access, the hot path)."""
    try:
        return [item.frame for item in items]
    except AttributeError:  # raw dicts, or junk in a raw document
        return [_get(item, "frame") for item in items]


def _list(obj: Any, name: str) -> list[Any]:
    value = _get(obj, name)
    return value if isinstance(value, list) else []


def _enum_value(v: Any) -> Any:
    return v.value if isinstance(v, Enum) else v


def _is_int(v: Any) -> bool:
    return type(v) is int  # not bool (whose type is bool), not a float


def _frame_count(scene: Any) -> int | None:
    n = _get(scene, "num_frames")
    if n is None and isinstance(scene, dict) and "num_frames" not in scene:
        n = Scene.model_fields["num_frames"].default
    return n if _is_int(n) and 1 <= n <= MAX_FRAMES_PER_SCENE else None


# -- turning input into a storyboard ------------------------------------------------------------------


_COLLECTIONS = {  # list field -> (label, the item field that names it)
    "scenes": ("scene", "id"),
    "entities": ("entity", "id"),
    "tracks": ("track", "entity"),
    "keyframes": ("frame", "frame"),
    "frames": ("frame", "frame"),
}


def describe_location(data: Any, loc: tuple[Any, ...]) -> str:
    """Turn a pydantic location into words a person can find in the file: ids and frames, not indices.

    Places come first, then the field: ``("scenes", 1, "tracks", 0, "keyframes", 2, "box")`` in a document
    becomes ``scene s2, track kitten, frame 8: box``; nested fields are dotted (``scene s1: camera.motion``).
    """
    places: list[str] = []
    fields: list[str] = []
    node = data
    i = 0
    while i < len(loc):
        key = loc[i]
        nxt = loc[i + 1] if i + 1 < len(loc) else None
        child = _child(node, key)
        if key in _COLLECTIONS and isinstance(nxt, int) and not fields:
            item = _child(child, nxt)
            places.append(_item_name(key, item, nxt))
            node = item
            i += 2
            continue
        if isinstance(key, int):
            fields.append(f"#{key + 1}")
        else:
            fields.append(("." if fields else "") + str(key))
        node = child
        i += 1
    field = "".join(f" {f}" if f.startswith("#") else f for f in fields)
    return ", ".join(places) + (": " if places and field else "") + field


def _child(node: Any, key: Any) -> Any:
    try:
        return node[key]
    except (KeyError, IndexError, TypeError):
        return None


def _item_name(collection: str, item: Any, index: int) -> str:
    label, field = _COLLECTIONS[collection]
    value = item.get(field) if isinstance(item, dict) else None
    if field == "frame" and _is_int(value):
        return f"{label} {value}"
    if field != "frame" and isinstance(value, str) and value.strip() and len(value) <= 64:
        return f"{label} {value}"
    return f"{label} #{index + 1}"  # its name is missing or is itself the problem


def _show(v: Any) -> str:
    """A short rendering of a bad value, in JSON terms (the file's language, not Python's)."""
    if isinstance(v, dict):
        return "an object"
    if isinstance(v, (list, tuple)):
        return f"a list of {len(v)}"
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else "Infinity" if v > 0 else "-Infinity"  # as JSON files spell them
    try:
        text = json.dumps(v, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(v)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")  # a lone surrogate must not break printing
    return text if len(text) <= 40 else text[:37] + "..."


def _choices(expected: str) -> str:
    return expected.replace("'", "").replace(" or ", ", ")


_NUMBER_ERRORS = {
    "int_type", "int_parsing", "int_from_float", "float_type", "float_parsing", "finite_number",
    "greater_than_equal", "less_than_equal", "greater_than", "less_than", "multiple_of",
}


def error_message(e: dict[str, Any]) -> str:
    """One pydantic error -> the words a person reads after its location."""
    kind, ctx, value = e["type"], e.get("ctx") or {}, e.get("input")
    loc = tuple(e["loc"])
    got = f", got {_show(value)}"
    if kind in ("value_error", "assertion_error"):
        return str(e["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field"
    if isinstance(value, float) and not math.isfinite(value) and kind in _NUMBER_ERRORS:
        return f"must be a finite number{got}"
    if kind in ("int_type", "int_parsing", "int_from_float", "int_parsing_size"):
        return f"must be a whole number{got}"
    if kind in ("float_type", "float_parsing", "finite_number"):
        return f"must be a number{got}"
    if kind == "string_type":
        return f"must be text{got}"
    if kind == "string_unicode":
        return f"must be valid Unicode text{got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false{got}"
    if kind in ("list_type", "tuple_type"):
        return f"must be a list{got}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be an object {{...}}{got}"
    if kind in ("enum", "literal_error"):
        return f"must be one of {_choices(str(ctx.get('expected', '')))}{got}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}{got}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}{got}"
    if kind == "greater_than":
        return f"must be more than {ctx.get('gt')}{got}"
    if kind == "less_than":
        return f"must be less than {ctx.get('lt')}{got}"
    if kind == "multiple_of":
        return f"must be a multiple of {ctx.get('multiple_of')}{got}"
    if kind == "string_too_short":
        return "must not be empty" if ctx.get("min_length") == 1 else f"needs at least {ctx.get('min_length')} characters"
    if kind == "string_too_long":
        return f"is too long ({len(value)} characters; at most {ctx.get('max_length')})"
    if kind == "string_pattern_mismatch" and loc and loc[-1] in ("id", "entity", "background"):
        return (
            f"{_show(value)} is not a valid id: use lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit, at most 64 characters"
        )
    if kind == "too_short":
        if loc == ("scenes",):
            return "a storyboard needs at least one scene"
        if loc and loc[-1] == "keyframes":
            return "a track needs at least one keyframe"
        return f"needs at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return f"has {ctx.get('actual_length')} items; at most {ctx.get('max_length')} are allowed"
    return str(e["msg"]).replace("Input should be", "must be")


def validation_problems(err: ValidationError, data: Any) -> list[str]:
    """Every error of a failed validation as ``place: field: message`` lines, in document order."""
    problems: list[str] = []
    for e in err.errors():
        where = describe_location(data, tuple(e["loc"]))
        for line in error_message(e).split("\n"):
            problems.append(f"{where}: {line}" if where else line)
    return problems


def parse_storyboard(data: Any, source: str | None = None) -> Storyboard:
    """Validate a dict at the current schema version (use `core.upgrade.load_storyboard` for files).

    On failure the `StoryboardError` lists every problem: field errors, and also the cross-reference
    problems that pydantic would only check once every field is valid.
    """
    if not isinstance(data, dict):
        raise StoryboardError([f"a storyboard is a JSON object, got {type(data).__name__}"], source)
    if not data:
        raise StoryboardError(["the storyboard is empty"], source)
    try:
        return Storyboard.model_validate(data)
    except ValidationError as err:
        problems = validation_problems(err, data)
        if any(e["loc"] for e in err.errors()):  # field errors: the whole-document check did not run
            problems += [p for p in integrity_problems(data) if p not in problems]
        raise StoryboardError(problems, source) from None


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
