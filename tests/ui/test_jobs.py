"""Long jobs: live progress from a worker thread, the result or the work's own error, cancel per session."""

from __future__ import annotations

import threading

import pytest

from flowdrafter.core.errors import Cancelled, PlanningError
from flowdrafter.ui.jobs import Jobs, Progress


def test_progress_arrives_in_order_then_the_result():
    def work(report, cancelled):
        report("script: writing 2 scenes")  # the planner's form: a message
        for i in range(3):
            report((i + 1) / 3, f"s{i + 1}: frame {i + 1}")  # the renderer's form: fraction, message
        return "done"

    job = Jobs().run("tab", work)
    steps = list(job)
    assert steps[0] == Progress(None, "script: writing 2 scenes")
    assert [s.fraction for s in steps[1:]] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert job.result == "done" and not job.running


def test_the_works_error_reaches_the_event_after_its_progress():
    def work(report, cancelled):
        report("script")
        raise PlanningError("the LLM wrote no scenes")

    job = Jobs().run("tab", work)
    seen = []
    with pytest.raises(PlanningError, match="no scenes"):
        for step in job:
            seen.append(step.message)
    assert seen == ["script"]


def test_cancel_reaches_only_that_sessions_running_job():
    jobs, started = Jobs(), threading.Event()

    def work(report, cancelled):
        started.set()
        while not cancelled():
            report(0.5, "rendering")
            threading.Event().wait(0.01)
        raise Cancelled("render cancelled")

    job = jobs.run("a", work)
    other = jobs.run("b", lambda report, cancelled: "b's result")
    started.wait(5)
    assert other.result == "b's result"
    assert not jobs.cancel("b")  # finished: nothing to cancel
    assert jobs.cancel("a")
    with pytest.raises(Cancelled):
        job.result
    assert not jobs.cancel("a") and not jobs.cancel("nobody")


def test_a_model_downloads_progress_line_fills_the_bar():
    from flowdrafter.core.downloads import DownloadProgress

    line = DownloadProgress("smollm2.gguf", 45_000_000, 90_000_000, 3e6).line()
    assert Progress.from_args((line,)) == Progress(0.5, line)
    assert Progress.from_args(("script: writing 2 scenes",)).fraction is None  # other planner lines say only what happens


def test_cancel_stops_the_planner_at_its_next_step(tmp_path):
    """The planner polls no flag between its LLM calls: its progress lines stop it, and nothing is planned."""
    from builders.tiny_gguf import write_tiny_gguf

    from flowdrafter.core.settings import Settings
    from flowdrafter.planners.pipeline import plan
    from flowdrafter.ui.jobs import stoppable

    settings = Settings(llm=str(write_tiny_gguf(tmp_path / "tiny.gguf")), data_dir=tmp_path / "data", llm_max_tokens=64,
                        llm_refine_rounds=0)  # fmt: skip
    jobs = Jobs()
    job = jobs.run("tab", lambda report, cancelled: plan("a fox jumps over a log", settings=settings, scenes=2, use_cache=False,
                                                         progress=stoppable(report, cancelled), is_cancelled=cancelled))  # fmt: skip
    seen = []
    with pytest.raises(Cancelled, match="planning cancelled"):
        for step in job:
            seen.append(step.message)
            jobs.cancel("tab")  # at the planner's first line
    assert len(seen) == 1 and not job.running
