"""What a person reads from `flowdrafter selftest`: one line per generator and a total, nothing from the
libraries (no loading bars, no notices about optional backends or dtypes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_selftest_prints_one_line_per_generator_and_nothing_from_the_libraries(tiny_overrides, request, tmp_path):
    models_dir = request.config.cache.mkdir("flowdrafter-tiny-models")  # built already by tiny_overrides
    env = {k: v for k, v in os.environ.items() if not k.endswith("_VERBOSITY") and not k.startswith("FLOWDRAFTER_")}
    env["FLOWDRAFTER_DATA_DIR"] = str(tmp_path / "data")
    cli = Path(sys.executable).with_name("flowdrafter")
    done = subprocess.run(
        [str(cli), "selftest", "--models-dir", str(models_dir), "--generator", "drafter", "--generator", "layout-video"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert [line.split(":")[0] for line in lines[:2]] == ["ok   drafter", "ok   layout-video"]
    assert lines[2:] == ["2 of 2 generators passed"], lines
