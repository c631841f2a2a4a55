"""The header (title, undo, redo) and the project bar (open a folder, start one from an example)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from flowdrafter.core.examples import DEFAULT_EXAMPLE, list_examples

from .. import state, views
from ..views import Shown


@dataclass
class HeaderTab:
    title: gr.Markdown
    undo: gr.Button
    redo: gr.Button
    open_dir: gr.Textbox
    open_btn: gr.Button
    new_dir: gr.Textbox
    example: gr.Dropdown
    new_btn: gr.Button

    def viewed(self) -> list[Any]:
        return [self.title, self.undo, self.redo]

    def view(self, shown: Shown) -> dict[Any, Any]:
        return {
            self.title: views.header(shown.sb, shown.session.get("project") if shown.sb else None),
            self.undo: gr.update(interactive=state.can_undo(shown.session)),
            self.redo: gr.update(interactive=state.can_redo(shown.session)),
        }


def build(has_project: bool) -> HeaderTab:
    with gr.Row(elem_id="fd-header"):
        title = gr.Markdown(views.header(None, None))
        undo = gr.Button("Undo", elem_id="undo-button", size="sm", interactive=False, scale=0, min_width=90)
        redo = gr.Button("Redo", elem_id="redo-button", size="sm", interactive=False, scale=0, min_width=90)
    examples = list_examples()
    with gr.Accordion("Project: open another or start a new one", open=not has_project):
        with gr.Row():
            open_dir = gr.Textbox(label="Project folder", placeholder="/path/to/project", scale=3)
            open_btn = gr.Button("Open", scale=1)
        with gr.Row():
            new_dir = gr.Textbox(label="New project folder (new or empty)", scale=3)
            example = gr.Dropdown(examples, value=DEFAULT_EXAMPLE if DEFAULT_EXAMPLE in examples else None, label="Example", scale=1)
            new_btn = gr.Button("New from example", scale=1)
    return HeaderTab(title, undo, redo, open_dir, open_btn, new_dir, example, new_btn)
