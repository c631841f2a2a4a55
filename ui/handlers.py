"""What each editor control does to the storyboard: pure functions, storyboard in, storyboard out.

They translate widget values (pixel boxes, dropdown strings, empty text fields) into `core.edits` calls and
nothing else, so every change is validated like a loaded file and a bad one raises a `FlowDrafterError`
with the reason, leaving the input untouched. The app wires them to events; tests call them directly.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowdrafter.core import edits
from flowdrafter.core.errors import AssetError, StoryboardError
from flowdrafter.core.images import import_image
from flowdrafter.core.layout import pixels_to_norm
from flowdrafter.core.project import Project
from flowdrafter.core.storyboard import EntityKind, Reference, Storyboard

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
