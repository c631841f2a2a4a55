"""Incremental render: after editing one scene of a 6-scene storyboard, re-render time / full render time.

Target <= 0.25. The full render starts from an empty cache in a fresh process state for the clips (the
animatic's in-process image caches are warm in both runs, as in the editor).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._projects import bench_project, timed  # noqa: E402
from core.storyboard import parse_storyboard  # noqa: E402
from generators.render import render_storyboard  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        project = bench_project(Path(tmp) / "p", scenes=6, frames=48)
        render_storyboard(bench_project(Path(tmp) / "warmup", scenes=1, frames=4))  # warm imports and fonts
        full = timed(lambda: render_storyboard(project))
        doc = project.load().model_dump(mode="json")
        doc["scenes"][3]["event"] = "the dog stops to sniff a flower"
        doc["scenes"][3]["tracks"][1]["keyframes"][1]["box"] = [0.5, 0.6, 0.68, 0.92]
        project.save(parse_storyboard(doc))
        report = None

        def again() -> None:
            nonlocal report
            report = render_storyboard(project)

        incremental = timed(again)
        assert report is not None and report.rendered == ["s4"], report.rendered
        unchanged = timed(lambda: render_storyboard(project))
    print("incremental render (6 scenes x 48 frames, 512x320, animatic)")
    print(f"  full render:                 {full:7.3f} s")
    print(f"  after editing 1 scene:       {incremental:7.3f} s  (rendered {report.rendered}, reused {len(report.reused)})")
    print(f"  nothing changed:             {unchanged:7.3f} s")
    print(f"  ratio incremental / full:    {incremental / full:7.3f}  (target <= 0.25)")


if __name__ == "__main__":
    main()
