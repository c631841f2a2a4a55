"""layout-video against a plain AnimateDiffPipeline call on the same tiny components: per-step time and peak
working memory, and how the overhead grows with the number of box-bound entities (1, 2, 4, 8), with regional
prompting, modulation (in every step, the worst case) and cross-frame attention on; box guidance on its own
(one gradient step in every step); memory for 16, 48 and 120 frames. `late-8`: 8 entities in the steps
after the modulation window, which gives the average over a render at the default settings.

Per-step time is (time of an S2-step render - time of an S1-step render) / (S2 - S1), so prompt encoding,
reference encoding and decoding cancel out; the median of a few alternating repeats is reported. Time is
CPU time of the process with one torch thread, which other jobs on a shared machine disturb far less than
wall time. Peak memory is the peak of heap bytes in use (glibc `mallinfo2`, sampled every millisecond)
above the loaded models during one render, each kind in a fresh subprocess: the CPU has no allocator
counter like `torch.cuda.max_memory_allocated`.

Targets: layout-video <= 1.5x plain AnimateDiff per step (issue 12; 8 entities); box guidance: reported.
Memory of 120 frames <= 1.5x that of 16. Run:
    .venv/bin/python bench/bench_layout_video.py [--frames 16] [--size 64] [--repeats 3] [--no-memory | --no-time]
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from flowdrafter.core.images import store_image  # noqa: E402
from flowdrafter.core.project import Project  # noqa: E402
from flowdrafter.core.settings import Settings  # noqa: E402
from flowdrafter.core.storyboard import parse_storyboard  # noqa: E402
from flowdrafter.generators.base import RenderContext  # noqa: E402
from flowdrafter.generators.diffusion.layout_video import LayoutVideoGenerator  # noqa: E402
from flowdrafter.generators.testing.tiny import build_all  # noqa: E402

PROMPT = "a cat and a ball in a garden, watercolor"
S1, S2 = 1, 3


def models_dir() -> Path:
    return Path(os.environ.get("FLOWDRAFTER_TINY_MODELS") or Path(tempfile.gettempdir()) / "flowdrafter-tiny-models")


def settings(overrides: dict, frames: int, guided: bool = False) -> Settings:
    """Everything on in every step: regional prompting, modulation, cross-frame attention to frame 0; box
    guidance (one gradient step per denoising step) when `guided`."""
    extra = {"layout_video_box_guidance": 30.0, "layout_video_box_guidance_steps": 1.0} if guided else {}
    return Settings(**{**overrides, "device": "cpu", "dtype": "float32", "guidance_scale": 7.5,
                       "motion_context_frames": min(16, frames), "layout_video_max_side": None,
                       "layout_video_modulation_steps": 1.0, "layout_video_cross_frame": "first", **extra})  # fmt: skip


def project(folder: Path, entities: int, frames: int, size: int) -> Project:
    """A one-scene storyboard with `entities` foreground entities, each with a box track and a reference."""
    ents, tracks = [], []
    for i in range(entities):
        x = (i % 4) * 0.25
        y = (i // 4) * 0.5
        ents.append({"id": f"e{i}", "name": f"thing {i}", "kind": "foreground", "description": f"a thing number {i}"})
        tracks.append({"entity": f"e{i}", "keyframes": [
            {"frame": 0, "box": [x, y, x + 0.2, y + 0.45]},
            {"frame": frames - 1, "box": [min(x + 0.05, 0.79), y, min(x + 0.25, 1.0), y + 0.45]}]})  # fmt: skip
    doc = {
        "width": size, "height": size, "seed": 1, "negative_prompt": "blurry", "style": "watercolor",
        "entities": ents,
        "scenes": [{"id": "s1", "event": PROMPT, "num_frames": frames, "tracks": tracks,
                    "camera": {"motion": "static"}, "background_motion": {"dx": 0.02, "dy": 0.0},
                    "frames": [{"frame": 0, "description": "a cat sits"}, {"frame": frames - 1, "description": "a cat runs"}]}],
    }  # fmt: skip
    proj = Project.create(folder, parse_storyboard(doc))
    rng = np.random.default_rng(0)
    for e in doc["entities"]:
        e["reference"] = {"image": store_image(proj, Image.fromarray(rng.integers(0, 255, (64, 64, 3), np.uint8)))}
    proj.save(parse_storyboard(copy.deepcopy(doc)))
    return proj


class Runner:
    """Both ways of making the same clip: layout-video, and a plain AnimateDiffPipeline call."""

    def __init__(self, overrides: dict, frames: int, size: int):
        self.overrides, self.frames, self.size = overrides, frames, size
        self.gen = LayoutVideoGenerator(settings(overrides, frames))
        self.plain = None
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-layout-video-"))
        self.projects: dict[int, Project] = {}

    def plain_pipe(self):
        if self.plain is None:
            from diffusers import AnimateDiffPipeline, DDIMScheduler, MotionAdapter
            from diffusers.utils import logging as diffusers_logging
            from transformers.utils import logging as transformers_logging

            diffusers_logging.disable_progress_bar()  # the bench prints its own lines
            transformers_logging.disable_progress_bar()
            adapter = MotionAdapter.from_pretrained(self.overrides["motion_adapter"], use_safetensors=True)
            pipe = AnimateDiffPipeline.from_pretrained(self.overrides["t2i_model"], motion_adapter=adapter, use_safetensors=True)
            pipe.scheduler = DDIMScheduler.from_config(
                pipe.scheduler.config, beta_schedule="linear", clip_sample=False, timestep_spacing="linspace", steps_offset=1
            )
            pipe.set_progress_bar_config(disable=True)
            self.plain = pipe
        return self.plain

    def run_plain(self, steps: int) -> None:
        self.plain_pipe()(
            PROMPT, num_frames=self.frames, height=self.size, width=self.size, num_inference_steps=steps,
            guidance_scale=7.5, negative_prompt="blurry", generator=torch.Generator().manual_seed(1), output_type="np",
        )  # fmt: skip

    def run_layout(self, steps: int, entities: int, guided: bool = False, extra: dict | None = None) -> None:
        extra = extra or {}
        proj = self.projects.get(entities)
        if proj is None:
            proj = self.projects[entities] = project(self.tmp / f"p{entities}", entities, self.frames, self.size)
        self.gen.settings = settings(self.overrides, self.frames, guided).model_copy(update={"steps": steps, **extra})
        sb = proj.load()
        self.gen.generate(RenderContext(proj, sb, "s1"))

    def run(self, kind: str, steps: int) -> None:
        if kind == "plain":
            self.run_plain(steps)
        else:
            late = {"layout_video_modulation_steps": 0.0} if kind.startswith("late") else None  # after the window
            self.run_layout(steps, int(kind.split("-")[1]), guided=kind.startswith("guided"), extra=late)


def per_step(runner: Runner, kinds: list[str], repeats: int) -> dict[str, float]:
    for kind in kinds:  # warm up: load, first-call allocations
        runner.run(kind, S1)
    samples: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(repeats):
        for kind in kinds:  # alternate, so load on the shared machine hits every kind alike
            t0 = time.process_time()
            runner.run(kind, S1)
            t1 = time.process_time()
            runner.run(kind, S2)
            t2 = time.process_time()
            samples[kind].append(((t2 - t1) - (t1 - t0)) / (S2 - S1))
    return {k: statistics.median(v) for k, v in samples.items()}


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]  # fmt: skip


def _heap_in_use() -> int:
    """Bytes malloc has handed out and not taken back: small blocks plus mmapped large ones (tensors)."""
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _Mallinfo2
    info = libc.mallinfo2()
    return info.uordblks + info.hblkhd


def memory_child(kind: str, frames: int, size: int) -> None:
    """In a fresh process: load, then report the peak RSS growth during one S2-step render."""
    torch.set_num_threads(1)
    overrides = build_all(models_dir())
    runner = Runner(overrides, frames, size)
    if kind == "plain":
        runner.plain_pipe()
    else:
        runner.gen.pipeline()
        entities = int(kind.split("-")[1])
        runner.projects[entities] = project(runner.tmp / "p", entities, frames, size)
    base = peak = _heap_in_use()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _heap_in_use())
            time.sleep(0.001)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    runner.run(kind, S2)
    done.set()
    thread.join()
    print(json.dumps({"kind": kind, "peak_mb": (peak - base) / 2**20}))


def peak_memory(kind: str, frames: int, size: int) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", kind, "--frames", str(frames), "--size", str(size)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_mb"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--no-time", action="store_true", help="only the memory tables")
    ap.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.frames, args.size)
        return
    torch.set_num_threads(1)  # the machine is shared: one thread gives stable, comparable timings
    if not args.no_time:
        time_table(args)
    if not args.no_memory:
        memory_table(args)


def time_table(args: argparse.Namespace) -> None:
    runner = Runner(build_all(models_dir()), args.frames, args.size)
    kinds = ["plain", "layout-1", "layout-2", "layout-4", "layout-8", "late-8", "guided-1", "guided-8"]
    print(f"tiny components, {args.frames} frames at {args.size}x{args.size}, guidance on, 1 CPU thread; "
          f"per step = (cpu time[{S2} steps] - cpu time[{S1} step]) / {S2 - S1}, median of {args.repeats}")  # fmt: skip
    print("layout-video: regional prompting + modulation + cross-frame attention in every step; "
          "guided: the same plus one box-guidance gradient step in every step")
    times = per_step(runner, kinds, args.repeats)
    base = times["plain"]
    print(f"{'run':<28}{'s/step':>10}{'x plain':>10}")
    print(f"{'plain AnimateDiff':<28}{base:>10.3f}{1.0:>10.2f}")
    for kind in kinds[1:]:
        what, n = kind.split("-")
        label = {"layout": "layout-video", "late": "after modulation", "guided": "with box guidance"}[what] + f", {n} ent."
        print(f"{label:<28}{times[kind]:>10.3f}{times[kind] / base:>10.2f}")
    worst = max(times[k] for k in kinds if k.startswith("layout")) / base
    print(f"target <= 1.5x plain per step (1-8 entities): {'met' if worst <= 1.5 else 'NOT met'} (at most {worst:.2f}x)")
    window = Settings.model_fields["layout_video_modulation_steps"].default
    average = window * times["layout-8"] + (1 - window) * times["late-8"]  # a render at the default settings
    print(f"8 entities over a whole render at the defaults (modulation in the first {window:.0%} of the steps): "
          f"{average / base:.2f}x plain per step")
    for n in (1, 8):
        extra = times[f"guided-{n}"] - times[f"layout-{n}"]
        print(f"box guidance, {n} ent.: +{extra:.3f} s per guided step ({extra / times[f'layout-{n}']:.2f}x a layout-video step)")


def memory_table(args: argparse.Namespace) -> None:
    print(f"{'run':<28}{'peak MB':>10}{'x plain':>10}  (heap in use above the loaded models, one {S2}-step render)")
    kinds = ("plain", "layout-1", "layout-2", "layout-4", "layout-8", "guided-8")
    mem = {k: peak_memory(k, args.frames, args.size) for k in kinds}
    for kind, mb in mem.items():
        print(f"{kind:<28}{mb:>10.1f}{mb / mem['plain']:>10.2f}")
    print(f"{'frames':<28}{'peak MB':>10}{'x 16':>10}  (layout-video, 2 entities)")
    by_frames = {f: peak_memory("layout-2", f, args.size) for f in (16, 48, 120)}
    for f, mb in by_frames.items():
        print(f"{f:<28}{mb:>10.1f}{mb / by_frames[16]:>10.2f}")


if __name__ == "__main__":
    main()
