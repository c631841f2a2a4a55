"""Rendering on Ray: a 12-scene animatic, local serial render vs Ray with 2 workers (target <= 0.7x).

All in one process, on a private local Ray instance with 2 CPUs (`ray_address='local'`, the state the
editor is in after its first cluster render: Ray started, workers up). Printed:
- the wall-clock ratio Ray (2 workers) / local serial, for 512x320 scenes of 48 frames;
- the per-task overhead in ms: (Ray with 1 worker - local) / scenes, for the same scenes and for 2-frame
  64x64 scenes (scheduling, the storyboard and references through the object store, the clip back,
  progress, the commit), where the work itself is nearly nothing;
- the cold start (Ray up and 2 workers started) once;
- the CPU time of the local render (this process plus its ffmpeg children): the local render already keeps
  more than one core busy (Python composes frames while x264 encodes in its own threads), so on 2 cores
  no split into 2 workers can beat CPU time / 2.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_incremental import bench_project  # noqa: E402

from flowdrafter.core.settings import load_settings  # noqa: E402
from flowdrafter.generators import cluster  # noqa: E402
from flowdrafter.generators.render import render_storyboard  # noqa: E402

SCENES = 12


CPU: list[float] = []  # CPU seconds of the last timed render (this process and its children)


def _cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed_render(root: Path, name: str, settings, **size) -> float:
    project = bench_project(root / name, scenes=SCENES, **size)
    t, c = time.perf_counter(), _cpu()
    report = render_storyboard(project, settings=settings)
    took = time.perf_counter() - t
    CPU[:] = [_cpu() - c]
    assert len(report.rendered) == SCENES
    return took


def best(fn, repeat: int = 2) -> float:
    return min(fn(i) for i in range(repeat))


def main() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    local = load_settings(ray_address=None)
    ray2 = load_settings(ray_address="local", ray_local_cpus=2)
    ray1 = ray2.model_copy(update={"ray_workers": 1})
    real = {"frames": 48, "width": 512, "height": 320}
    tiny = {"frames": 2, "width": 64, "height": 64}
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        root = Path(tmp)
        timed_render(root, "warm-local", local, **tiny)  # fonts, plates: warm in both runs

        t = time.perf_counter()
        timed_render(root, "warm-ray", ray2, **tiny)  # starts Ray and both workers
        cold = time.perf_counter() - t

        t_local = best(lambda i: timed_render(root, f"local-{i}", local, **real))
        cpu_local = CPU[0]
        t_ray2 = best(lambda i: timed_render(root, f"ray2-{i}", ray2, **real))
        t_ray1 = best(lambda i: timed_render(root, f"ray1-{i}", ray1, **real))
        t_local_tiny = best(lambda i: timed_render(root, f"local-tiny-{i}", local, **tiny), 3)
        t_ray1_tiny = best(lambda i: timed_render(root, f"ray1-tiny-{i}", ray1, **tiny), 3)
        cluster.shutdown()

    print(f"12-scene animatic, 512x320, 48 frames per scene, {os.cpu_count()} cores")
    print(f"  local serial            {t_local:6.2f} s   CPU {cpu_local:.2f} s: {cpu_local / t_local:.1f} cores busy; "
          f"floor for 2 workers on 2 cores: {cpu_local / 2:.2f} s = {cpu_local / 2 / t_local:.2f}x")  # fmt: skip
    print(f"  Ray, 2 workers          {t_ray2:6.2f} s   ratio {t_ray2 / t_local:.2f}x (target <= 0.7x)")
    print(f"  Ray, 1 worker           {t_ray1:6.2f} s   overhead {(t_ray1 - t_local) / SCENES * 1000:6.0f} ms per task")
    print(f"2-frame 64x64 scenes: local {t_local_tiny:.2f} s, Ray 1 worker {t_ray1_tiny:.2f} s, "
          f"overhead {(t_ray1_tiny - t_local_tiny) / SCENES * 1000:.0f} ms per task")  # fmt: skip
    print(f"cold start (Ray up, 2 workers, first 12 tiny scenes): {cold:.1f} s")


if __name__ == "__main__":
    main()
