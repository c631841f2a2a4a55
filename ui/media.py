"""Media per browser session: each session can fetch the media of the project it has open, and nothing else.

Gradio serves its cache and `allowed_paths` to every session alike, so a project folder handed to it
would become downloadable from every tab. Project folders are never handed to it. Instead each session
holds a grant: the folders it may take media from (its open project's `assets/`, `renders/`, `exports/`
and its own scratch folder) and a random token. A file the page shows is first checked against the
session's grant (inside one of those folders after resolving links, no dot files) and then published:
hard-linked (or copied) into `<media root>/<token>/`, one static folder Gradio serves without copying.
Opening another project replaces the grant with a new token and deletes the old token's folder, so the
old project's links stop working for that session; closing the tab deletes it too. Other sessions never
learn a token that is not theirs.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from flowdrafter.core.project import Project


@dataclass(frozen=True)
class Grant:
    token: str
    project: str | None  # the project root the grant was made for
    folders: dict[str, Path]  # name in the published tree -> source folder (resolved)


class Media:
    """The grants of every session and the folder their published media live in."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._grants: dict[str, Grant] = {}
        self._lock = threading.Lock()

    def static_root(self) -> Path:
        """The one folder to give Gradio as a static path (`gr.set_static_paths`)."""
        return self.root.resolve()

    # -- grants --------------------------------------------------------------------------------------

    def grant(self, session: str, project: Project | None, scratch: Path) -> Grant:
        """The session's grant for `project`: the same while the project stays; a new token (and the old
        token's published files deleted) when it changes."""
        root = str(project.root) if project is not None else None
        with self._lock:
            current = self._grants.get(session)
            if current is not None and current.project == root:
                return current
            folders = {"scratch": scratch.resolve()}
            if project is not None:
                folders |= {"assets": project.assets_dir.resolve(), "renders": project.renders_dir.resolve(),
                            "exports": project.exports_dir.resolve()}  # fmt: skip
            new = Grant(secrets.token_urlsafe(18), root, folders)
            self._grants[session] = new
        if current is not None:
            shutil.rmtree(self.root / current.token, ignore_errors=True)
        return new

    def revoke(self, session: str) -> None:
        with self._lock:
            grant = self._grants.pop(session, None)
        if grant is not None:
            shutil.rmtree(self.root / grant.token, ignore_errors=True)

    # -- publishing ------------------------------------------------------------------------------------

    def publish(self, session: str, path: Path | str) -> Path | None:
        """The published copy of `path` for `session`, or None when its grant does not cover the file."""
        with self._lock:
            grant = self._grants.get(session)
        if grant is None:
            return None
        source = Path(path).resolve()
        for name, folder in grant.folders.items():
            if not source.is_relative_to(folder) or source == folder:
                continue
            rel = source.relative_to(folder)
            if any(part.startswith(".") for part in rel.parts) or source.name.endswith(".tmp") or not source.is_file():
                return None
            target = self.root / grant.token / name / rel
            _link(source, target)
            return target
        return None


def _link(source: Path, target: Path) -> None:
    """Make `target` a hard link of `source` (a copy across file systems), replaced atomically."""
    try:
        if target.exists() and (os.path.samefile(source, target) or _same_copy(source, target)):
            return
    except OSError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        os.link(source, tmp)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(source, tmp)
    os.replace(tmp, target)


def _same_copy(source: Path, target: Path) -> bool:
    a, b = source.stat(), target.stat()
    return a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns
