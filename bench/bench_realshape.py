"""Real shapes: seconds per denoising step and peak memory per generator, at the default models' real shapes.

    .venv/bin/python bench/bench_realshape.py --device cuda [--steps 4]   # fp16, full default sizes
    .venv/bin/python bench/bench_realshape.py --device cpu                # float32, the CPU caps of the selftest

Each generator runs in its own process through `flowdrafter selftest --real-shapes`'s jobs (the same hub-shaped
cache of random weights; speed and memory do not depend on the weights' values). On CUDA every size cap is
lifted: SVD-XT at its native 768 px side, CogVideoX at 720x480 with its own frame count, layout-video at
the storyboard's 512x320; peak VRAM is `torch.cuda.max_memory_allocated`. On the CPU peak memory is the
process's peak RSS. Ratios are against the run of this same session that everything else builds on: s/step
against the scene image (one SD-1.5 step at 512x320), memory of the 120-frame layout-video scene against the
16-frame one (target <= 1.5x). `--box-guidance` also measures layout-video's box guidance: the seconds one
gradient step adds to a denoising step, and its memory.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flowdrafter.generators.testing import realshape_run  # noqa: E402

GPU = {"device": "cuda", "dtype": "float16", "i2v_max_side": None, "i2v_frames": None, "layout_video_max_side": None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cpu")
    ap.add_argument("--steps", type=int, default=None, help="denoising steps (default: 4 on cuda, 1 on cpu)")
    every = [*realshape_run.GENERATOR_JOBS, "layout-video-long"]
    ap.add_argument("--job", action="append", dest="jobs", choices=every)
    ap.add_argument("--box-guidance", action="store_true", help="also measure layout-video's box guidance")
    args = ap.parse_args()
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            sys.exit("bench_realshape: --device cuda, but no CUDA device is available")
    extra = dict(GPU) if args.device == "cuda" else {}
    extra["steps"] = args.steps or (4 if args.device == "cuda" else 1)
    jobs = args.jobs or every
    jobs = ["scene-image", *[j for j in jobs if j != "scene-image"]]  # the baseline runs first
    if args.box_guidance:
        jobs.append("layout-video-box-guidance")
    root = realshape_run.prepare(log=lambda m: print(f"cache: {m}", file=sys.stderr))
    memory = "peak VRAM" if args.device == "cuda" else "peak RSS"
    print(f"real shapes on {args.device}, {extra['steps']} steps; {memory} per generator process")
    print(f"{'generator':<20}{'model size':>12}{'frames':>8}{'s/step':>10}{'x scene img':>13}{memory + ' GiB':>16}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-realshape-") as tmp:
        for job in jobs:
            r = realshape_run.run_job(job, root, Path(tmp), extra)
            results[job] = r
            if not r.ok:
                print(f"{job:<20} FAIL {r.error}")
                continue
            peak = (r.peak_vram if args.device == "cuda" else r.peak_rss) / 2**30
            base = results["scene-image"].s_per_step or 1.0
            print(f"{job:<20}{r.model_size:>12}{r.frames:>8}{r.s_per_step:>10.2f}{r.s_per_step / base:>13.2f}{peak:>16.2f}")
    long = results.get("layout-video-long")
    if long and long.ok:
        renders = long.facts["renders"]
        print(f"layout-video long scenes at {long.model_size}: frames, s/step, peak RSS GiB, GiB added to the loaded process")
        for frames, r in renders.items():
            print(f"  {frames:>4} frames {r['s_per_step']:>8.1f} {r['peak'] / 2**30:>8.2f} {r['added'] / 2**30:>8.2f}")
        short, most = renders[str(realshape_run.FRAMES)], renders[str(realshape_run.LONG_FRAMES)]
        ratio = most["peak"] / short["peak"]
        print(f"layout-video 120 vs 16 frames, peak RSS: {ratio:.2f}x (target <= 1.5x: {'met' if ratio <= 1.5 else 'NOT met'}); "
              f"added: {most['added'] / short['added']:.2f}x")
    guided = results.get("layout-video-box-guidance")
    if guided and guided.ok:
        f = guided.facts
        print(f"box guidance (1 gradient step, 16 frames at {guided.model_size}): +{f['guidance_seconds']:.1f} s on a "
              f"{f['step_seconds']:.1f} s step ({f['guidance_vs_step']:.2f}x a step); memory added "
              f"{f['runs']['on']['added'] / 2**30:.2f} GiB with, {f['runs']['off']['added'] / 2**30:.2f} GiB without")


if __name__ == "__main__":
    main()
