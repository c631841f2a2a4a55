"""Inputs and outputs of the API-only endpoints (`/move_box`): hidden, so the page does not show them."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr


@dataclass
class ApiParts:
    scene: gr.Textbox
    frame: gr.Number
    entity: gr.Textbox
    box: gr.JSON
    result: gr.JSON
    move_box: gr.Button  # never shown: its click is the `/move_box` endpoint


def build() -> ApiParts:
    with gr.Group(visible=False):
        scene = gr.Textbox(label="scene_id", visible=False)
        frame = gr.Number(label="frame", precision=0, visible=False)
        entity = gr.Textbox(label="entity_id", visible=False)
        box = gr.JSON(label="box", visible=False)
        result = gr.JSON(label="keyframes", visible=False)
        move_box = gr.Button(visible=False)
    return ApiParts(scene, frame, entity, box, result, move_box)
