"""Cost of the `drafter` generator's machinery over a plain call of its default image-to-video pipeline
(`WanImageToVideoPipeline`, Wan2.2-TI2V-5B-shaped tiny components).

Same tiny components, same process, same inputs. Four measurements, each the best (minimum) of several
runs, interleaved so that load from other processes hits all of them alike:

- plain:   `pipe(image=..., prompt=..., num_frames=..., num_inference_steps=...)`
- drafter video phase: the same call through `WanBackend.run` with our step callback (camera warp of the
  clean latent in its window of steps, scheduler tap, progress, cancellation checks); target <= 1.3x plain
- video phase + refs (cached): the auto-references step of a render finding the two missing references
  (the ball's, cut out, and the garden's) in the content cache, then the video phase: a render after the
  first; target <= 1.3x plain
- whole scene, refs present: the whole `render_scene` (scene reference image with the region processors and
  IP-Adapter Plus, then the video phase, resampling) per video step - informative: it runs a second model
- whole scene + refs made: the same after making the two references from scratch (content cache emptied
  before every run): the first render of a project - informative: it runs the text-to-image model twice
  and the cut-out model once

With the tiny models the SD-shaped scene image costs several times the Wan-shaped clip, the opposite of the
real models (one 512x320 SD image against a 49-frame 1184x736 Wan clip); docs/models.md puts the two
informative lines in proportion.

Time: on the CPU this is the process's CPU time with one torch thread (this machine is shared, and wall
time under other people's load varied 3x between identical runs; CPU time varied a few percent); on CUDA
it is wall time after `torch.cuda.synchronize()`.

Peak memory: each variant runs once more in a fresh subprocess, after its models are loaded, and reports
the peak growth of the process's resident memory during the call (sampled every 2 ms; CPU) or
`torch.cuda.max_memory_allocated` over the call (CUDA).

    .venv/bin/python bench/bench_drafter.py [--steps 6] [--frames 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from flowdrafter.core.settings import Settings  # noqa: E402
from flowdrafter.generators.base import RenderContext, get_generator  # noqa: E402
from flowdrafter.generators.testing import tiny  # noqa: E402
from flowdrafter.generators.diffusion.camera_warp import StepCallback, camera_moves, warp_window  # noqa: E402
from flowdrafter.generators.diffusion.drafter import WanBackend  # noqa: E402
from flowdrafter.generators.diffusion.selftest import make_project  # noqa: E402


class _Sink:
    def __init__(self) -> None:
        self.n = 0

    def write(self, frame) -> None:
        self.n += 1


def _setup(args: argparse.Namespace):
    overrides = tiny.build_all(Path(args.models_dir))
    data = Path(tempfile.mkdtemp(prefix="flowdrafter-bench-data-"))
    settings = Settings(**overrides, steps=args.steps, device="auto", i2v_frames=args.frames, data_dir=data)
    if not torch.cuda.is_available():
        torch.set_num_threads(1)
    backend = WanBackend(settings)
    pipe = backend.load()
    pipe.set_progress_bar_config(disable=True)
    image = Image.new("RGB", (tiny.SIZE, tiny.SIZE), (90, 140, 200))
    return settings, backend, pipe, image


PROMPT = "the kitten chases the ball. the kitten crouches. watercolor"


def _plain(pipe, image, args) -> None:
    with torch.inference_mode():
        pipe(image=image, prompt=PROMPT, height=tiny.SIZE, width=tiny.SIZE, num_frames=args.frames,
             num_inference_steps=args.steps, guidance_scale=WanBackend.GUIDANCE, output_type="pil",
             generator=torch.Generator().manual_seed(0))  # fmt: skip


def _video(backend, pipe, image, settings, args) -> None:
    cb = StepCallback(
        camera_moves("pan_right", 0.8, backend.latent_frames(pipe, args.frames)),
        warp_window(settings.camera_warp_start, settings.camera_warp_steps, args.steps),
        args.steps,
        frame_dim=backend.frame_dim,
        progress=lambda d, t: None,
        is_cancelled=lambda: False,
    )
    backend.run(pipe, image, prompt=PROMPT, negative_prompt="", width=tiny.SIZE, height=tiny.SIZE,
                num_frames=args.frames, fps=24, seed=0, callback=cb)  # fmt: skip


def _project(folder: Path, frames: int):
    """The selftest project with scene s1 as long as the clips the other variants make."""
    from flowdrafter.core.storyboard import parse_storyboard

    project = make_project(folder)
    doc = project.load().model_dump(mode="json")
    scene = doc["scenes"][0]
    scene["num_frames"] = frames
    scene["tracks"][0]["keyframes"][-1]["frame"] = frames - 1
    project.save(parse_storyboard(doc))
    return project


def _without_refs(project):
    """The project's storyboard with the ball's and the garden's references taken away."""
    from flowdrafter.core.storyboard import parse_storyboard

    doc = project.load().model_dump(mode="json")
    for entity in doc["entities"]:
        if entity["id"] in ("ball", "garden"):
            entity["reference"] = None
    return parse_storyboard(doc)


def _refs(settings, project, cold: bool):
    """The auto-references step of a render: the two missing references made (`cold`: from scratch, the
    content cache emptied first) or found in the content cache."""
    import shutil

    if cold:
        shutil.rmtree(Path(settings.data_dir) / "references", ignore_errors=True)
    return get_generator("drafter", settings).prepare_render(project, _without_refs(project), ["s1"])


def _scene(settings, project, args, auto_refs: bool = False) -> None:
    """One scene through the drafter; with `auto_refs`, the references it lacks are made first, from scratch."""
    sb = _refs(settings, project, cold=True) if auto_refs else project.load()
    get_generator("drafter", settings).render_scene(RenderContext(project, sb, "s1"), _Sink())


def _timed(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        return time.perf_counter() - start
    start = time.process_time()
    fn()
    return time.process_time() - start


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_growth(fn, device: torch.device) -> float:
    """MiB the call adds at its peak: CUDA allocator peak, else resident memory sampled every 2 ms."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    base = _rss_mib()
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mib())
            time.sleep(0.002)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        fn()
    finally:
        done.set()
        t.join()
    return max(peak[0], _rss_mib()) - base


def _variants(pipe, image, settings, backend, project, args) -> dict:
    return {
        "plain": lambda: _plain(pipe, image, args),
        "video": lambda: _video(backend, pipe, image, settings, args),
        "video+refs": lambda: (_refs(settings, project, cold=False), _video(backend, pipe, image, settings, args)),
        "scene": lambda: _scene(settings, project, args),
        "scene+refs": lambda: _scene(settings, project, args, auto_refs=True),
    }


def child(args: argparse.Namespace) -> None:
    """One variant in a fresh process: load its models (and warm up the scene models), then measure one call."""
    settings, backend, pipe, image = _setup(args)
    with tempfile.TemporaryDirectory() as tmp:
        project = _project(Path(tmp) / "p", args.frames)
        run = _variants(pipe, image, settings, backend, project, args)[args.variant]
        if args.variant.startswith("scene"):  # load the scene-image models before measuring, as the others are loaded
            from flowdrafter.generators.diffusion.scene_image import load_scene_pipeline

            load_scene_pipeline(settings)[0].set_progress_bar_config(disable=True)
        if args.variant == "video+refs":  # a render after the first: the references are in the content cache
            _refs(settings, project, cold=True)
        print(json.dumps({"peak_mib": _peak_growth(run, pipe.device), "device": str(pipe.device)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--frames", type=int, default=9, help="generated frames (4k + 1 for Wan)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models-dir", default=str(Path(tempfile.gettempdir()) / "flowdrafter-bench-models"))
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        child(args)
        return

    settings, backend, pipe, image = _setup(args)
    times: dict[str, list[float]] = {"plain": [], "video": [], "video+refs": [], "scene": [], "scene+refs": []}
    with tempfile.TemporaryDirectory() as tmp:
        project = _project(Path(tmp) / "p", args.frames)
        runs = _variants(pipe, image, settings, backend, project, args)
        for fn in runs.values():  # warm up: load every model once
            fn()
        for _ in range(args.repeats):
            for name, fn in runs.items():
                times[name].append(_timed(fn, pipe.device) / args.steps)
    per_step = {k: min(v) for k, v in times.items()}

    peaks = {}
    for name in times:
        cmd = [sys.executable, __file__, "--variant", name, "--steps", str(args.steps), "--frames", str(args.frames),
               "--models-dir", args.models_dir]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        peaks[name] = json.loads(out)["peak_mib"]

    print(f"device {pipe.device}, {args.frames} frames at {tiny.SIZE}x{tiny.SIZE}, {args.steps} steps, "
          f"best of {args.repeats}, {'wall' if pipe.device.type == 'cuda' else 'CPU'} time (tiny random-weight models)")  # fmt: skip
    print(f"{'variant':<32}{'s/step':>10}{'ratio':>8}{'peak +MiB':>11}{'ratio':>8}")
    labels = {"plain": "plain Wan I2V", "video": "drafter video phase", "video+refs": "video phase + refs (cached)",
              "scene": "whole scene, refs present", "scene+refs": "whole scene + refs made"}  # fmt: skip
    for name in times:
        print(f"{labels[name]:<32}{per_step[name]:>10.3f}{per_step[name] / per_step['plain']:>7.2f}x"
              f"{peaks[name]:>11.0f}{peaks[name] / peaks['plain']:>7.2f}x")  # fmt: skip
    for name in ("video", "video+refs"):
        ratio = per_step[name] / per_step["plain"]
        print(f"{labels[name]}: overhead {ratio:.2f}x (target <= 1.30x): {'ok' if ratio <= 1.3 else 'over target'}")
    share = (per_step["scene"] - per_step["video"]) / per_step["video"]
    print(f"the tiny scene image costs {share:.1f}x the tiny video phase (real models: about 2%, see docs/models.md)")


if __name__ == "__main__":
    main()
