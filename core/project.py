"""A project folder: `storyboard.json`, `assets/`, `renders/`, `exports/` and `.history/`.

Saves are atomic and keep the last versions under `.history/`. Every path that comes from a document or a
person is resolved through `resolve_asset`, which refuses anything that would leave the folder.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from .atomic import atomic_write_bytes, atomic_write_text
from .errors import AssetError, ProjectError, StoryboardError
from .storyboard import Storyboard, check_relative_path
from .upgrade import load_storyboard

STORYBOARD = "storyboard.json"
ASSETS = "assets"
RENDERS = "renders"
EXPORTS = "exports"
HISTORY = ".history"


class Project:
    """A handle on a project folder. Cheap to create; all state is on disk."""

    def __init__(self, root: Path | str):
        self.root = Path(root).expanduser().absolute()

    # -- layout ----------------------------------------------------------------------------------------

    @property
    def storyboard_path(self) -> Path:
        return self.root / STORYBOARD

    @property
    def assets_dir(self) -> Path:
        return self.root / ASSETS

    @property
    def renders_dir(self) -> Path:
        return self.root / RENDERS

    @property
    def exports_dir(self) -> Path:
        return self.root / EXPORTS

    @property
    def history_dir(self) -> Path:
        return self.root / HISTORY

    def __repr__(self) -> str:
        return f"Project({str(self.root)!r})"

    # -- opening and creating --------------------------------------------------------------------------

    @classmethod
    def open(cls, root: Path | str) -> Project:
        project = cls(root)
        if not project.root.exists():
            raise ProjectError(f"{project.root} does not exist")
        if not project.root.is_dir():
            raise ProjectError(f"{project.root} is not a folder")
        if not project.storyboard_path.is_file():
            raise ProjectError(f"{project.root} is not a FlowDrafter project (no {STORYBOARD})")
        return project

    @classmethod
    def create(cls, root: Path | str, storyboard: Storyboard, *, exist_ok: bool = False) -> Project:
        project = cls(root)
        if project.root.exists() and not project.root.is_dir():
            raise ProjectError(f"{project.root} exists and is not a folder")
        if project.storyboard_path.exists() and not exist_ok:
            raise ProjectError(f"{project.root} already holds a project ({STORYBOARD} exists)")
        if project.root.exists() and any(project.root.iterdir()) and not exist_ok:
            raise ProjectError(f"{project.root} is not empty; choose a new folder")
        try:
            for d in (project.root, project.assets_dir, project.renders_dir, project.exports_dir):
                d.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ProjectError(f"cannot create {project.root}: {err.strerror or err}") from None
        project.save(storyboard)
        return project

    # -- the document ----------------------------------------------------------------------------------

    def read_json(self) -> object:
        path = self.storyboard_path
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise ProjectError(f"{self.root} is not a FlowDrafter project (no {STORYBOARD})") from None
        except OSError as err:
            raise ProjectError(f"cannot read {path}: {err.strerror or err}") from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise StoryboardError([f"not UTF-8 text (byte {err.start})"], str(path)) from None
        if not text.strip():
            raise StoryboardError(["the file is empty"], str(path))
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise StoryboardError([f"malformed JSON at line {err.lineno} column {err.colno}: {err.msg}"], str(path)) from None
        except RecursionError:
            raise StoryboardError(["malformed JSON: nested too deeply"], str(path)) from None
        except ValueError as err:  # e.g. an integer with more than 4300 digits
            raise StoryboardError([f"malformed JSON: {str(err).split(':')[0]}"], str(path)) from None

    def load(self) -> Storyboard:
        return load_storyboard(self.read_json(), str(self.storyboard_path))

    def save(self, storyboard: Storyboard, keep: int | None = None) -> None:
        """Write atomically; the previous version goes to `.history/` (the newest `keep` are kept)."""
        if keep is None:
            from .settings import get_settings

            keep = get_settings().history_keep
        text = storyboard.to_json()
        path = self.storyboard_path
        try:
            if path.is_file():
                old = path.read_bytes()  # archived byte for byte, even if it is damaged
                if old == text.encode("utf-8"):
                    return
                self._archive(old, keep)
            atomic_write_text(path, text)
        except OSError as err:
            raise ProjectError(f"cannot save {path}: {err.strerror or err}") from None

    def _archive(self, data: bytes, keep: int) -> None:
        self.history_dir.mkdir(exist_ok=True)
        now = time.time_ns()  # one reading, UTC: names sort in save order across seconds and DST changes
        secs, nanos = divmod(now, 1_000_000_000)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(secs)) + f"-{nanos:09d}"
        atomic_write_bytes(self.history_dir / f"storyboard-{stamp}.json", data)
        versions = self.history()
        for old in versions[:-keep] if keep else versions:
            old.unlink(missing_ok=True)

    def history(self) -> list[Path]:
        """Saved earlier versions, oldest first."""
        if not self.history_dir.is_dir():
            return []
        return sorted(self.history_dir.glob("storyboard-*.json"))

    # -- assets ----------------------------------------------------------------------------------------

    def resolve_asset(self, rel: str) -> Path:
        """The absolute path of a project-relative asset path, refusing anything that leaves the project."""
        try:
            rel = check_relative_path(rel)
        except ValueError as err:
            raise AssetError(str(err)) from None
        root = self.root.resolve()
        path = (root / rel).resolve()
        if path != root and root not in path.parents:
            raise AssetError(f"asset path '{rel}' leaves the project folder (through a symlink?)")
        return path

    def relative(self, path: Path) -> str:
        """The project-relative POSIX path of a file inside the project."""
        root = self.root.resolve()
        resolved = Path(path).resolve()
        if root not in resolved.parents:
            raise AssetError(f"{path} is outside the project folder")
        return resolved.relative_to(root).as_posix()

    def missing_assets(self, storyboard: Storyboard) -> list[str]:
        """Problems with the reference images a storyboard names: missing, or leaving the project."""
        problems = []
        for e in storyboard.entities:
            if e.reference is not None:
                problem = self.asset_problem(e.reference.image)
                if problem:
                    problems.append(f"entity {e.id}: reference.image: {problem}")
        return problems

    def asset_problem(self, rel: str) -> str | None:
        """Why the asset at `rel` is unusable (leaves the project, missing, not a file), or None if it is fine."""
        try:
            path = self.resolve_asset(rel)
        except AssetError as err:
            return str(err)
        if not path.exists():
            return f"{rel} does not exist"
        if not path.is_file():
            return f"{rel} is not a file"
        return None


def is_project(path: Path | str) -> bool:
    return (Path(path) / STORYBOARD).is_file()

