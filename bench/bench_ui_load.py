"""Load test of the editor's server: concurrent `gradio_client` sessions on two projects, on 127.0.0.1.

`flowdrafter ui` runs as its own process. Each session opens one of two projects (sessions alternate),
renders it with the animatic once, then loops until the deadline (and at most `--max-steps` steps):
box edits through `/move_box` (after each one `storyboard.json` is read back and validated), and now
and then a scene preview (`/preview`) or an export (`/export_pdf`, `/export_otio`, `/export_edl`,
`/export_xml`, `/export_mp4`), with a think time between steps like a person's.

Reports: errors (target 0), whether storyboard.json was valid after every edit (target: always), p50 and
p95 edit latency (target p95 <= 500 ms), and the server's resident memory growth over the run (target
<= 100 MB). Baseline, measured first in the same run: the same edits from one session on an idle server;
the loaded latencies are printed as ratios against it. Never fails on speed; exits 1 on errors or an
invalid storyboard.

    .venv/bin/python bench/bench_ui_load.py [--sessions 8] [--seconds 120]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPORTS = ["/export_pdf", "/export_otio", "/export_edl", "/export_xml", "/export_mp4"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(start_project: Path, port: int, data_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "FLOWDRAFTER_DATA_DIR": str(data_dir), "FLOWDRAFTER_LLM": "none", "OMP_NUM_THREADS": "2"}
    exe = Path(sys.executable).with_name("flowdrafter")
    proc = subprocess.Popen([str(exe), "ui", str(start_project), "--host", "127.0.0.1", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    end = time.monotonic() + 180
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
            return proc
        except OSError:
            time.sleep(0.5)
    stop_server(proc)
    raise SystemExit("the server did not start within 3 minutes")


def stop_server(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


@dataclass
class Tally:
    edits: list[float] = field(default_factory=list)  # seconds per /move_box round trip
    checks: int = 0  # storyboard.json read back and validated
    invalid: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    previews: int = 0
    renders: int = 0
    exports: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **kw: object) -> None:
        with self.lock:
            for name, value in kw.items():
                current = getattr(self, name)
                if isinstance(current, list):
                    current.append(value)
                else:
                    setattr(self, name, current + value)


def scene_frames(project: Path) -> dict[str, int]:
    from flowdrafter.core.project import Project

    return {s.id: s.num_frames for s in Project.open(project).load().scenes}


def check(project: Path, tally: Tally) -> None:
    from flowdrafter.core.errors import FlowDrafterError
    from flowdrafter.core.project import Project

    try:
        Project.open(project).load()  # parse and validate, like opening it
        tally.add(checks=1)
    except FlowDrafterError as err:
        tally.add(checks=1, invalid=f"{project.name}: {err}")


def one_session(url: str, project: Path, deadline: float, tally: Tally, *, seed: int, max_steps: int, think: float,
                render: bool = True, extras: bool = True) -> None:  # fmt: skip
    """One person: open the project, render it once, then edit boxes, preview and export until the deadline."""
    from gradio_client import Client

    rng = random.Random(seed)
    frames = scene_frames(project)
    try:
        client = Client(url, verbose=False, download_files=False)
        client.predict(str(project), api_name="/open")
        if render:
            client.predict("animatic", False, api_name="/render")
            tally.add(renders=1)
    except Exception as err:  # noqa: BLE001 - counted and reported
        tally.add(errors=f"session {seed} start: {type(err).__name__}: {err}")
        return
    for step in range(max_steps):
        if time.monotonic() >= deadline:
            break
        try:
            if extras and step % 12 == 11:
                client.predict(rng.choice(list(frames)), "scene", api_name="/preview")
                tally.add(previews=1)
            elif extras and step % 17 == 16:
                client.predict(api_name=rng.choice(EXPORTS))
                tally.add(exports=1)
            else:
                sid = rng.choice(list(frames))
                x0, y0 = rng.uniform(0.0, 0.6), rng.uniform(0.0, 0.5)
                box = [round(x0, 3), round(y0, 3), round(x0 + rng.uniform(0.1, 0.35), 3), round(y0 + rng.uniform(0.15, 0.45), 3)]
                t0 = time.perf_counter()
                client.predict(sid, rng.randrange(frames[sid]), rng.choice(["kitten", "ball"]), box, api_name="/move_box")
                tally.add(edits=time.perf_counter() - t0)
                check(project, tally)
        except Exception as err:  # noqa: BLE001 - counted and reported
            tally.add(errors=f"session {seed} step {step}: {type(err).__name__}: {str(err)[:200]}")
        time.sleep(think * rng.uniform(0.5, 1.5))
    client.close()


def run_sessions(url: str, projects: list[Path], n: int, seconds: float, tally: Tally, *, max_steps: int, think: float,
                 render: bool = True, extras: bool = True) -> None:  # fmt: skip
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=one_session, args=(url, projects[i % len(projects)], deadline, tally),
                                kwargs={"seed": i, "max_steps": max_steps, "think": think, "render": render, "extras": extras})
               for i in range(n)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 600)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


@dataclass
class Result:
    baseline: Tally
    loaded: Tally
    rss_start: float
    rss_warm: float
    rss_end: float
    rss_peak: float
    seconds: float
    sessions: int
    rss_trend: list[float] = field(default_factory=list)  # at each quarter of the run

    @property
    def ok(self) -> bool:
        return not self.loaded.errors and not self.loaded.invalid and not self.baseline.errors and not self.baseline.invalid

    def lines(self) -> list[str]:
        b, t = self.baseline, self.loaded
        p50, p95 = percentile(t.edits, 50) * 1000, percentile(t.edits, 95) * 1000
        b50, b95 = percentile(b.edits, 50) * 1000, percentile(b.edits, 95) * 1000
        return [
            f"{self.sessions} sessions on 2 projects for {self.seconds:.0f} s: {len(t.edits)} box edits, {t.previews} previews, "
            f"{t.renders} animatic renders, {t.exports} exports",
            f"errors: {len(t.errors)} (target 0)" + "".join(f"\n  {e}" for e in t.errors[:5]),
            f"storyboard.json valid after every edit: {t.checks - len(t.invalid)} of {t.checks} checks (target: all)"
            + "".join(f"\n  {e}" for e in t.invalid[:5]),
            f"edit latency: p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {max(t.edits, default=0) * 1000:.0f} ms (target p95 <= 500 ms: "
            f"ratio {p95 / 500:.2f})",
            f"baseline, one session on an idle server: p50 {b50:.0f} ms, p95 {b95:.0f} ms over {len(b.edits)} edits; "
            f"loaded/idle ratio p50 {p50 / b50:.2f}, p95 {p95 / b95:.2f}",
            f"server memory: {self.rss_start:.0f} MB after start, {self.rss_warm:.0f} MB after warm-up, {self.rss_end:.0f} MB at the end "
            f"(peak {self.rss_peak:.0f} MB); growth over the run {self.rss_end - self.rss_warm:+.0f} MB (target <= 100 MB); "
            f"at each quarter of the run: {', '.join(f'{m:.0f}' for m in self.rss_trend)} MB",
        ]


def run(*, sessions: int, seconds: float, max_steps: int = 2000, think: float = 0.5, baseline_edits: int = 20,
        warm_up: bool = True, workdir: Path | None = None) -> Result:  # fmt: skip
    """Start a server on two fresh example projects, measure, stop it."""
    from flowdrafter.core.examples import copy_example

    with tempfile.TemporaryDirectory(prefix="fd-load-", dir=workdir) as tmp:
        tmp_path = Path(tmp)
        projects = [copy_example("kitten-garden", tmp_path / name).root for name in ("first", "second")]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(projects[0], port, tmp_path / "data")
        try:
            rss_start = rss_mb(server.pid)
            # warm-up: every kind of request once, so libraries and caches are loaded before measuring growth
            warm = Tally()
            if warm_up:
                from gradio_client import Client

                one_session(url, projects[0], time.monotonic() + 60, warm, seed=1000, max_steps=20, think=0.0)
                client = Client(url, verbose=False, download_files=False)
                client.predict(str(projects[1]), api_name="/open")
                for api in EXPORTS:
                    client.predict(api_name=api)
                client.close()
            baseline = Tally()
            one_session(url, projects[1], time.monotonic() + 120, baseline, seed=2000, max_steps=baseline_edits, think=think,
                        render=False, extras=False)  # fmt: skip
            rss_warm = rss_mb(server.pid)
            loaded = Tally()
            peak = [rss_warm]
            trend: list[float] = []
            stop = threading.Event()

            def sample() -> None:
                start = time.monotonic()
                while not stop.wait(1.0):
                    peak.append(rss_mb(server.pid))
                    if time.monotonic() - start >= (len(trend) + 1) * seconds / 4:
                        trend.append(peak[-1])

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            t0 = time.monotonic()
            run_sessions(url, projects, sessions, seconds, loaded, max_steps=max_steps, think=think)
            elapsed = time.monotonic() - t0
            stop.set()
            rss_end = rss_mb(server.pid)
            loaded.errors[:0] = warm.errors
        finally:
            stop_server(server)
    return Result(baseline, loaded, rss_start, rss_warm, rss_end, max(peak + [rss_end]), elapsed, sessions, trend[:3] + [rss_end])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sessions", type=int, default=8)
    p.add_argument("--seconds", type=float, default=120.0)
    p.add_argument("--think", type=float, default=0.5, help="mean pause between a session's steps, seconds")
    args = p.parse_args()
    result = run(sessions=args.sessions, seconds=args.seconds, think=args.think)
    for line in result.lines():
        print(line)
    sys.exit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
