"""Events of the Preview, render, export tab: animatic preview, render, re-render one scene, cancel, exports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from flowdrafter.core.errors import Cancelled

from .. import handlers, state, views
from ..services import GPU_QUEUE
from ..state import Session
from .common import PRIVATE, Events, user_errors


def wire(ev: Events) -> None:
    page, services = ev.page, ev.services
    tab = page.output
    settings = services.settings

    if services.render_storyboard is not None:
        render = services.render_storyboard

        def rendering(s: Session, request: gr.Request, progress: gr.Progress, log: views.RenderLog, **what: Any) -> Iterator[dict]:
            """A render job with its progress in the bar and the log; returns its report, None when cancelled
            (not an error: finished scenes stay in the cache, the next render reuses them)."""
            project = state.project(s)
            work = lambda report, cancelled: render(project, settings=settings, progress=report, is_cancelled=cancelled, **what)  # noqa: E731
            try:
                return (yield from ev.stream(request, work, progress, lambda step: {tab.log: log.progress(step.fraction, step.message)}))
            except Cancelled:
                return None

        @user_errors
        def run_render(s: Session, generator: str, force_all: bool, request: gr.Request, progress: gr.Progress = gr.Progress()) -> Iterator[dict]:
            """Render every changed scene with `generator`; returns the per-scene clips and a log."""
            log = views.RenderLog()
            report = yield from rendering(s, request, progress, log, generator=generator, force=bool(force_all))
            if report is None:
                yield {tab.log: log.cancelled()}
                return
            yield {tab.clips: views.clip_items(report, ev.link(s, request)), tab.log: log.done(report)}

        tab.render.click(run_render, [page.session, tab.generator, tab.force], [tab.clips, tab.log], api_name="render",
                         concurrency_id=GPU_QUEUE, concurrency_limit=1)  # fmt: skip

        @user_errors
        def run_rerender(s: Session, scene_id: str, generator: str, request: gr.Request, progress: gr.Progress = gr.Progress()) -> Iterator[dict]:
            sid, log = views.pick_scene(state.storyboard(s), scene_id), views.RenderLog()
            report = yield from rendering(s, request, progress, log, generator=generator, scene_ids=[sid], force=True)
            if report is None:
                yield {tab.log: f"cancelled the re-render of scene {sid}"}
                return
            yield {tab.clips: views.clip_items(report, ev.link(s, request)), tab.log: f"re-rendered scene {sid}; " + log.done(report)}

        tab.rerender.click(run_rerender, [page.session, page.storyboard.scene_list, tab.generator], [tab.clips, tab.log],
                           api_visibility=PRIVATE, concurrency_id=GPU_QUEUE, concurrency_limit=1)  # fmt: skip

        tab.cancel.click(ev.cancel, None, tab.log, api_visibility=PRIVATE, queue=False)

    if services.render_storyboard is not None and services.export is not None:
        render, export = services.render_storyboard, services.export

        @user_errors
        def run_preview(s: Session, scene_id: str, scope: str, request: gr.Request, progress: gr.Progress = gr.Progress()) -> str | None:
            """The animatic of the shown scene, or of the whole storyboard, played in the page."""
            project, sb = state.project(s), state.storyboard(s)
            if scope == "all":
                out = ev.scratch(request) / handlers.preview_name(sb)
                work: Callable[..., Any] = lambda report, cancelled: out if out.is_file() else export(  # noqa: E731
                    project, out, generator="animatic", settings=settings, progress=report, is_cancelled=cancelled, storyboard=sb)
            else:
                sid = views.pick_scene(sb, scene_id)
                work = lambda report, cancelled: render(project, "animatic", scene_ids=[sid], settings=settings,  # noqa: E731
                                                        progress=report, is_cancelled=cancelled).clips[sid]
            return ev.link(s, request)(ev.finish(request, work, progress))

        tab.preview.click(run_preview, [page.session, page.storyboard.scene_list, tab.preview_scope], [tab.video], api_name="preview",
                          concurrency_id=GPU_QUEUE, concurrency_limit=1)  # fmt: skip

    if services.export is not None:
        export = services.export

        def run_export(suffix: str, s: Session, generator: str, absolute: bool, request: gr.Request, progress: gr.Progress) -> str | None:
            project, sb = state.project(s), state.storyboard(s)
            out = handlers.export_target(project, sb, suffix)
            options = handlers.export_options(services.export_formats[suffix].options, bool(absolute))
            work = lambda report, cancelled: export(project, out, generator=generator or "animatic", settings=settings,  # noqa: E731
                                                    progress=report, is_cancelled=cancelled, **options)  # fmt: skip
            return ev.link(s, request)(ev.finish(request, work, progress))

        def film(suffix: str) -> Callable[..., str | None]:
            @user_errors
            def export_film(s: Session, generator: str, request: gr.Request, progress: gr.Progress = gr.Progress()) -> str | None:
                return run_export(suffix, s, generator, False, request, progress)

            return export_film

        def timeline(suffix: str) -> Callable[..., str | None]:
            @user_errors
            def export_timeline(s: Session, generator: str, absolute_paths: bool, request: gr.Request,
                                progress: gr.Progress = gr.Progress()) -> str | None:  # fmt: skip
                return run_export(suffix, s, generator, absolute_paths, request, progress)

            return export_timeline

        for suffix, button in tab.exports.items():
            takes_paths = "absolute_paths" in services.export_formats[suffix].options.model_fields
            fn, inputs = (timeline(suffix), [tab.absolute_paths]) if takes_paths else (film(suffix), [])
            button.click(fn, [page.session, tab.generator, *inputs], [tab.download], api_name=f"export_{suffix[1:]}",
                         concurrency_id=GPU_QUEUE, concurrency_limit=1)  # fmt: skip
