"""What each editor control decides: pure functions, mostly storyboard in, storyboard out.

They translate widget values (pixel boxes, dropdown strings, empty text fields, gallery clicks) into
`core.edits` calls, and check a control's input before a long job starts (the plan's target folder, the
stage to redo), so every change is validated like a loaded file and a bad one raises a `FlowDrafterError`
with the reason, leaving the input untouched. The events in `ui.events` only route values to these
functions and their results to the page; tests call them directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from flowdrafter.core import edits
from flowdrafter.core.errors import AssetError, ProjectError, StoryboardError
from flowdrafter.core.images import import_image
from flowdrafter.core.layout import pixels_to_norm
from flowdrafter.core.project import Project
from flowdrafter.core.storyboard import EntityKind, Reference, Storyboard, slugify

# -- projects -----------------------------------------------------------------------------------------


def folder(text: str | None, what: str = "type the path of a project folder to open") -> Path:
    """A folder typed into the page; empty is refused with `what` to do instead."""
    if not (text or "").strip():
        raise ProjectError(what)
    return Path(text.strip()).expanduser()


def plan_target(into: str, text: str | None, has_project: bool) -> Path | None:
    """Where a new plan goes: a new (empty) folder, or None for "replace this project's storyboard"."""
    if into == "new":
        target = folder(text, "type a folder for the new project, or choose to replace this project's storyboard")
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise ProjectError(f"{target} is not empty; choose a new folder")
        return target
    if not has_project:
        raise ProjectError("no project is open; choose 'Create a new project folder'")
    return None


def plan_prompt(prompt: str | None) -> str:
    if not (prompt or "").strip():
        raise ProjectError("describe the video to plan in the prompt box")
    return prompt.strip()


def replan_scene(stage: str, only: str | None) -> str | None:
    """The scene a re-plan is limited to: only the layout stage takes one; empty means every scene."""
    return (only or None) if stage == "layout" else None


def export_options(options_model: Any, absolute_paths: bool) -> dict[str, Any]:
    """The export row's options for a format: the absolute-paths box applies to the formats that have it."""
    return {"absolute_paths": True} if absolute_paths and "absolute_paths" in options_model.model_fields else {}


def preview_name(sb: Storyboard) -> str:
    """The whole-storyboard preview's file name: the same storyboard gives the same file (reused)."""
    import hashlib

    return f"preview-{hashlib.sha256(sb.to_json().encode()).hexdigest()[:16]}.mp4"


def export_target(project: Project, sb: Storyboard, suffix: str) -> Path:
    """Where the editor writes an export: the project's `exports/`, named after the storyboard's title."""
    project.exports_dir.mkdir(parents=True, exist_ok=True)
    return project.exports_dir / f"{slugify(sb.title, fallback='storyboard')}{suffix}"

# -- the layout editor --------------------------------------------------------------------------------


def move_box(sb: Storyboard, scene_id: str, frame: int, entity_id: str, pixel_box: Sequence[float]) -> Storyboard:
    """A box was dragged or resized on `frame`: that entity gets a keyframe there."""
    box = pixels_to_norm(pixel_box, sb.width, sb.height)
    return edits.set_keyframe(sb, scene_id, entity_id, int(frame), box)


def draw_box(
    sb: Storyboard, scene_id: str, frame: int, entity_id: str, new_name: str, pixel_box: Sequence[float]
) -> tuple[Storyboard, str]:
    """A box was drawn for an existing foreground entity, or for a new one named `new_name`."""
    if not entity_id:
        name = (new_name or "").strip()
        if not name:
            raise StoryboardError(["type a name for the new entity before drawing its box"])
        sb, entity_id = edits.add_entity(sb, name, EntityKind.foreground)
    return move_box(sb, scene_id, frame, entity_id, pixel_box), entity_id


def released(sb: Storyboard, scene_id: str, frame: int, data: Mapping[str, Any]) -> tuple[Storyboard, str, bool]:
    """The layout editor's `release` event: a drawn box (`action` "add") or a moved one.

    Returns the new storyboard, the entity concerned, and whether a box was added (the page then shows
    everything again; a move changes only the editor).
    """
    box = data.get("box")
    if not isinstance(box, Sequence) or len(box) != 4:
        raise StoryboardError(["the editor sent no box"])
    if data.get("action") == "add":
        new, entity_id = draw_box(sb, scene_id, frame, str(data.get("entity") or ""), str(data.get("name") or ""), box)
        return new, entity_id, True
    entity_id = str(data.get("entity") or "")
    return move_box(sb, scene_id, frame, entity_id, box), entity_id, False


def set_box(sb: Storyboard, scene_id: str, frame: int, entity_id: str, box: Sequence[float]) -> Storyboard:
    """A keyframe from a normalized box `[x0, y0, x1, y1]` (the API's `move_box`)."""
    try:
        values = tuple(float(v) for v in box)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 4:
        raise StoryboardError(["box must be [x0, y0, x1, y1], fractions of the frame"])
    if not isinstance(frame, (int, float)) or frame != int(frame):
        raise StoryboardError([f"frame must be a whole number, got {frame!r}"])
    return edits.set_keyframe(sb, scene_id, entity_id, int(frame), values)


def delete_keyframe(sb: Storyboard, scene_id: str, frame: int, entity_id: str) -> Storyboard:
    return edits.delete_keyframe(sb, scene_id, entity_id, int(frame))


def set_frame_note(sb: Storyboard, scene_id: str, frame: int, text: str) -> Storyboard:
    return edits.set_frame_description(sb, scene_id, int(frame), text or "")


# -- the script ---------------------------------------------------------------------------------------


def add_scene(sb: Storyboard, after: str | None) -> tuple[Storyboard, str]:
    new = edits.add_scene(sb, after=after or None)
    ids = {s.id for s in sb.scenes}
    return new, next(s.id for s in new.scenes if s.id not in ids)


def duplicate_scene(sb: Storyboard, scene_id: str) -> tuple[Storyboard, str]:
    new = edits.duplicate_scene(sb, scene_id)
    ids = {s.id for s in sb.scenes}
    return new, next(s.id for s in new.scenes if s.id not in ids)


def delete_scene(sb: Storyboard, scene_id: str) -> tuple[Storyboard, str]:
    """Delete a scene; the scene to show next is its neighbour."""
    index = sb.scene_index(scene_id)
    new = edits.remove_scene(sb, scene_id)
    return new, new.scenes[min(index, len(new.scenes) - 1)].id


def move_scene(sb: Storyboard, scene_id: str, step: int) -> Storyboard:
    return edits.move_scene(sb, scene_id, sb.scene_index(scene_id) + step)


def edit_scene(
    sb: Storyboard,
    scene_id: str,
    *,
    title: str,
    event: str,
    num_frames: int,
    background: str,
    camera_motion: str,
    camera_strength: float,
    dx: float,
    dy: float,
    transition: str,
    transition_frames: int,
) -> Storyboard:
    """Apply the whole scene form at once (an unchanged form is a no-op)."""
    if not (event or "").strip():
        raise StoryboardError([f"scene {scene_id}: the event cannot be empty"])
    sb = edits.update_scene(
        sb,
        scene_id,
        title=(title or "").strip(),
        event=event.strip(),
        num_frames=int(num_frames),
        background=background or None,
    )
    sb = edits.set_camera(sb, scene_id, camera_motion, float(camera_strength))
    sb = edits.set_background_motion(sb, scene_id, float(dx), float(dy))
    return edits.set_transition(sb, scene_id, transition, int(transition_frames or 0))


# -- entities -----------------------------------------------------------------------------------------


def entity_at(sb: Storyboard, index: int, fallback: str | None) -> str | None:
    """The entity a gallery click picked (tiles are in storyboard order)."""
    return sb.entities[index].id if 0 <= index < len(sb.entities) else fallback


def candidate_at(found: Sequence[Sequence[Any]], index: int) -> tuple[str, int]:
    """The (project-relative image, seed) of the clicked reference candidate."""
    if not 0 <= index < len(found):
        raise ProjectError("that candidate is gone; generate the candidates again")
    rel, seed = found[index]
    return str(rel), int(seed)


def require_entity(entity_id: str | None, then: str = "") -> str:
    if not entity_id:
        raise ProjectError("pick an entity first" + (f", then {then}" if then else ""))
    return entity_id


def add_entity(sb: Storyboard, name: str, kind: str, description: str = "") -> tuple[Storyboard, str]:
    if not (name or "").strip():
        raise StoryboardError(["give the new entity a name"])
    return edits.add_entity(sb, name.strip(), kind, description.strip())


def edit_entity(sb: Storyboard, entity_id: str, name: str, description: str) -> Storyboard:
    if not (name or "").strip():
        raise StoryboardError([f"entity {entity_id}: the name cannot be empty"])
    return edits.update_entity(sb, entity_id, name=name.strip(), description=(description or "").strip())


def remove_entity(sb: Storyboard, entity_id: str) -> Storyboard:
    return edits.remove_entity(sb, entity_id)


def upload_reference(project: Project, sb: Storyboard, entity_id: str, file_path: str, name: str | None = None) -> Storyboard:
    """Bring a person's photo in through core's checks and make it the entity's reference.

    A bad file raises the `AssetError` before anything is stored or changed.
    """
    require_entity(entity_id, "upload its photo")
    if sb.entity(entity_id) is None:
        raise StoryboardError([f"no entity with id '{entity_id}'"])
    if not file_path:
        raise AssetError("choose an image file to upload")
    rel = import_image(project, file_path, name=name)
    return edits.set_reference(sb, entity_id, Reference(image=rel, source="upload", cutout=False))


def use_reference(sb: Storyboard, entity_id: str, rel: str, *, source: str, cutout: bool = False, seed: int | None = None) -> Storyboard:
    """Point an entity at an image already stored in the project (a picked candidate, a cut-out)."""
    return edits.set_reference(sb, entity_id, Reference(image=rel, source=source, cutout=cutout, seed=seed))


def clear_reference(sb: Storyboard, entity_id: str) -> Storyboard:
    return edits.set_reference(sb, entity_id, None)
