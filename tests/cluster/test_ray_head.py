"""The CLI against a Ray head that this test starts itself (`ray start --head` on 127.0.0.1, token auth on),
and the one-line errors: no cluster at an address, a silent address, the extra not installed."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowdrafter.generators.render import render_storyboard
from flowdrafter.ui.cli import main

from .conftest import copy_project, make_film, sandbox_env

pytestmark = pytest.mark.timeout(180)
RAY = Path(sys.executable).with_name("ray")
FLOWDRAFTER = Path(sys.executable).with_name("flowdrafter")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _session_pids(sid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == sid:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@pytest.fixture(scope="module")
def ray_head(projects_root: Path) -> Iterator[tuple[str, str, str]]:
    """(GCS address, Ray Client address, token) of a one-node Ray cluster on 127.0.0.1 with 2 CPUs; every
    process it started is gone afterwards, also when a test failed."""
    temp = Path(tempfile.mkdtemp(prefix="fdray-", dir="/tmp"))  # Ray's socket paths must stay short
    port, client_port, token = free_port(), free_port(), secrets.token_hex(32)
    env = {**os.environ, **sandbox_env(projects_root), "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": token, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # fmt: skip
    log = open(temp / "head.log", "w")
    head = subprocess.Popen(
        [str(RAY), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
         f"--ray-client-server-port={client_port}", "--include-dashboard=false", f"--temp-dir={temp}", "--disable-usage-stats"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while "Ray runtime started" not in (temp / "head.log").read_text(errors="replace"):
            assert head.poll() is None, (temp / "head.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "ray start --head did not come up"
            time.sleep(0.2)
        yield f"127.0.0.1:{port}", f"ray://127.0.0.1:{client_port}", token
    finally:
        for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):  # `ray start --block` and all it started
            for pid in _session_pids(head.pid):
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
            end = time.monotonic() + wait
            while time.monotonic() < end and any(_alive(p) for p in _session_pids(head.pid)):
                time.sleep(0.1)
        head.wait(10)
        log.close()
        assert not [p for p in _session_pids(head.pid) if _alive(p)], "Ray processes were left behind"
        shutil.rmtree(temp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(FLOWDRAFTER), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})  # fmt: skip


def test_cli_renders_on_a_started_head_like_a_local_render(ray_head, projects_root):
    address, client, token = ray_head
    here = make_film(projects_root / "head-here", 12)
    there = copy_project(here, projects_root / "head-there")
    local = render_storyboard(here)

    first = cli("render", str(there.root), "--ray", address, env={"RAY_AUTH_TOKEN": token})
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().splitlines()[-1] == "12 rendered, 0 reused (animatic)"
    for line in first.stderr.splitlines():  # our progress lines only: nothing from Ray
        assert line.startswith("[") and "%] s" in line, line
    remote = {p.name: p.read_bytes() for p in (there.renders_dir / "animatic").glob("*.mp4")}
    assert remote == {s.clip.name: s.clip.read_bytes() for s in local.scenes}

    again = cli("render", str(there.root), "--ray", address, env={"RAY_AUTH_TOKEN": token})
    assert again.returncode == 0 and again.stdout.strip().splitlines()[-1] == "0 rendered, 12 reused (animatic)"

    # through Ray Client (ray://) too: the same clips again. The head starts a client server process per
    # connection, which on a busy 2-core machine can take longer than the default 20 s to answer.
    forced = cli("render", str(there.root), "--ray", client, "--force", "--scene", "s1", "s2", "s3",
                 env={"RAY_AUTH_TOKEN": token, "FLOWDRAFTER_RAY_CONNECT_TIMEOUT": "90"})  # fmt: skip
    assert forced.returncode == 0 and forced.stdout.strip().splitlines()[-1] == "3 rendered, 0 reused (animatic)", forced.stderr
    assert {p.name: p.read_bytes() for p in (there.renders_dir / "animatic").glob("*.mp4")} == remote


def test_a_head_that_wants_a_token_says_so_in_one_line(ray_head, tmp_path):
    address, _, _ = ray_head
    project = make_film(tmp_path / "film", 1)
    out = cli("render", str(project.root), "--ray", address,
              env={"RAY_AUTH_TOKEN": "0" * 64, "FLOWDRAFTER_RAY_CONNECT_TIMEOUT": "4", "FLOWDRAFTER_DATA_DIR": str(tmp_path / "data")})  # fmt: skip
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and f"the Ray cluster at {address} refused this machine's token" in out.stderr


def test_an_address_with_no_cluster_is_one_line(tmp_path, capsys):
    project = make_film(tmp_path / "film", 1)
    port = free_port()
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        assert main(["render", str(project.root), "--ray", address]) == 2
        err = capsys.readouterr().err
        assert err == f"flowdrafter: error: no Ray cluster at {address}: Connection refused\n"


def test_a_head_that_keeps_failing_to_start_the_client_server_says_why_in_one_line(tmp_path, capsys, monkeypatch):
    import ray

    failure = ("Initialization failure from server:\nTraceback (most recent call last):\n"
               '  File "proxier.py", line 770, in Datapath\nRuntimeError: Starting Ray client server failed. See '
               "ray_client_server_23000.err for detailed logs.\n")  # fmt: skip

    calls = []

    def init(*args, **kwargs):
        calls.append(time.monotonic())
        raise ConnectionAbortedError(failure)  # what Ray Client raises when the head's proxy cannot start a server

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setenv("FLOWDRAFTER_RAY_CONNECT_TIMEOUT", "4")
    project = make_film(tmp_path / "film", 1)
    with socket.socket() as head:  # something listens there, as a head's client port does
        head.bind(("127.0.0.1", 0))
        head.listen()
        address = f"ray://127.0.0.1:{head.getsockname()[1]}"
        assert main(["render", str(project.root), "--ray", address]) == 2
    err = capsys.readouterr().err
    assert err == (f"flowdrafter: error: cannot join the Ray cluster at {address}: Initialization failure from server: "
                   "RuntimeError: Starting Ray client server failed. See ray_client_server_23000.err for detailed logs.\n")  # fmt: skip
    assert len(calls) >= 2 and calls[-1] - calls[0] < 4  # tried again (it can be transient) within the timeout


def test_an_address_that_never_answers_fails_within_the_timeout(tmp_path):
    project = make_film(tmp_path / "film", 1)
    with socket.socket() as silent:  # accepts connections, says nothing
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        out = cli("render", str(project.root), "--ray", address,
                  env={"FLOWDRAFTER_RAY_CONNECT_TIMEOUT": "3", "FLOWDRAFTER_DATA_DIR": str(tmp_path / "data")}, timeout=60)  # fmt: skip
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith(f"flowdrafter: error: no Ray cluster answered at {address} within 3 s")
    assert out.stderr.count("\n") == 1


def test_without_the_cluster_extra_ray_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    project = make_film(tmp_path / "film", 1)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if the extra were not installed
    assert main(["render", str(project.root), "--ray"]) == 2
    assert capsys.readouterr().err == "flowdrafter: error: rendering on Ray needs the cluster extra: pip install 'flowdrafter[cluster]'\n"
    assert not project.renders_dir.joinpath("animatic").exists()
