"""Tab 2 · Storyboard: the scene list and the shown scene's form on the left, the layout editor on the right."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from flowdrafter.core.storyboard import MAX_MOTION, Storyboard

from .. import views
from ..layout_editor import editor_value, layout_editor
from ..services import Services
from ..views import Shown


@dataclass
class StoryboardTab:
    scene_list: gr.Radio
    add: gr.Button
    duplicate: gr.Button
    up: gr.Button
    down: gr.Button
    delete: gr.Button
    warnings: gr.Markdown
    quality: gr.HTML
    title: gr.Textbox
    event: gr.Textbox
    frames: gr.Slider
    background: gr.Dropdown
    camera: gr.Dropdown
    strength: gr.Slider
    dx: gr.Slider
    dy: gr.Slider
    transition: gr.Dropdown
    transition_frames: gr.Slider
    editor: gr.HTML
    frame: gr.Slider
    note: gr.Textbox
    services: Services = field(repr=False)

    def form(self) -> list[Any]:
        """The scene form's inputs, in the order `handlers.edit_scene` takes them."""
        return [self.title, self.event, self.frames, self.background, self.camera, self.strength, self.dx, self.dy,
                self.transition, self.transition_frames]  # fmt: skip

    def viewed(self) -> list[Any]:
        return [self.scene_list, self.warnings, self.quality, *self.form(), self.editor, self.frame, self.note]

    def view(self, shown: Shown) -> dict[Any, Any]:
        sb, scene = shown.sb, shown.scene
        if sb is None or scene is None:
            return {self.editor: {"empty": True}}
        return {
            self.scene_list: gr.update(choices=views.scene_choices(sb), value=scene.id),
            self.warnings: views.scene_warnings(sb, scene.id),
            self.quality: views.scene_quality(sb, scene.id),
            self.title: scene.title,
            self.event: scene.event,
            self.frames: gr.update(value=scene.num_frames, maximum=max(256, scene.num_frames)),
            self.background: gr.update(choices=views.background_choices(sb), value=scene.background or ""),
            self.camera: scene.camera.motion.value,
            self.strength: scene.camera.strength,
            self.dx: scene.background_motion.dx,
            self.dy: scene.background_motion.dy,
            self.transition: scene.transition.kind.value,
            self.transition_frames: gr.update(value=scene.transition.frames, maximum=min(120, scene.num_frames)),
            self.editor: self.editor_view(shown),
            self.frame: gr.update(maximum=max(1, scene.num_frames - 1), value=shown.frame, label=views.keyframe_label(sb, scene.id)),
            self.note: self.note_view(sb, scene.id, shown.frame),
        }

    def editor_view(self, shown: Shown) -> dict[str, Any]:
        """The layout editor's value: the frame's animatic picture (no captions) under the boxes."""
        if shown.sb is None or shown.scene_id is None:
            return {"empty": True}
        compose = self.services.compose_frame
        image = compose(shown.project, shown.sb, shown.scene_id, shown.frame, captions=False) if compose else None
        return editor_value(shown.sb, shown.scene_id, shown.frame, image)

    @staticmethod
    def note_view(sb: Storyboard, scene_id: str, frame: int) -> Any:
        text, hint = views.frame_note(sb, scene_id, frame)
        return gr.update(value=text, placeholder=hint, label=f"Description on frame {frame}")


def build(services: Services, start: Storyboard | None) -> StoryboardTab:
    with gr.Tab("2 · Storyboard", id="storyboard"):
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                scene_list = gr.Radio(views.scene_choices(start) if start else [], value=start.scenes[0].id if start else None,
                                      label="Scenes", elem_id="scene-list")  # fmt: skip
                with gr.Row(elem_classes="fd-small"):
                    add = gr.Button("Add", size="sm", elem_id="scene-add")
                    duplicate = gr.Button("Duplicate", size="sm", elem_id="scene-duplicate")
                    up = gr.Button("Up", size="sm", elem_id="scene-up")
                    down = gr.Button("Down", size="sm", elem_id="scene-down")
                    delete = gr.Button("Delete", size="sm", variant="stop", elem_id="scene-delete")
                warnings = gr.Markdown("")
                quality = gr.HTML("", elem_id="fd-quality")  # the plan-quality checks of this scene (planners.quality)
                with gr.Group():
                    title = gr.Textbox(label="Title", elem_id="scene-title")
                    event = gr.Textbox(label="What happens (event)", lines=2, elem_id="scene-event")
                    frames = gr.Slider(1, 256, step=1, value=16, label="Length (frames)", elem_id="scene-frames")
                    background = gr.Dropdown([], label="Background", elem_id="scene-background")
                with gr.Accordion("Camera, background motion, transition", open=False):
                    with gr.Row():
                        camera = gr.Dropdown(views.CAMERA_CHOICES, label="Camera", elem_id="scene-camera")
                        strength = gr.Slider(0, 1, step=0.05, label="Camera strength")
                    with gr.Row():
                        dx = gr.Slider(-MAX_MOTION, MAX_MOTION, step=0.005, label="Background drift x (fraction of the frame per frame)")
                        dy = gr.Slider(-MAX_MOTION, MAX_MOTION, step=0.005, label="Background drift y")
                    with gr.Row():
                        transition = gr.Dropdown(views.TRANSITION_CHOICES, label="Transition to next", elem_id="scene-transition")
                        transition_frames = gr.Slider(0, 16, step=1, label="Transition frames")
            with gr.Column(scale=2, min_width=480):
                editor = layout_editor()
                frame = gr.Slider(0, 15, step=1, value=0, label="Frame", elem_id="frame-slider")
                note = gr.Textbox(label="Description on this frame", elem_id="frame-note", lines=1)
    return StoryboardTab(scene_list, add, duplicate, up, down, delete, warnings, quality, title, event, frames, background, camera,
                         strength, dx, dy, transition, transition_frames, editor, frame, note, services)  # fmt: skip
