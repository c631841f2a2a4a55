"""The page, one builder per tab. A tab module holds its layout (`build`) and what it shows for the
document (`view`, outputs addressed by component); the events that act on it are in `ui.events`.

To add an element to a tab: create it in the tab's `build`, add it to the tab's dataclass, and, if it shows
something of the storyboard, return its value from the tab's `view` and list it in `viewed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from flowdrafter.core.storyboard import Storyboard

from ..services import Services
from ..state import Session
from ..views import Shown
from . import api, entities, header, output, plan, storyboard


@dataclass
class Page:
    session: gr.State  # ui.state.Session: the open project, its storyboard, undo history
    focus: gr.State  # what to show after an event: {"scene", "frame", "entity"}; "fast" = already shown
    candidates: gr.State  # [(relative path, seed)] offered for the selected entity
    tabs: gr.Tabs
    header: header.HeaderTab
    plan: plan.PlanTab
    storyboard: storyboard.StoryboardTab
    entities: entities.EntitiesTab
    output: output.OutputTab
    api: api.ApiParts

    def parts(self) -> list[Any]:
        return [self.header, self.plan, self.storyboard, self.entities, self.output]

    def viewed(self) -> list[Any]:
        """Every component a refresh may update."""
        return [c for part in self.parts() for c in part.viewed()]

    def view(self, shown: Shown) -> dict[Any, Any]:
        """What every tab shows for `shown`, by component (components left out keep their value)."""
        out: dict[Any, Any] = {}
        for part in self.parts():
            out |= part.view(shown)
        return out


def build_page(services: Services, start: Session, start_sb: Storyboard | None) -> Page:
    """Lay the page out top-down inside an open `gr.Blocks`."""
    session = gr.State(start)
    focus = gr.State({})
    candidates = gr.State([])
    head = header.build(has_project=start_sb is not None)
    with gr.Tabs(selected="storyboard") as tabs:
        plan_tab = plan.build(services)
        storyboard_tab = storyboard.build(services, start_sb)
        entities_tab = entities.build(services)
        output_tab = output.build(services)
    api_parts = api.build()
    return Page(session, focus, candidates, tabs, head, plan_tab, storyboard_tab, entities_tab, output_tab, api_parts)
