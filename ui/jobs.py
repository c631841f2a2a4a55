"""Long jobs (plan, re-plan, render, preview, export) in a worker thread, with live progress and cancel.

Library code reports progress through a plain callback and is cancelled by polling a flag; a Gradio event
is a generator that must yield to update the page. A `Job` joins the two: iterate it for `Progress`
updates while the work runs, then read `result` (or get the work's exception). Each browser session has
at most one cancel flag, set by `Jobs.cancel`; work that polls `is_cancelled` (rendering, exporting, model
downloads) stops between frames with `core.errors.Cancelled`; the planner, which polls only while it downloads,
is stopped at its next progress line by `stoppable`.
"""

from __future__ import annotations

import ctypes
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flowdrafter.core.downloads import progress_fraction
from flowdrafter.core.errors import Cancelled

T = TypeVar("T")
Report = Callable[..., None]  # report(message) or report(fraction, message)
IsCancelled = Callable[[], bool]


@dataclass(frozen=True)
class Progress:
    fraction: float | None  # 0..1, or None when the work only says what it is doing
    message: str

    @classmethod
    def from_args(cls, args: tuple[Any, ...]) -> Progress:
        if args and isinstance(args[0], (int, float)) and not isinstance(args[0], bool):
            return cls(float(args[0]), str(args[1]) if len(args) > 1 else "")
        message = " ".join(str(a) for a in args)
        download = progress_fraction(message)  # a model download's line carries its own fraction
        return cls(download[1] if download else None, message)


def stoppable(report: Report, is_cancelled: IsCancelled, what: str = "planning") -> Report:
    """`report` that raises `Cancelled` once cancel was asked: stops work that polls no flag between its
    steps (the planner) at its next progress line, at most a couple of seconds into a generation."""

    def checked(*args: Any) -> None:
        if is_cancelled():
            raise Cancelled(f"{what} cancelled")
        report(*args)

    return checked


def release_memory() -> None:
    """Give the memory a finished job freed back to the system.

    glibc keeps freed heap pages in each thread's arena, so a long-running editor would otherwise hold on to
    the peak of its biggest export or render (PDF pages, frame buffers) for good. Elsewhere a no-op.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class Job(Generic[T]):
    """`work(report, is_cancelled)` running in a daemon thread; iterate for progress, then read `result`."""

    def __init__(self, work: Callable[[Report, IsCancelled], T], cancel: threading.Event):
        self._queue: queue.Queue[Progress | None] = queue.Queue()
        self._cancel = cancel
        self._result: T | None = None
        self._error: BaseException | None = None
        self._done = False
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True, name="flowdrafter-job")
        self._thread.start()

    def _run(self, work: Callable[[Report, IsCancelled], T]) -> None:
        try:
            self._result = work(lambda *args: self._queue.put(Progress.from_args(args)), self._cancel.is_set)
        except BaseException as err:  # noqa: BLE001 - re-raised in the event's thread by __iter__
            self._error = err
        finally:
            release_memory()
            self._queue.put(None)

    def __iter__(self) -> Iterator[Progress]:
        while (item := self._queue.get()) is not None:
            yield item
        self._done = True
        if self._error is not None:
            raise self._error

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def result(self) -> T:
        if not self._done:
            for _ in self:  # drain: the caller did not care about progress
                pass
        return self._result  # type: ignore[return-value]


class Jobs:
    """Starts jobs and remembers each session's latest one, so Cancel reaches it."""

    def __init__(self) -> None:
        self._latest: dict[str, Job[Any]] = {}
        self._lock = threading.Lock()

    def run(self, session: str | None, work: Callable[[Report, IsCancelled], T]) -> Job[T]:
        job = Job(work, threading.Event())
        with self._lock:
            self._latest[session or ""] = job
        return job

    def cancel(self, session: str | None) -> bool:
        """Ask the session's running job to stop; False when nothing is running."""
        with self._lock:
            job = self._latest.get(session or "")
        if job is None or not job.running:
            return False
        job.cancel()
        return True

    def forget(self, session: str | None) -> None:
        """The session ended: cancel what it still runs and drop it."""
        with self._lock:
            job = self._latest.pop(session or "", None)
        if job is not None:
            job.cancel()
