"""Events of the Plan tab: plan a storyboard (into this project or a new folder), redo one stage."""

from __future__ import annotations

from collections.abc import Iterator

import gradio as gr

from flowdrafter.core.errors import Cancelled
from flowdrafter.core.project import Project

from .. import handlers, state, views
from ..jobs import stoppable
from ..services import GPU_QUEUE
from ..state import Session
from .common import PRIVATE, Events, user_errors


def wire(ev: Events) -> None:
    page, services = ev.page, ev.services
    tab = page.plan
    limit = services.settings.undo_limit

    tab.into.change(lambda into: gr.update(visible=into == "new"), tab.into, tab.folder, api_visibility=PRIVATE, queue=False,
                    show_progress="hidden")  # fmt: skip

    if services.plan is not None:
        plan = services.plan

        @user_errors
        def run_plan(s: Session, prompt: str, n_scenes: float, llm: str, into: str, folder: str, request: gr.Request,
                     progress: gr.Progress = gr.Progress()) -> Iterator[dict]:  # fmt: skip
            """Plan a storyboard from a prompt; streams the planner's progress into the log (a model download's into the bar)."""
            prompt = handlers.plan_prompt(prompt)
            target = handlers.plan_target(into, folder, state.has_project(s))
            settings = services.settings_for(llm)
            log = views.Log()
            work = lambda report, cancelled: plan(prompt, settings=settings, scenes=int(n_scenes),  # noqa: E731
                                                  progress=stoppable(report, cancelled), is_cancelled=cancelled)  # fmt: skip
            try:
                sb = yield from ev.stream(request, work, progress, lambda step: {tab.log: log.add(step.message)})
            except Cancelled as err:  # by Cancel, or a model download stopped (it resumes next time)
                yield {tab.log: log.add(f"{err}; the project is as it was")}
                return
            if target is not None:
                Project.create(target, sb)
                s = ev.follow(state.open_session(target, limit), request)
            else:
                s = state.commit(s, sb)
            log.add(f"done: {len(sb.scenes)} scenes, {len(sb.entities)} entities")
            yield {page.session: s, page.focus: views.focus(None, 0, None), tab.log: log.text, page.tabs: gr.Tabs(selected="storyboard")}

        planned = tab.button.click(run_plan, [page.session, tab.prompt, tab.scenes, tab.llm, tab.into, tab.folder],
                                   [page.session, page.focus, tab.log, page.tabs], api_name="plan", show_progress_on=[tab.log],
                                   concurrency_id=GPU_QUEUE, concurrency_limit=1)  # fmt: skip
        ev.then_show(planned)

    if services.replan is not None:
        replan = services.replan

        @user_errors
        def run_replan(s: Session, scene_id: str, f: float, entity_id: str, stage: str, only: str, llm: str,
                       request: gr.Request, progress: gr.Progress = gr.Progress()) -> Iterator[dict]:  # fmt: skip
            sb = state.storyboard(s)
            scene = handlers.replan_scene(stage, only)
            settings = services.settings_for(llm)
            log = views.Log()
            work = lambda report, cancelled: replan(sb, stage=stage, scene_id=scene, settings=settings,  # noqa: E731
                                                    progress=stoppable(report, cancelled), is_cancelled=cancelled)  # fmt: skip
            try:
                result = yield from ev.stream(request, work, progress, lambda step: {tab.log: log.add(step.message)})
            except Cancelled as err:
                yield {tab.log: log.add(f"{err}; the {stage} is as it was")}
                return
            s = state.commit(s, result)
            log.add(f"done: redid the {stage}" + (f" of scene {scene}" if scene else ""))
            yield {page.session: s, page.focus: views.focus(scene_id, f, entity_id), tab.log: log.text}

        ev.on(tab.replan_button.click, run_replan, [tab.replan_stage, tab.replan_scene, tab.llm], outputs=[page.session, page.focus, tab.log],
              show_progress_on=[tab.log], concurrency_id=GPU_QUEUE, concurrency_limit=1)  # fmt: skip

    if services.plan is not None or services.replan is not None:
        tab.cancel.click(ev.cancel, None, tab.log, api_visibility=PRIVATE, queue=False)
