"""Pure edit operations: each takes a storyboard and returns a new, validated one.

The editor calls only these, so every change a person makes is checked the same way a loaded file is,
and an invalid edit raises a `StoryboardError` that says why, leaving the original untouched.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import Enum
from typing import Any

from pydantic import ValidationError

from .errors import StoryboardError
from .storyboard import (
    BackgroundMotion,
    Box,
    Camera,
    CameraMotion,
    Easing,
    Entity,
    EntityKind,
    FrameNote,
    Keyframe,
    Reference,
    Scene,
    Storyboard,
    Track,
    Transition,
    TransitionKind,
    check_box,
    parse_storyboard,
    error_message,
    slugify,
)


def _edit(sb: Storyboard, change: Callable[[Storyboard], None], where: str = "") -> Storyboard:
    """Apply `change` to a deep copy and validate the result as a whole; `sb` is never modified.

    Problems read like a loaded file's: ``scene s1: camera.strength: must be at most 1.0, got 2``.
    """
    draft = sb.model_copy(deep=True)
    try:
        change(draft)
    except ValidationError as err:  # building a sub-object (Camera, Keyframe, ...) failed
        raise StoryboardError([_problem(where, e) for e in err.errors()]) from None
    # fields set by assignment are not validated yet; the warnings-free dump hands them to full validation
    return parse_storyboard(draft.model_dump(mode="json", warnings=False))


def _problem(where: str, error: Any) -> str:
    """`where` is a place (``scene s1``) or a place and a field (``scene s1: camera``); the error's own
    field path continues it: ``scene s1: camera.strength: must be at most 1.0, got 2``."""
    field = ".".join(str(p) for p in error["loc"])
    if field and where:
        field = f"{where}{'.' if ': ' in where else ': '}{field}"
    return f"{field or where}: {error_message(error)}" if field or where else error_message(error)


def _choice(enum: type[Enum], value: Any, what: str) -> Any:
    """An enum member from its value, or a StoryboardError listing the choices."""
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(m.value for m in enum)
        raise StoryboardError([f"{what}: must be one of {choices}, got {json.dumps(value, default=str)}"]) from None


def _scene(sb: Storyboard, scene_id: str) -> Scene:
    scene = sb.scene(scene_id)
    if scene is None:
        raise StoryboardError([f"no scene with id '{scene_id}'"])
    return scene


def _entity(sb: Storyboard, entity_id: str) -> Entity:
    entity = sb.entity(entity_id)
    if entity is None:
        raise StoryboardError([f"no entity with id '{entity_id}'"])
    return entity


# -- scenes --------------------------------------------------------------------------------------------


def new_scene_id(sb: Storyboard) -> str:
    taken = {s.id for s in sb.scenes}
    n = len(sb.scenes) + 1
    while f"s{n}" in taken:
        n += 1
    return f"s{n}"


def add_scene(sb: Storyboard, *, after: str | None = None, event: str = "a new scene", **fields: Any) -> Storyboard:
    """Insert a new scene after `after` (or at the end), inheriting the previous scene's background."""

    def change(d: Storyboard) -> None:
        index = d.scene_index(after) + 1 if after else len(d.scenes)
        prev = d.scenes[index - 1] if index else None
        defaults: dict[str, Any] = {
            "id": new_scene_id(d),
            "title": f"Scene {len(d.scenes) + 1}",
            "event": event,
            "background": prev.background if prev else None,
            "num_frames": prev.num_frames if prev else 16,
        }
        d.scenes.insert(index, Scene.model_validate({**defaults, **fields}))

    return _edit(sb, change, "new scene")


def remove_scene(sb: Storyboard, scene_id: str) -> Storyboard:
    if len(sb.scenes) == 1:
        raise StoryboardError(["a storyboard needs at least one scene; add another before deleting this one"])

    def change(d: Storyboard) -> None:
        d.scenes.pop(d.scene_index(scene_id))

    return _edit(sb, change)


def duplicate_scene(sb: Storyboard, scene_id: str) -> Storyboard:
    def change(d: Storyboard) -> None:
        index = d.scene_index(scene_id)
        copy = d.scenes[index].model_copy(deep=True)
        copy.id = new_scene_id(d)
        copy.title = f"{copy.title} (copy)".strip() if copy.title else ""
        d.scenes.insert(index + 1, copy)

    return _edit(sb, change)


def move_scene(sb: Storyboard, scene_id: str, new_index: int) -> Storyboard:
    def change(d: Storyboard) -> None:
        scene = d.scenes.pop(d.scene_index(scene_id))
        d.scenes.insert(max(0, min(new_index, len(d.scenes))), scene)

    return _edit(sb, change)


SCENE_FIELDS = {"title", "event", "background", "num_frames", "seed"}


def update_scene(sb: Storyboard, scene_id: str, **fields: Any) -> Storyboard:
    """Set plain scene fields (title, event, background, num_frames, seed).

    Shortening a scene drops keyframes and descriptions past its new end, keeping a track's last box.
    """
    unknown = set(fields) - SCENE_FIELDS
    if unknown:
        raise StoryboardError([f"scene {scene_id}: cannot set {', '.join(sorted(unknown))} here"])

    def change(d: Storyboard) -> None:
        index = d.scene_index(scene_id)
        scene = Scene.model_validate({**d.scenes[index].model_dump(), **fields})  # coerces, e.g. 12.0 -> 12
        if "num_frames" in fields:
            _trim(scene)
        d.scenes[index] = scene

    return _edit(sb, change, f"scene {scene_id}")


def _trim(scene: Scene) -> None:
    from .layout import track_box

    last = scene.num_frames - 1
    for track in scene.tracks:
        if track.keyframes[-1].frame > last:
            end_box = track_box(track, last)
            track.keyframes = [k for k in track.keyframes if k.frame < last] + [Keyframe(frame=last, box=end_box)]
    scene.frames = [n for n in scene.frames if n.frame <= last]
    if scene.transition.frames > scene.num_frames:
        scene.transition.frames = scene.num_frames


def set_camera(sb: Storyboard, scene_id: str, motion: CameraMotion | str, strength: float | None = None) -> Storyboard:
    def change(d: Storyboard) -> None:
        scene = _scene(d, scene_id)
        scene.camera = Camera(
            motion=_choice(CameraMotion, motion, f"scene {scene_id}: camera.motion"),
            strength=scene.camera.strength if strength is None else strength,
        )

    return _edit(sb, change, f"scene {scene_id}: camera")


def set_background_motion(sb: Storyboard, scene_id: str, dx: float, dy: float) -> Storyboard:
    def change(d: Storyboard) -> None:
        _scene(d, scene_id).background_motion = BackgroundMotion(dx=dx, dy=dy)

    return _edit(sb, change, f"scene {scene_id}: background_motion")


def set_transition(sb: Storyboard, scene_id: str, kind: TransitionKind | str, frames: int = 0) -> Storyboard:
    def change(d: Storyboard) -> None:
        k = _choice(TransitionKind, kind, f"scene {scene_id}: transition.kind")
        _scene(d, scene_id).transition = Transition(kind=k, frames=0 if k is TransitionKind.cut else frames)

    return _edit(sb, change, f"scene {scene_id}: transition")


def set_frame_description(sb: Storyboard, scene_id: str, frame: int, description: str) -> Storyboard:
    """Create or replace the description on `frame`; an empty description deletes it."""

    def change(d: Storyboard) -> None:
        scene = _scene(d, scene_id)
        notes = [n for n in scene.frames if n.frame != frame]
        if description.strip():
            notes.append(FrameNote(frame=frame, description=description.strip()))
        scene.frames = sorted(notes, key=lambda n: n.frame)

    return _edit(sb, change, f"scene {scene_id}, frame {frame}")


# -- entities ------------------------------------------------------------------------------------------


def add_entity(
    sb: Storyboard, name: str, kind: EntityKind | str, description: str = "", entity_id: str | None = None
) -> tuple[Storyboard, str]:
    """Add an entity; returns the new storyboard and the entity's id (made from the name if not given)."""
    new_id = entity_id or slugify(name, {e.id for e in sb.entities}, fallback="entity")

    def change(d: Storyboard) -> None:
        kind_ = _choice(EntityKind, kind, f"entity {new_id}: kind")
        d.entities.append(Entity(id=new_id, name=name.strip() or new_id, kind=kind_, description=description))

    return _edit(sb, change, f"entity {new_id}"), new_id


def update_entity(sb: Storyboard, entity_id: str, **fields: Any) -> Storyboard:
    allowed = {"name", "description"}
    unknown = set(fields) - allowed
    if unknown:
        raise StoryboardError([f"entity {entity_id}: cannot set {', '.join(sorted(unknown))} here"])

    def change(d: Storyboard) -> None:
        entity = _entity(d, entity_id)
        d.entities[d.entities.index(entity)] = Entity.model_validate({**entity.model_dump(), **fields})

    return _edit(sb, change, f"entity {entity_id}")


def set_reference(sb: Storyboard, entity_id: str, reference: Reference | None) -> Storyboard:
    def change(d: Storyboard) -> None:
        _entity(d, entity_id).reference = reference

    return _edit(sb, change)


def remove_entity(sb: Storyboard, entity_id: str) -> Storyboard:
    """Remove an entity with its tracks; scenes that used it as background get none."""

    def change(d: Storyboard) -> None:
        entity = _entity(d, entity_id)
        d.entities.remove(entity)
        for scene in d.scenes:
            scene.tracks = [t for t in scene.tracks if t.entity != entity_id]
            if scene.background == entity_id:
                scene.background = None

    return _edit(sb, change)


# -- tracks and keyframes ------------------------------------------------------------------------------


def set_keyframe(sb: Storyboard, scene_id: str, entity_id: str, frame: int, box: Box) -> Storyboard:
    """Create or move the entity's keyframe on `frame`; adds the entity to the scene if it has no track."""
    where = f"scene {scene_id}, track {entity_id}, frame {frame}"
    try:
        box = check_box(box)
    except ValueError as err:
        raise StoryboardError([f"{where}: box: {err}"]) from None

    def change(d: Storyboard) -> None:
        scene = _scene(d, scene_id)
        if _entity(d, entity_id).kind is not EntityKind.foreground:
            raise StoryboardError([f"{where}: '{entity_id}' is a background entity; only foreground entities have boxes"])
        if not 0 <= frame < scene.num_frames:
            raise StoryboardError([f"{where}: keyframe is outside the scene (frames 0-{scene.num_frames - 1})"])
        track = scene.track(entity_id)
        if track is None:
            scene.tracks.append(Track(entity=entity_id, keyframes=[Keyframe(frame=frame, box=box)]))
            return
        kfs = [k for k in track.keyframes if k.frame != frame] + [Keyframe(frame=frame, box=box)]
        track.keyframes = sorted(kfs, key=lambda k: k.frame)

    return _edit(sb, change)


def delete_keyframe(sb: Storyboard, scene_id: str, entity_id: str, frame: int) -> Storyboard:
    """Delete one keyframe; deleting an entity's last keyframe removes it from the scene."""

    def change(d: Storyboard) -> None:
        scene = _scene(d, scene_id)
        track = scene.track(entity_id)
        if track is None or all(k.frame != frame for k in track.keyframes):
            raise StoryboardError([f"scene {scene_id}, track {entity_id}: no keyframe on frame {frame}"])
        track.keyframes = [k for k in track.keyframes if k.frame != frame]
        if not track.keyframes:
            scene.tracks.remove(track)

    return _edit(sb, change)


def remove_track(sb: Storyboard, scene_id: str, entity_id: str) -> Storyboard:
    def change(d: Storyboard) -> None:
        scene = _scene(d, scene_id)
        scene.tracks = [t for t in scene.tracks if t.entity != entity_id]

    return _edit(sb, change)


def set_easing(sb: Storyboard, scene_id: str, entity_id: str, easing: str) -> Storyboard:
    def change(d: Storyboard) -> None:
        track = _scene(d, scene_id).track(entity_id)
        if track is None:
            raise StoryboardError([f"scene {scene_id}: entity {entity_id} has no track"])
        track.easing = _choice(Easing, easing, f"scene {scene_id}, track {entity_id}: easing")

    return _edit(sb, change)

