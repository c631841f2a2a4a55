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
