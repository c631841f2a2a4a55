"""Per-session editor state as plain data, and the one way a change reaches disk.

A session is a dict `{"project": str | None, "storyboard": dict | None, "history": dict}`: the open project
folder, the storyboard's `model_dump(mode="json")` and `core.history.History.to_dict()`. It lives in a
`gr.State`, so two browser tabs never share it. Every edit goes through `commit`, which records undo
history and saves the project atomically (autosave after every edit). Edits start from the saved file,
not from the session's copy: the browser may send an event with a session from before the previous
event's answer arrived, and building on that copy would silently undo the previous edit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowdrafter.core.errors import ProjectError
from flowdrafter.core.history import History
from flowdrafter.core.project import Project
from flowdrafter.core.settings import Settings
from flowdrafter.core.storyboard import Storyboard

Session = dict[str, Any]

DEFAULT_UNDO = Settings.model_fields["undo_limit"].default
_EDIT_LOCK = threading.RLock()  # read the saved storyboard, change it, save it: one edit at a time


def empty_session(undo_limit: int = DEFAULT_UNDO) -> Session:
    return {"project": None, "storyboard": None, "history": History(limit=undo_limit).to_dict()}


def open_session(path: Path | str, undo_limit: int = DEFAULT_UNDO) -> Session:
    """Open a project folder; raises ProjectError / StoryboardError with a message a person can act on.

    `undo_limit` comes from the app's settings (`Services.settings.undo_limit`)."""
    project = Project.open(path)
    sb = project.load()
    return {
        "project": str(project.root),
        "storyboard": sb.model_dump(mode="json"),
        "history": History(limit=undo_limit).to_dict(),
    }


def reopen(session: Session) -> Session:
    """The session's project read again from disk, with a fresh history of the same limit."""
    if not has_project(session):
        return session
    return open_session(session["project"], History.from_dict(session["history"]).limit)


def has_project(session: Session | None) -> bool:
    return bool(session and session.get("project") and session.get("storyboard"))


def project(session: Session) -> Project:
    if not has_project(session):
        raise ProjectError("no project is open; open a project folder or create one first")
    return Project(session["project"])


def storyboard(session: Session) -> Storyboard:
    """The project's storyboard as saved: what the last edit left, even one from an event or tab whose
    session copy this one has not seen yet (so a late event never writes back an older document)."""
    return project(session).load()


def apply(session: Session, change: Callable[[Storyboard], Any]) -> tuple[Session, Any]:
    """Run `change(saved storyboard)` and commit what it returns, as one step no other edit can split.

    `change` returns the new storyboard, or `(new storyboard, extra)`; `apply` returns the new session and
    `extra`. Two quick edits (two drags, a drag and a blur) therefore never overwrite each other.
    """
    with _EDIT_LOCK:
        result = change(storyboard(session))
        new, extra = result if isinstance(result, tuple) else (result, None)
        return commit(session, new), extra


def commit(session: Session, new: Storyboard) -> Session:
    """Record the saved storyboard for undo, save `new` atomically, and return the new session.

    Long jobs (a re-plan) commit a result computed from an older storyboard; the newer one they replace
    is what Undo brings back.
    """
    with _EDIT_LOCK:
        old = storyboard(session)
        if new.to_json() == old.to_json():
            return session
        history = History.from_dict(session["history"])
        project(session).save(new)
        history.record(old)
        return {**session, "storyboard": new.model_dump(mode="json"), "history": history.to_dict()}


def undo(session: Session) -> tuple[Session, bool]:
    """Step back; returns the new session and whether anything changed."""
    return _step(session, "undo")


def redo(session: Session) -> tuple[Session, bool]:
    return _step(session, "redo")


def _step(session: Session, which: str) -> tuple[Session, bool]:
    with _EDIT_LOCK:
        current = storyboard(session)
        history = History.from_dict(session["history"])
        previous = history.undo(current) if which == "undo" else history.redo(current)
        if previous is None:
            return session, False
        project(session).save(previous)
        return {**session, "storyboard": previous.model_dump(mode="json"), "history": history.to_dict()}, True


def can_undo(session: Session | None) -> bool:
    return bool(session and session.get("history", {}).get("undo"))


def can_redo(session: Session | None) -> bool:
    return bool(session and session.get("history", {}).get("redo"))
