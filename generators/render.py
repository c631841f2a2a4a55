"""Render a storyboard's scenes into clips through the cache: reuse what is unchanged, render the rest.

Each scene is rendered into a temporary file next to its final name and renamed into place only when the
clip is complete and decodes to the expected frames, so a killed render leaves finished scenes committed
and the next render resumes from there. One render per project and generator runs at a time (a lock file
under `renders/<generator>/`); leftovers of a killed render are removed when the next one starts.
With the `ray_address` setting, the scenes to render go to Ray workers (`generators/cluster.py`) and their
clips are committed here the same way, so local and cluster renders share one cache.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from flowdrafter.core.atomic import atomic_write_text
from flowdrafter.core.errors import Cancelled, RenderError
from flowdrafter.core.project import Project
from flowdrafter.core.settings import Settings
from flowdrafter.core.storyboard import Storyboard

from . import animatic as _animatic  # noqa: F401 - registers the default generator without importing torch
from .base import Generator, ProgressFn, RenderContext, get_generator
from .cache import SceneJob, cached_clip_ok, clip_path, discard, expected_for, generator_dir, scene_key, store_clip
from .video import FfmpegSink

try:  # POSIX; elsewhere concurrent renders of one project are simply not guarded
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


@dataclass(frozen=True)
class SceneRender:
    scene_id: str
    clip: Path
    reused: bool  # True: taken from the cache; False: rendered now
    key: str
    note: str | None = None  # why a cached clip was redone (damaged, wrong length), if it was


@dataclass
class RenderReport:
    """The outcome of `render_storyboard`: one entry per requested scene, in storyboard order."""

    generator: str
    scenes: list[SceneRender] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def rendered(self) -> list[str]:
        return [s.scene_id for s in self.scenes if not s.reused]

    @property
    def reused(self) -> list[str]:
        return [s.scene_id for s in self.scenes if s.reused]

    @property
    def clips(self) -> dict[str, Path]:
        return {s.scene_id: s.clip for s in self.scenes}


@contextlib.contextmanager
def render_lock(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover
        yield
        return
    with open(directory / ".lock", "a+") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RenderError(f"another render is writing to {directory}; wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _remove_leftovers(directory: Path) -> None:
    """Temporary files of a render that was killed (we hold the lock, so nobody is writing them)."""
    for tmp in directory.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            tmp.unlink()


def _as_project(project: Project | str | os.PathLike) -> Project:
    return project if isinstance(project, Project) else Project.open(project)


def render_storyboard(
    project: Project | str | os.PathLike,
    generator: str = "animatic",
    *,
    scene_ids: list[str] | None = None,
    force: bool = False,
    settings: Settings | None = None,
    progress: ProgressFn | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    storyboard: Storyboard | None = None,
    options: dict | None = None,
) -> RenderReport:
    """Render (or reuse) the clips of a storyboard's scenes with a registered generator.

    `scene_ids` limits the render to those scenes (storyboard order is kept); `force` re-renders even
    when a valid cached clip exists; `progress(fraction, message)` gets the overall fraction (0..1);
    `is_cancelled()` is polled between frames and raises `core.errors.Cancelled`. `storyboard`
    defaults to the project's saved one; `options` are per-call generator knobs that enter the cache key.
    Returns a `RenderReport` saying, per scene, which clip holds it and whether it was reused.
    """
    # 1. check inputs
    project = _as_project(project)
    sb = storyboard if storyboard is not None else project.load()
    gen = get_generator(generator, settings)
    if scene_ids:
        unknown = [s for s in scene_ids if sb.scene(s) is None]
        if unknown:
            raise RenderError(f"no scene with id {', '.join(repr(u) for u in unknown)}; scenes: {', '.join(s.id for s in sb.scenes)}")
        wanted = set(scene_ids)
        scenes = [s for s in sb.scenes if s.id in wanted]
    else:
        scenes = list(sb.scenes)
    report_progress = progress or (lambda fraction, message: None)
    cancelled = is_cancelled or (lambda: False)
    total = sum(s.num_frames for s in scenes) or 1
    report = RenderReport(generator=gen.name)
    out_dir = generator_dir(project, gen.name)

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RenderError(f"cannot create {out_dir}: {err.strerror or err}") from None
    with render_lock(out_dir):
        _remove_leftovers(out_dir)
        frames = {s.id: s.num_frames for s in scenes}
        done = 0
        results: dict[str, SceneRender] = {}
        todo: list[tuple[RenderContext, SceneJob, str | None]] = []
        try:
            # 2. key every scene and take the valid cached clips
            for scene in scenes:
                ctx = RenderContext(project, sb, scene.id, options=dict(options or {}))
                key = scene_key(ctx, gen)
                job = SceneJob(scene.id, key, clip_path(project, gen.name, scene.id, key), expected_for(sb, scene.id))
                note = None
                if not force:
                    ok, problem = cached_clip_ok(job.clip, job.expected)
                    if ok:
                        done += scene.num_frames
                        results[scene.id] = SceneRender(scene.id, job.clip, True, key)
                        report_progress(done / total, f"{scene.id}: reused")
                        continue
                    if problem:
                        note = f"cached clip was damaged ({problem}); rendered again"
                        discard(job.clip)
                todo.append((ctx, job, note))

            # 3. render the rest (here, or as Ray tasks), each committed under its key when complete
            if todo and gen.settings.ray_address:
                _render_on_ray(project, sb, gen, todo, results, done, total, frames, report_progress, cancelled, options, report.warnings)
                todo = []
            for ctx, job, note in todo:
                scene = ctx.scene
                start = done

                def scene_progress(fraction: float, message: str, _start: int = start, _n: int = scene.num_frames, _id: str = scene.id) -> None:
                    report_progress((_start + min(max(fraction, 0.0), 1.0) * _n) / total, f"{_id}: {message}")

                ctx.progress = scene_progress
                ctx.is_cancelled = cancelled
                ctx.check_cancelled()
                report_progress(done / total, f"{scene.id}: rendering")

                def encode(tmp: Path, _ctx: RenderContext = ctx) -> None:
                    with FfmpegSink(tmp, sb.width, sb.height, sb.fps, expected_frames=_ctx.scene.num_frames) as sink:
                        gen.render_scene(_ctx, sink)

                store_clip(job.clip, job.expected, encode, scene.id)
                done += scene.num_frames
                results[scene.id] = SceneRender(scene.id, job.clip, False, job.key, note)
                report_progress(done / total, f"{scene.id}: rendered")
        finally:
            take = getattr(gen, "take_warnings", None)
            if callable(take):
                report.warnings.extend(take())
            gen.close()
        report.scenes = [results[s.id] for s in scenes]
        # 4. note which clip holds each scene now (for the editor and for people looking in the folder)
        _write_index(out_dir, project, sb, report)
    return report


def _render_on_ray(
    project: Project,
    sb: Storyboard,
    gen: Generator,
    todo: list[tuple[RenderContext, SceneJob, str | None]],
    results: dict[str, SceneRender],
    done: int,
    total: int,
    frames: dict[str, int],
    report_progress: ProgressFn,
    cancelled: Callable[[], bool],
    options: dict | None,
    report_warnings: list[str],
) -> None:
    """Render `todo` as Ray tasks (generators/cluster.py). Clips are committed as they arrive, so finished
    scenes stay cached when others fail or the render is cancelled; a failure is then one line."""
    from .cluster import render_scenes

    notes = {job.scene_id: note for _, job, note in todo}
    fractions: dict[str, float] = {}

    def on_progress(scene_id: str, fraction: float, message: str) -> None:
        fractions[scene_id] = min(max(fraction, 0.0), 1.0)
        overall = done + sum(frames[sid] * f for sid, f in fractions.items())
        report_progress(overall / total, f"{scene_id}: {message}")

    def commit(job: SceneJob, data: bytes) -> None:
        store_clip(job.clip, job.expected, lambda tmp: tmp.write_bytes(data), job.scene_id)
        results[job.scene_id] = SceneRender(job.scene_id, job.clip, False, job.key, notes[job.scene_id])

    try:
        _, failed, warnings = render_scenes(
            project, sb, gen, [job for _, job, _ in todo], settings=gen.settings, options=dict(options or {}),
            commit=commit, on_progress=on_progress, is_cancelled=cancelled,
        )  # fmt: skip
    except (Cancelled, KeyboardInterrupt):
        _write_index(generator_dir(project, gen.name), project, sb, RenderReport(gen.name, list(results.values())))
        raise
    report_warnings.extend(warnings)
    if failed:
        _write_index(generator_dir(project, gen.name), project, sb, RenderReport(gen.name, list(results.values())))
        kept = len(results)
        more = f" (and {len(failed) - 1} more failed scene{'s' if len(failed) > 2 else ''})" if len(failed) > 1 else ""
        first = failed[0]
        raise type(first)(f"{first}{more}; {kept} scene{'s' if kept != 1 else ''} cached")


def _write_index(out_dir: Path, project: Project, sb: Storyboard, report: RenderReport) -> None:
    import json

    index_path = out_dir / "index.json"
    try:
        index = json.loads(index_path.read_text()) if index_path.is_file() else {}
        if not isinstance(index, dict):
            index = {}
    except (OSError, ValueError):
        index = {}
    ids = {s.id for s in sb.scenes}
    index = {k: v for k, v in index.items() if k in ids}
    for s in report.scenes:
        index[s.scene_id] = s.clip.relative_to(project.root).as_posix()
    text = json.dumps(index, indent=2, sort_keys=True) + "\n"
    with contextlib.suppress(OSError):
        if not index_path.is_file() or index_path.read_text() != text:
            atomic_write_text(index_path, text)
