"""Everything the editor calls below the UI layer, in one typed object made once per app.

The planner, the animatic, rendering, export and the diffusion helpers are imported here. A capability
whose module (or its optional dependency) is not installed is `None`, and the page leaves its controls
out rather than showing a button that cannot work. The settings are the app's one source of settings:
the editor reads them from here and nowhere else. Long jobs run through `jobs` (progress, cancel) and one
at a time through the shared queue (`GPU_QUEUE`); `media` publishes each session its open project's files.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib
import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from flowdrafter.core.settings import Settings, get_settings

from .jobs import Jobs
from .media import Media

if TYPE_CHECKING:
    from PIL import Image

    from flowdrafter.core.project import Project
    from flowdrafter.core.storyboard import Storyboard
    from flowdrafter.generators.export import ExportFormat
    from flowdrafter.generators.render import RenderReport

log = logging.getLogger(__name__)

GPU_QUEUE = "gpu"  # concurrency_id shared by every event that runs a model or renders
Fraction = Callable[[float, str], None]


class PlanFn(Protocol):
    def __call__(self, prompt: str, *, settings: Settings | None = None, scenes: int | None = None,
                 progress: Callable[[str], None] | None = None) -> Storyboard: ...  # fmt: skip


class ReplanFn(Protocol):
    def __call__(self, storyboard: Storyboard, *, stage: str, scene_id: str | None = None, settings: Settings | None = None,
                 progress: Callable[[str], None] | None = None) -> Storyboard: ...  # fmt: skip


class ComposeFn(Protocol):
    def __call__(self, project: Project, storyboard: Storyboard, scene_id: str, frame: int, *, captions: bool = True) -> Image.Image: ...


class RenderFn(Protocol):
    def __call__(self, project: Project, generator: str = "animatic", *, scene_ids: list[str] | None = None, force: bool = False,
                 settings: Settings | None = None, progress: Fraction | None = None,
                 is_cancelled: Callable[[], bool] | None = None) -> RenderReport: ...  # fmt: skip


class ExportFn(Protocol):
    def __call__(self, project: Project, out_path: Path | str, *, generator: str = "animatic", settings: Settings | None = None,
                 progress: Fraction | None = None, is_cancelled: Callable[[], bool] | None = None, **options: Any) -> Path: ...  # fmt: skip


class CandidatesFn(Protocol):
    def __call__(self, project: Project, storyboard: Storyboard, entity_id: str, n: int, *, settings: Settings | None = None,
                 progress: Fraction | None = None) -> list[tuple[str, int]]: ...  # fmt: skip


class CutOutFn(Protocol):
    def __call__(self, project: Project, storyboard: Storyboard, entity_id: str, *, settings: Settings | None = None) -> Storyboard: ...


def _optional(module: str, attr: str) -> Any:
    try:
        return getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as err:
        log.info("editor: %s.%s is not available (%s)", module, attr, err.name)
        return None
    except AttributeError:
        return None


class Services:
    settings: Settings
    plan: PlanFn | None
    replan: ReplanFn | None
    compose_frame: ComposeFn | None
    render_storyboard: RenderFn | None
    export: ExportFn | None
    export_formats: dict[str, ExportFormat]  # by suffix: the editor's export row offers these
    make_reference_candidates: CandidatesFn | None
    cut_out: CutOutFn | None
    jobs: Jobs
    media: Media

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or get_settings()
        self.plan = _optional("flowdrafter.planners.pipeline", "plan")
        self.replan = _optional("flowdrafter.planners.pipeline", "replan")
        self.compose_frame = _optional("flowdrafter.generators.animatic", "compose_frame")
        self.render_storyboard = _optional("flowdrafter.generators.render", "render_storyboard")
        self.export = _optional("flowdrafter.generators.export", "export")
        formats = _optional("flowdrafter.generators.export", "formats")
        self.export_formats = formats() if formats else {}
        self.make_reference_candidates = _optional("flowdrafter.generators.diffusion.references", "make_reference_candidates")
        self.cut_out = _optional("flowdrafter.generators.diffusion.references", "cut_out_reference")
        self._generators = _optional("flowdrafter.generators.base", "available")
        self.jobs = Jobs()
        self._tmp = Path(tempfile.mkdtemp(prefix="flowdrafter-ui-"))
        self.media = Media(self._tmp / "media")
        atexit.register(self.cleanup)

    # -- what exists -----------------------------------------------------------------------------------

    def generators(self) -> list[str]:
        return list(self._generators()) if self._generators else []

    def default_generator(self) -> str | None:
        names = self.generators()
        return "animatic" if "animatic" in names else (names[0] if names else None)

    def settings_for(self, llm: str | None) -> Settings:
        """The settings with the LLM typed in the page, if one was typed."""
        llm = (llm or "").strip()
        return self.settings.model_copy(update={"llm": llm}) if llm else self.settings

    def render_target(self) -> str:
        """Where Render runs: this process, or Ray at `ray_address` (render_storyboard goes there itself)."""
        address = self.settings.ray_address
        if not address:
            return "this process"
        return "a private Ray instance on this machine" if address == "local" else f"the Ray cluster at {address}"

    # -- the app's temp folder: per-session scratch (previews, served to that session only) ------------

    @property
    def temp_dir(self) -> Path:
        return self._tmp

    def session_dir(self, session: str | None) -> Path:
        """The session's scratch folder (the session id comes from the client: only its hash names a folder)."""
        d = self._tmp / "sessions" / hashlib.sha256((session or "").encode()).hexdigest()[:24]
        d.mkdir(parents=True, exist_ok=True)
        return d

    def end_session(self, session: str | None) -> None:
        """A tab closed: stop its job, revoke its media grant, remove its scratch folder."""
        self.jobs.forget(session)
        self.media.revoke(session or "")
        shutil.rmtree(self.session_dir(session), ignore_errors=True)

    def cleanup(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)
