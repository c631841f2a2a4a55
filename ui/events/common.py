"""How events are wired: errors at the edge, edits that save and then refresh the page, long jobs.

An edit event returns only the new session and the focus (two `gr.State`s), so a refused edit shows its
`gr.Error` and touches no view; a chained `show` then recomputes every view from the saved document and
returns them by component. Plumbing events are private (`api_visibility="private"`); the ones with an
`api_name` form the documented `gradio_client` API.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr

from flowdrafter.core.errors import FlowDrafterError
from flowdrafter.core.storyboard import Storyboard

from .. import state, views
from ..jobs import IsCancelled, Job, Report
from ..services import Services
from ..state import Session
from ..tabs import Page
from ..views import Link, Shown

PRIVATE = "private"  # api_visibility of UI plumbing
T = TypeVar("T")


def user_errors(fn: Callable) -> Callable:
    """Turn a FlowDrafterError into gr.Error with its message: a person sees why, never a traceback."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from fn(*args, **kwargs)
            except FlowDrafterError as err:
                raise gr.Error(str(err), print_exception=False) from None

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FlowDrafterError as err:
            raise gr.Error(str(err), print_exception=False) from None

    return wrapper


def session_key(request: gr.Request | None) -> str:
    """The browser tab (or API client) an event came from."""
    return (request.session_hash if request is not None else None) or ""


def _str(path: Path | None) -> str | None:
    return str(path) if path is not None else None


class Events:
    """The wiring helpers every tab's events use."""

    def __init__(self, page: Page, services: Services):
        self.page = page
        self.services = services
        self.ctx = [page.session, page.storyboard.scene_list, page.storyboard.frame, page.entities.entity]
        self.state = [page.session, page.focus]

    # -- showing the document ------------------------------------------------------------------------

    def follow(self, session: Session, request: gr.Request | None) -> Session:
        """Grant the session its open project's media: opening another one revokes the previous copies at once."""
        key = session_key(request)
        project = state.project(session) if state.has_project(session) else None
        self.services.media.grant(key, project, self.services.session_dir(key))
        return session

    def link(self, session: Session, request: gr.Request | None) -> Link:
        """Project file -> the copy of it this session may fetch (see `ui.media`)."""
        self.follow(session, request)
        key, media = session_key(request), self.services.media
        return lambda path: _str(media.publish(key, path))

    def shown(self, session: Session, where: dict, request: gr.Request | None) -> Shown:
        return views.shown(session, where or {}, self.link(session, request))

    def show(self, session: Session, where: dict, request: gr.Request) -> dict:
        """Every view for the session's document and focus; nothing when the event already answered ("fast")."""
        if (where or {}).get("fast"):
            return {}
        return self.page.view(self.shown(session, where, request))

    # -- wiring ---------------------------------------------------------------------------------------

    def then_show(self, dep: Any) -> Any:
        return dep.success(self.show, self.state, self.page.viewed(), api_visibility=PRIVATE, show_progress="hidden")

    def on(self, trigger: Callable, fn: Callable, inputs: Sequence[Any] = (), outputs: Sequence[Any] | None = None, *,
           context: bool = True, api_name: str | None = None, **kw: Any) -> Any:  # fmt: skip
        """Wire `fn(*ctx, *inputs) -> (session, focus)` to `trigger`, then refresh the views.

        `ctx` is (session, shown scene, frame, entity); `context=False` leaves it out."""
        visibility: dict[str, Any] = {"api_name": api_name} if api_name else {"api_visibility": PRIVATE}
        dep = trigger(fn, inputs=[*(self.ctx if context else []), *inputs], outputs=list(outputs or self.state), **visibility, **kw)
        return self.then_show(dep)

    def edit(self, trigger: Callable, change: Callable[..., Storyboard | tuple[Storyboard, str | None]], inputs: Sequence[Any] = (),
             **kw: Any) -> Any:  # fmt: skip
        """Wire a storyboard change: `change(sb, scene_id, frame, entity_id, *inputs)` returns the new storyboard, or
        (new storyboard, scene to show next). It runs on the saved document, is saved and undoable."""

        @user_errors
        def event(s: Session, scene_id: str, f: float, entity_id: str, *args: Any) -> tuple[Session, dict]:
            def apply(sb: Storyboard) -> tuple[Storyboard, str]:
                sid = views.pick_scene(sb, scene_id)
                result = change(sb, sid, int(f or 0), entity_id, *args)
                new, picked = result if isinstance(result, tuple) else (result, None)
                return new, picked or sid

            s, sid = state.apply(s, apply)
            return s, views.focus(sid, f, entity_id)

        return self.on(trigger, event, inputs, **kw)

    # -- long jobs ------------------------------------------------------------------------------------

    def job(self, request: gr.Request | None, work: Callable[[Report, IsCancelled], T]) -> Job[T]:
        """Run `work(report, is_cancelled)` for this session (its Cancel button reaches it)."""
        return self.services.jobs.run(session_key(request), work)

    def finish(self, request: gr.Request | None, work: Callable[[Report, IsCancelled], T], progress: gr.Progress) -> T:
        """Run `work` as `job` does, its steps in the progress bar only; returns its result."""
        job = self.job(request, work)
        for step in job:
            progress(step.fraction or 0.0, desc=step.message)
        return job.result

    def stream(self, request: gr.Request | None, work: Callable[[Report, IsCancelled], T], progress: gr.Progress,
               show: Callable[[Any], dict]) -> Generator[dict, None, T]:  # fmt: skip
        """Run `work` as `job` does, each step into the progress bar and through `show` (the outputs to update);
        returns its result. Cancelled propagates: each caller says what was kept."""
        job = self.job(request, work)
        for step in job:
            progress(step.fraction or 0.0, desc=step.message)
            yield show(step)
        return job.result

    def cancel(self, request: gr.Request) -> str:
        """The Cancel buttons: stop this session's running job (plan, re-plan, render, preview, export)."""
        return "cancelling…" if self.services.jobs.cancel(session_key(request)) else "nothing to cancel"

    def scratch(self, request: gr.Request | None) -> Path:
        return self.services.session_dir(session_key(request))
