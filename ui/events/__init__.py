"""The page's events, one module per tab, apart from the layout (`ui.tabs`). Decisions are in
`ui.handlers` (what a control does) and `ui.services` (what runs below the UI); these modules route."""

from __future__ import annotations

import gradio as gr

from ..services import Services
from ..tabs import Page
from . import entities, output, plan, project, storyboard
from .common import Events


def wire(demo: gr.Blocks, page: Page, services: Services) -> None:
    ev = Events(page, services)
    project.wire(demo, ev)
    plan.wire(ev)
    storyboard.wire(ev)
    entities.wire(ev)
    output.wire(ev)
