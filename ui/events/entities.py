"""Events of the Entities tab: pick, edit, upload, cut out, generate candidates and pick one, add, delete."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from .. import handlers, state, views
from ..services import GPU_QUEUE
from ..state import Session
from .common import PRIVATE, Events, user_errors


def wire(ev: Events) -> None:
    page, services = ev.page, ev.services
    tab = page.entities

    ev.on(tab.entity.input, user_errors(lambda s, sid, f, eid: (s, views.focus(sid, f, eid))))

    @user_errors
    def on_gallery(s: Session, scene_id: str, f: float, entity_id: str, evt: gr.SelectData) -> tuple[Session, dict]:
        return s, views.focus(scene_id, f, handlers.entity_at(state.storyboard(s), evt.index, entity_id))

    ev.on(tab.gallery.select, on_gallery)
    for box in (tab.name, tab.description):
        ev.edit(box.blur, lambda sb, sid, f, eid, name, desc: handlers.edit_entity(sb, eid, name, desc), [tab.name, tab.description])

    @user_errors
    def on_upload(s: Session, scene_id: str, f: float, entity_id: str, path: str | None) -> tuple[Session, dict]:
        project = state.project(s)
        s, _ = state.apply(s, lambda sb: handlers.upload_reference(project, sb, entity_id, path, name=Path(path or "").name))
        return s, views.focus(scene_id, f, entity_id)

    ev.on(tab.upload.upload, on_upload, [tab.upload])
    ev.edit(tab.clear.click, lambda sb, sid, f, eid: handlers.clear_reference(sb, eid))
    ev.edit(tab.delete.click, lambda sb, sid, f, eid: handlers.remove_entity(sb, eid))

    @user_errors
    def on_add(s: Session, scene_id: str, f: float, entity_id: str, name: str, kind: str) -> tuple[Session, dict]:
        s, eid = state.apply(s, lambda sb: handlers.add_entity(sb, name, kind))
        return s, views.focus(scene_id, f, eid)

    ev.on(tab.add.click, on_add, [tab.new_name, tab.new_kind])

    if services.cut_out is not None:
        cut_out = services.cut_out

        @user_errors
        def on_cutout(s: Session, scene_id: str, f: float, entity_id: str) -> tuple[Session, dict]:
            """Replace the entity's reference by its cut-out (a new asset; the original stays)."""
            project, eid = state.project(s), handlers.require_entity(entity_id)
            s, _ = state.apply(s, lambda sb: cut_out(project, sb, eid, settings=services.settings))
            return s, views.focus(scene_id, f, entity_id)

        ev.on(tab.cutout.click, on_cutout, concurrency_id=GPU_QUEUE, concurrency_limit=1)

    if services.make_reference_candidates is not None:
        make = services.make_reference_candidates

        @user_errors
        def on_generate(s: Session, entity_id: str, n: float, request: gr.Request, progress: gr.Progress = gr.Progress()) -> Any:
            project, sb, eid = state.project(s), state.storyboard(s), handlers.require_entity(entity_id)
            work = lambda report, cancelled: make(project, sb, eid, int(n), settings=services.settings, progress=report)  # noqa: E731
            found = ev.finish(request, work, progress)
            link = ev.link(s, request)
            return found, [(link(project.resolve_asset(rel)), f"seed {seed}") for rel, seed in found]

        tab.generate.click(on_generate, [page.session, tab.entity, tab.n_candidates], [page.candidates, tab.candidates],
                           api_visibility=PRIVATE, concurrency_id=GPU_QUEUE, concurrency_limit=1)  # fmt: skip

        @user_errors
        def on_pick(s: Session, scene_id: str, f: float, entity_id: str, found: list, evt: gr.SelectData) -> tuple[Session, dict]:
            rel, seed = handlers.candidate_at(found, evt.index)
            eid = handlers.require_entity(entity_id)
            s, _ = state.apply(s, lambda sb: handlers.use_reference(sb, eid, rel, source="generated", seed=seed))
            return s, views.focus(scene_id, f, entity_id)

        ev.on(tab.candidates.select, on_pick, [page.candidates])
