"""The worker side of a cluster render: one scene in, the clip's bytes and its metadata out.

A `SceneWorker` runs as a Ray actor (one per generator and device); `generators/cluster.py` makes it and
feeds it. It keeps its generator, and so the generator's loaded pipelines, between scenes, just as a local
process does. It needs no shared filesystem: the storyboard, the scene's reference images and the
settings arrive as arguments (through Ray's object store), the scene is rendered in a private folder
that holds only those files, and the clip goes back as bytes. Models resolve through the worker's own
Hugging Face cache. This module does not import Ray, so it also runs (and is tested) in-process.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import os
import shutil
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

from flowdrafter.core import __version__
from flowdrafter.core.errors import Cancelled, FlowDrafterError
from flowdrafter.core.project import Project
from flowdrafter.core.settings import Settings
from flowdrafter.core.storyboard import Storyboard, check_relative_path

from .base import Generator, RenderContext, get_generator
from .cache import expected_for
from .video import FfmpegSink

def versions() -> dict[str, str]:
    """What must match between the driver and a worker for their clips to be interchangeable."""
    try:
        torch = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch = "not installed"
    return {"flowdrafter": __version__, "torch": torch}


def node_name() -> str:
    """The worker's host name and, inside Ray, the node's IP address (as `ray status` shows it)."""
    host = socket.gethostname()
    try:
        import ray

        ip = ray.util.get_node_ip_address()
    except Exception:  # noqa: BLE001 - outside Ray, or Ray without a node: the host name says enough
        return host
    return f"{host} ({ip})" if ip and ip != host else host


class SceneWorker:
    """Renders scenes sent by the driver; keeps one generator (with its models) per generator name.

    `render` is one plain call per scene (Ray Client has no streaming calls); the actor serves the small
    calls (`progress`, `cancel`, `status`) from other threads meanwhile, so the driver polls progress."""

    def __init__(self) -> None:
        self._generators: dict[str, tuple[str, Generator]] = {}  # name -> (settings fingerprint, generator)
        self._cancelled: set[str] = set()
        self._running: dict[str, tuple[str, float, str]] = {}  # token -> (scene id, fraction, message)
        self._lock = threading.Lock()
        self.node = node_name()

    # -- small calls (served while a scene renders) ------------------------------------------------------

    def hello(self) -> dict[str, Any]:
        return {**versions(), "node": self.node, "pid": os.getpid()}

    def cancel(self, token: str) -> None:
        with self._lock:  # may come before the scene starts (then it never starts) or after it ended
            self._cancelled.add(token)

    def progress(self) -> dict[str, tuple[float, str]]:
        """token -> (fraction of the scene done, latest message), for each scene rendering now."""
        with self._lock:
            return {token: (fraction, message) for token, (_, fraction, message) in self._running.items()}

    def status(self) -> dict[str, Any]:
        """The scene this worker renders now (None when idle), its process and node."""
        with self._lock:
            scene = next((sid for sid, _, _ in self._running.values()), None)
        return {"scene": scene, "pid": os.getpid(), "node": self.node}

    # -- one scene ---------------------------------------------------------------------------------------

    def render(self, token: str, job: dict[str, Any], storyboard: dict[str, Any], *assets: bytes) -> tuple:
        """("clip", bytes, meta), or ("error", kind, message) for a user-facing error (kind names the
        `FlowDrafterError` class). `assets` are the bytes of the files listed in `job["assets"]`."""
        scene_id = job["scene_id"]
        with self._lock:
            self._running[token] = (scene_id, 0.0, f"rendering on {self.node}")
        try:
            if token in self._cancelled:
                raise Cancelled("render cancelled")
            return self._render(token, job, storyboard, assets)
        except FlowDrafterError as err:  # Cancelled included
            return ("error", type(err).__name__, str(err))
        finally:
            with self._lock:
                self._running.pop(token, None)
                self._cancelled.discard(token)

    def _render(self, token: str, job: dict[str, Any], storyboard: dict[str, Any], assets: tuple[bytes, ...]) -> tuple:
        # 1. the storyboard and the generator (kept loaded when the settings are unchanged)
        sb = Storyboard.model_validate(storyboard)
        scene_id = job["scene_id"]
        gen = self._generator(job["generator"], job["settings"])
        if (gen.version, gen.cache_settings()) != (job["version"], job["cache_settings"]):
            raise FlowDrafterError(
                f"generator {gen.name} on {self.node} is version {gen.version} with {gen.cache_settings()}, "
                f"the driver's is version {job['version']} with {job['cache_settings']}"
            )
        scratch = Path(tempfile.mkdtemp(prefix="flowdrafter-scene-"))
        try:
            # 2. a private project folder with only the files the driver sent
            digests = {}
            for rel, data in zip(job["assets"], assets, strict=True):
                path = scratch / check_relative_path(rel)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                digests[rel] = hashlib.sha256(data).hexdigest()
            project = Project(scratch)

            # 3. render through the same sink as a local render
            def progress(fraction: float, message: str) -> None:
                with self._lock:
                    self._running[token] = (scene_id, fraction, message)

            ctx = RenderContext(project, sb, scene_id, progress=progress, options=dict(job.get("options") or {}))
            ctx.is_cancelled = lambda: token in self._cancelled
            clip = scratch / ".clip.mp4"
            try:
                with FfmpegSink(clip, sb.width, sb.height, sb.fps, expected_frames=ctx.scene.num_frames) as sink:
                    gen.render_scene(ctx, sink)
            finally:
                gen.close()  # frees the models only when keep_models is off, as after a local render

            # 4. send it back with what it was made from (the sink checked the frame count; the driver
            #    verifies the file again when it commits it)
            expected = expected_for(sb, scene_id)
            data = clip.read_bytes()
            take = getattr(gen, "take_warnings", None)
            meta = {
                "scene_id": scene_id,
                "sha256": hashlib.sha256(data).hexdigest(),
                "frames": expected.frames,
                "width": expected.width,
                "height": expected.height,
                "assets": digests,
                "node": self.node,
                "warnings": list(take()) if callable(take) else [],
            }
            return ("clip", data, meta)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _generator(self, name: str, settings: dict[str, Any]) -> Generator:
        fingerprint = repr(sorted(settings.items()))
        held = self._generators.get(name)
        if held and held[0] == fingerprint:
            return held[1]
        if held:
            with contextlib.suppress(Exception):
                held[1].close()
        gen = get_generator(name, Settings(**settings))
        self._generators[name] = (fingerprint, gen)
        return gen
