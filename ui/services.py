"""Everything the editor calls below the UI layer, in one object made once per app.

The planner, the animatic, rendering, export and the diffusion helpers are imported here. A capability
whose module (or its optional dependency) is not installed is `None`, and the app leaves its controls out
rather than showing a button that cannot work. Long GPU/CPU jobs run one at a time through the app's
shared queue (`GPU_QUEUE`); cancellation is a flag per browser session, checked by the render loop.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from flowdrafter.core.settings import Settings, get_settings

log = logging.getLogger(__name__)

GPU_QUEUE = "gpu"  # concurrency_id shared by every event that runs a model or renders


def _optional(module: str, attr: str) -> Any:
    try:
        return getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as err:
        log.info("editor: %s.%s is not available (%s)", module, attr, err.name)
        return None
    except AttributeError:
        return None


class Services:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or get_settings()
        self.plan = _optional("flowdrafter.planners.pipeline", "plan")
        self.replan = _optional("flowdrafter.planners.pipeline", "replan")
        self.compose_frame = _optional("flowdrafter.generators.animatic", "compose_frame")
        self.entity_color = _optional("flowdrafter.generators.animatic", "entity_color")
        self.render_storyboard = _optional("flowdrafter.generators.render", "render_storyboard")
        self.export = _optional("flowdrafter.generators.export", "export")
        self.make_reference_candidates = _optional("flowdrafter.generators.diffusion.references", "make_reference_candidates")
        self.remove_background = _optional("flowdrafter.generators.diffusion.cutout", "remove_background")
        self._generators = _optional("flowdrafter.generators.base", "available")
        self._cancel: dict[str, threading.Event] = {}
        self._tmp = Path(tempfile.mkdtemp(prefix="flowdrafter-ui-"))
        atexit.register(self.cleanup)

    # -- what exists -----------------------------------------------------------------------------------

    def generators(self) -> list[str]:
        return list(self._generators()) if self._generators else []

    def render_target(self) -> str:
        """Where Render runs: this process, or Ray at `ray_address` (render_storyboard goes there itself)."""
        address = self.settings.ray_address
        if not address:
            return "this process"
        return "a private Ray instance on this machine" if address == "local" else f"the Ray cluster at {address}"

    # -- the app's temp folder (served next to the open project) ---------------------------------------

    @property
    def temp_dir(self) -> Path:
        return self._tmp

    def session_dir(self, session_hash: str | None) -> Path:
        d = self._tmp / (session_hash or "shared")
        d.mkdir(parents=True, exist_ok=True)
        return d

    def cleanup(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    # -- cancellation ----------------------------------------------------------------------------------

    def start_job(self, session_hash: str | None) -> threading.Event:
        flag = threading.Event()
        self._cancel[session_hash or "shared"] = flag
        return flag

    def cancel(self, session_hash: str | None) -> bool:
        flag = self._cancel.get(session_hash or "shared")
        if flag is None:
            return False
        flag.set()
        return True
