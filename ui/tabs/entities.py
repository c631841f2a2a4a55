"""Tab 3 · Entities: every entity with its reference image; edit, upload, cut out, generate, add, delete."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from .. import views
from ..services import Services
from ..views import Shown


@dataclass
class EntitiesTab:
    gallery: gr.Gallery
    entity: gr.Dropdown
    name: gr.Textbox
    description: gr.Textbox
    reference: gr.Image
    upload: gr.UploadButton
    cutout: gr.Button
    clear: gr.Button
    delete: gr.Button
    n_candidates: gr.Slider
    generate: gr.Button
    candidates: gr.Gallery
    new_name: gr.Textbox
    new_kind: gr.Radio
    add: gr.Button

    def viewed(self) -> list[Any]:
        return [self.gallery, self.entity, self.name, self.description, self.reference]

    def view(self, shown: Shown) -> dict[Any, Any]:
        sb, project = shown.sb, shown.project
        if sb is None or project is None:
            return {}
        entity = sb.entity(shown.entity_id) if shown.entity_id else None
        ref = views.reference_path(project, sb, shown.entity_id)
        return {
            self.gallery: views.gallery_items(project, sb, shown.link),
            self.entity: gr.update(choices=views.entity_choices(sb), value=shown.entity_id),
            self.name: entity.name if entity else "",
            self.description: entity.description if entity else "",
            self.reference: shown.link(Path(ref)) if ref else None,
        }


def build(services: Services) -> EntitiesTab:
    with gr.Tab("3 · Entities", id="entities"):
        with gr.Row():
            with gr.Column(scale=2):
                gallery = gr.Gallery(label="Entities (click one to edit it)", columns=4, height="auto", allow_preview=False,
                                     elem_id="entity-gallery", object_fit="contain")  # fmt: skip
            with gr.Column(scale=1, min_width=300):
                entity = gr.Dropdown([], label="Entity", elem_id="entity-select")
                name = gr.Textbox(label="Name", elem_id="entity-name")
                description = gr.Textbox(label="Description", lines=3, elem_id="entity-description")
                reference = gr.Image(label="Reference image", interactive=False, height=180, elem_id="entity-reference", buttons=[])
                upload = gr.UploadButton("Upload a photo (PNG, JPEG, WebP)", file_types=[".png", ".jpg", ".jpeg", ".webp"],
                                         type="filepath", elem_id="entity-upload", variant="primary", size="md")  # fmt: skip
                with gr.Row():
                    cutout = gr.Button("Cut out background", size="sm", visible=services.cut_out is not None, elem_id="entity-cutout")
                    clear = gr.Button("Remove image", size="sm", elem_id="entity-clear")
                    delete = gr.Button("Delete entity", size="sm", variant="stop", elem_id="entity-delete")
                with gr.Accordion("Generate reference images", open=False, visible=services.make_reference_candidates is not None):
                    with gr.Row():
                        n_candidates = gr.Slider(1, 4, value=2, step=1, label="How many", scale=1)
                        generate = gr.Button("Generate", elem_id="entity-generate", scale=1)
                    candidates = gr.Gallery(label="Click one to use it", columns=4, height=160, allow_preview=False, elem_id="entity-candidates")
                with gr.Accordion("Add an entity", open=False):
                    new_name = gr.Textbox(label="Name")
                    new_kind = gr.Radio(["foreground", "background"], value="foreground", label="Kind")
                    add = gr.Button("Add entity", elem_id="entity-add")
    return EntitiesTab(gallery, entity, name, description, reference, upload, cutout, clear, delete, n_candidates, generate,
                       candidates, new_name, new_kind, add)  # fmt: skip
