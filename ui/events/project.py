"""Events of the header and the project bar: a new tab loads the project, open, new, undo, redo, tab closed."""

from __future__ import annotations

import gradio as gr

from flowdrafter.core.examples import DEFAULT_EXAMPLE, copy_example

from .. import handlers, state, views
from ..state import Session
from .common import PRIVATE, Events, session_key, user_errors


def wire(demo: gr.Blocks, ev: Events) -> None:
    page, services = ev.page, ev.services
    header = page.header
    limit = services.settings.undo_limit

    @user_errors
    def on_load(s: Session, request: gr.Request) -> dict:
        """A new tab reads the project from disk: another tab may have changed it since the app started."""
        s = state.reopen(s)
        return {page.session: s, **page.view(ev.shown(s, {}, request))}

    demo.load(on_load, [page.session], [page.session, *page.viewed()], api_visibility=PRIVATE, queue=False, show_progress="hidden")

    def on_unload(request: gr.Request) -> None:
        services.end_session(session_key(request))

    demo.unload(on_unload)

    @user_errors
    def open_project(folder: str, request: gr.Request) -> tuple[Session, dict]:
        """Open a project folder in this session (its media become this session's, the previous ones stop)."""
        return ev.follow(state.open_session(handlers.folder(folder), limit), request), views.focus(None, 0, None)

    ev.on(header.open_btn.click, open_project, [header.open_dir], context=False, api_name="open")
    ev.on(header.open_dir.submit, open_project, [header.open_dir], context=False)

    @user_errors
    def new_project(folder: str, example: str, request: gr.Request) -> tuple[Session, dict]:
        target = handlers.folder(folder, "type a folder for the new project")
        copy_example(example or DEFAULT_EXAMPLE, target)
        return ev.follow(state.open_session(target, limit), request), views.focus(None, 0, None)

    ev.on(header.new_btn.click, new_project, [header.new_dir, header.example], context=False)

    @user_errors
    def undo(s: Session, scene_id: str, f: float, entity_id: str) -> tuple[Session, dict]:
        return state.undo(s)[0], views.focus(scene_id, f, entity_id)

    @user_errors
    def redo(s: Session, scene_id: str, f: float, entity_id: str) -> tuple[Session, dict]:
        return state.redo(s)[0], views.focus(scene_id, f, entity_id)

    ev.on(header.undo.click, undo)
    ev.on(header.redo.click, redo)
