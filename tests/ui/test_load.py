"""A short run of the editor's load test (`bench/bench_ui_load.py`): concurrent `gradio_client` sessions on
two projects against `flowdrafter ui` on 127.0.0.1, editing boxes, previewing, rendering and exporting.

Asserts what a user would notice: no request fails and `storyboard.json` is a valid storyboard after every
edit. Speed and memory are printed, never asserted (the benchmark reports them against its targets).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_ui_load.py"


def test_four_sessions_on_two_projects_make_no_errors_and_never_leave_an_invalid_storyboard(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("bench_ui_load", BENCH)
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # its dataclasses look their module up
    spec.loader.exec_module(bench)

    result = bench.run(sessions=4, seconds=15, think=0.3, baseline_edits=5, warm_up=False, workdir=tmp_path)
    with capsys.disabled():
        print("\n" + "\n".join(result.lines()))
    loaded = result.loaded
    assert loaded.errors == []
    assert loaded.invalid == [] and loaded.checks == len(loaded.edits) > 20
    assert loaded.renders == 4 and loaded.previews + loaded.exports > 0
