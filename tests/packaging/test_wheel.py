"""The built wheel, installed (not editable) into a fresh virtual environment, does what a checkout does.

The wheel is built from a copy of the source tree; the fresh environment borrows the dev environment's
installed dependencies through a `.pth` line (Python does not process `.pth` files inside a path added
that way, so the checkout's editable install does not leak in) and every command runs from a temporary
folder, so nothing of the checkout is on `sys.path`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.request
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
IGNORE = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "test-artifacts", "__pycache__", ".pytest_cache",
                                ".import_linter_cache", ".tiny-models", "*.pyc")  # fmt: skip


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    shutil.copytree(ROOT, src, ignore=IGNORE)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--disable-pip-version-check", "-q",
                        str(src), "-w", str(work / "dist")], capture_output=True, text=True, cwd=work)  # fmt: skip
    assert r.returncode == 0, r.stderr
    return next((work / "dist").glob("flowdrafter-*.whl"))


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed in it; returns its bin folder."""
    env_dir = tmp_path_factory.mktemp("venv") / "fresh"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env_dir)
    python = env_dir / "bin" / "python"
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--disable-pip-version-check", "-q",
                        str(wheel)], capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    fresh_site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    (fresh_site / "zz-dev-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env_dir / "bin"


def run(bin_dir: Path, cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWDRAFTER_", "PYTHON"))}
    env |= {"FLOWDRAFTER_DATA_DIR": str(cwd / "data"), "FLOWDRAFTER_LLM_MAX_TOKENS": "96", "FLOWDRAFTER_LLM_REFINE_ROUNDS": "0",
            "OMP_NUM_THREADS": "2", "PATH": f"{bin_dir}:{env.get('PATH', '')}"}  # fmt: skip
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_wheel_holds_one_namespace_with_its_prompts_and_examples_and_no_test_code(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"flowdrafter"}  # nothing generic (core, ui, ...) at the top of site-packages
    assert {f"flowdrafter/planners/prompts/{p.name}" for p in (ROOT / "planners" / "prompts").glob("*.txt")} <= set(names)
    for example in ("kitten-garden", "lighthouse-storm", "caterpillar-butterfly"):
        assert f"flowdrafter/assets/examples/{example}/storyboard.json" in names
        assert any(n.startswith(f"flowdrafter/assets/examples/{example}/assets/") and n.endswith(".png") for n in names)
    assert not any(n.startswith(("flowdrafter/tests", "tests/", "builders/")) or "/builders/" in n for n in names)
    for layer in ("core", "planners", "generators", "ui", "assets"):  # every subpackage is listed in pyproject's packages
        for init in (ROOT / layer).rglob("__init__.py"):
            assert f"flowdrafter/{init.relative_to(ROOT).as_posix()}" in names, init


def test_an_installed_wheel_plans_checks_renders_exports_and_serves_the_editor(installed, tmp_path):
    from builders.tiny_gguf import write_tiny_gguf

    python, flowdrafter = str(installed / "python"), str(installed / "flowdrafter")
    where = run(installed, tmp_path, python, "-c", "import importlib.util as u, flowdrafter.core as c, flowdrafter.planners.templates as t; "
                "print(c.__file__); print(t.PROMPTS_DIR); print(u.find_spec('core'), u.find_spec('ui'), u.find_spec('builders'))")
    assert where.returncode == 0, where.stderr
    core_file, prompts, specs = where.stdout.splitlines()
    assert core_file.startswith(str(installed.parent)) and prompts.startswith(str(installed.parent))  # the wheel's copy, not the checkout
    assert specs == "None None None"

    r = run(installed, tmp_path, flowdrafter, "new", str(tmp_path / "film"))
    assert r.returncode == 0 and "created" in r.stdout, r.stderr
    r = run(installed, tmp_path, flowdrafter, "check", str(tmp_path / "film"))
    assert r.returncode == 0 and r.stdout.startswith("ok: "), r.stderr

    gguf = write_tiny_gguf(tmp_path / "tiny.gguf")  # built here, in the dev environment (gguf is a dev dependency)
    r = run(installed, tmp_path, flowdrafter, "plan", "a fox jumps over a log", "-o", str(tmp_path / "planned"), "--scenes", "1",
            "--llm", str(gguf), "--seed", "0")  # fmt: skip
    assert r.returncode == 0 and r.stdout.startswith(f"created {tmp_path / 'planned'}"), r.stderr
    assert run(installed, tmp_path, flowdrafter, "check", str(tmp_path / "planned")).returncode == 0

    r = run(installed, tmp_path, flowdrafter, "render", str(tmp_path / "film"))
    assert r.returncode == 0 and "3 rendered, 0 reused (animatic)" in r.stdout, r.stderr
    for name in ("film.mp4", "film.xml", "board.pdf"):
        r = run(installed, tmp_path, flowdrafter, "export", str(tmp_path / "film"), "-o", str(tmp_path / name))
        assert r.returncode == 0 and (tmp_path / name).stat().st_size > 0, r.stderr

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWDRAFTER_", "PYTHON"))} | {"FLOWDRAFTER_DATA_DIR": str(tmp_path / "data")}
    server = subprocess.Popen([flowdrafter, "ui", str(tmp_path / "film"), "--port", str(port)], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    lines: list[str] = []  # the server's output, read as it comes: it prints the address once launch returns,
    reader = threading.Thread(target=lambda: lines.extend(server.stdout), daemon=True)  # which can be after
    reader.start()  # the first page was served
    url = f"http://127.0.0.1:{port}"
    try:
        status, end = None, time.monotonic() + 180
        while (status is None or not any(url in ln for ln in lines)) and time.monotonic() < end and server.poll() is None:
            try:
                status = status or urllib.request.urlopen(f"{url}/", timeout=2).status
            except OSError:
                pass
            time.sleep(0.5)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        reader.join(timeout=30)
    out = "".join(lines)
    assert status == 200, out
    assert f"FlowDrafter: editing {tmp_path / 'film'}" in out and url in out
