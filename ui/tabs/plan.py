"""Tab 1 · Plan: a prompt, the number of scenes and the LLM, where the plan goes, and "redo one stage"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from .. import views
from ..services import Services
from ..views import Shown

STAGES = [("script", "script"), ("entities", "entities"), ("layout (boxes)", "layout")]


@dataclass
class PlanTab:
    prompt: gr.Textbox
    scenes: gr.Slider
    llm: gr.Textbox
    into: gr.Radio
    folder: gr.Textbox
    button: gr.Button
    cancel: gr.Button
    log: gr.Textbox
    replan_stage: gr.Dropdown
    replan_scene: gr.Dropdown
    replan_button: gr.Button

    def viewed(self) -> list[Any]:
        return [self.replan_scene]

    def view(self, shown: Shown) -> dict[Any, Any]:
        if shown.sb is None:
            return {}
        return {self.replan_scene: gr.update(choices=[("all scenes", "")] + views.scene_choices(shown.sb), value="")}


def build(services: Services) -> PlanTab:
    with gr.Tab("1 · Plan", id="plan", visible=services.plan is not None):
        prompt = gr.Textbox(label="What should the video show?", lines=3, elem_id="plan-prompt",
                            placeholder="a kitten chases a red ball through a garden, then falls asleep in the sun")  # fmt: skip
        with gr.Row():
            scenes = gr.Slider(1, 12, value=3, step=1, label="Scenes")
            llm = gr.Textbox(label="LLM (.gguf file, or hub repo:file pattern)", value=services.settings.llm, scale=2)
        with gr.Row():
            into = gr.Radio([("Replace this project's storyboard (undo brings it back)", "this"), ("Create a new project folder", "new")],
                            value="this", label="Put the plan in", scale=2)  # fmt: skip
            folder = gr.Textbox(label="New project folder", placeholder="e.g. ~/videos/fox-and-log", scale=2, visible=False)
        with gr.Row():
            button = gr.Button("Plan the storyboard", variant="primary", elem_id="plan-button", scale=4)
            cancel = gr.Button("Cancel", variant="stop", elem_id="plan-cancel", scale=1)
        log = gr.Textbox(label="Planner progress", lines=6, max_lines=12, interactive=False, elem_id="plan-log")
        with gr.Accordion("Redo one stage", open=False, visible=services.replan is not None):
            with gr.Row():
                replan_stage = gr.Dropdown(STAGES, value="layout", label="Stage")
                replan_scene = gr.Dropdown([], label="Scene (layout only; empty = all)")
                replan_button = gr.Button("Redo", elem_id="replan-button")
    return PlanTab(prompt, scenes, llm, into, folder, button, cancel, log, replan_stage, replan_scene, replan_button)
