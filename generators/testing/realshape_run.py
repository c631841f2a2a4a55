"""`flowdrafter selftest --real-shapes`: every diffusion path at the real models' shapes, offline, on the CPU.

The default settings stay unchanged (model ids, subfolders, weight names); they load from the real-shape hub
cache (`realshape.build`) through the normal `from_pretrained` path with `HF_HUB_OFFLINE=1`. Each job runs in
a fresh child process (`python -m flowdrafter.generators.testing.realshape_run JOB`): the cache's `HF_HOME`
must be set before huggingface_hub is imported, and a job's peak RSS must be its own (`os.wait4`).

Jobs render a 512x320 storyboard scene (16 frames) with the few settings a CPU needs: float32, `steps` 1, and
the video models' working size capped (`CPU_SETTINGS`), keeping a non-square aspect. Probes check what a
real-size mistake would break (IP-Adapter and motion LoRA keys, box masks at every layer's own resolution,
16 and 120 frames of layout-video in one process, every bundled example through layout-video) and return
facts for the `realshape` tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WIDTH, HEIGHT, FRAMES, LONG_FRAMES = 512, 320, 16, 120
LONG_SIDE = 128  # the long-scene job renders at 128x80 (latents 16x10): 10 windows of 16 frames on a CPU
EXAMPLES_SIDE = 64  # the bundled examples at 64x40: every scene, every camera LoRA, in a few minutes

# what the CPU run changes from the defaults (model ids stay the defaults): see docs/models.md for why
CPU_SETTINGS: dict[str, Any] = {
    "device": "cpu", "dtype": "float32", "offload": "none", "steps": 1, "keep_models": False,
    "i2v_max_side": 256,  # Wan at 256x160 instead of 1184x736, SVD-XT at 256x128 instead of 960x576
    "i2v_frames": 5,  # Wan and CogVideoX (fixed 720x480): 5 frames = 2 latent frames (CogVideoX: the fewest it makes)
    "layout_video_max_side": 256,  # AnimateDiff at 256x160 (latents 32x20, attention at 32x20 .. 4x3)
}  # fmt: skip

GENERATOR_JOBS = ["refs", "scene-image", "drafter", "drafter-svd", "drafter-cogvideox", "layout-video"]
PROBES = ["ip-adapter-keys", "motion-lora-keys", "attention-masks", "layout-video-examples", "layout-video-long"]
BENCH_JOBS = ["layout-video-box-guidance"]  # measured by bench_realshape.py only
VAE_SCALE = {"WanTransformer3DModel": 16}  # pixels per latent cell; 8 for every other model here
CALLS_PER_STEP = {"WanTransformer3DModel": 2}  # the Wan pipelines run guidance's two halves as two calls
DENOISERS = {"UNet2DConditionModel", "UNetMotionModel", "UNetSpatioTemporalConditionModel",
             "CogVideoXTransformer3DModel", "WanTransformer3DModel"}  # fmt: skip


@dataclass
class Result:
    job: str
    ok: bool
    error: str = ""
    width: int = 0
    height: int = 0
    frames: int = 0
    model_size: str = ""  # the size the main model worked at
    steps: int = 0
    s_per_step: float = 0.0
    peak_rss: int = 0  # bytes, the child's whole life
    rss_loaded: int = 0  # bytes in use when the main model's first step began
    peak_vram: int = 0  # bytes, torch.cuda.max_memory_allocated when on a GPU
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # user + system time of the child: on a shared machine, the figure that holds
    facts: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        gib = self.peak_rss / 2**30
        if not self.ok:
            return f"FAIL {self.job}: {self.error} ({self.seconds:.0f} s, peak RSS {gib:.1f} GiB)"
        model = f" (model at {self.model_size})" if self.model_size else ""
        return (f"ok   {self.job}: {self.width}x{self.height}, {self.frames} frames, {self.steps} step"
                f"{'s' if self.steps != 1 else ''}, {self.s_per_step:.1f} s/step, peak RSS {gib:.1f} GiB{model}")  # fmt: skip


# -- the parent: one child per job ----------------------------------------------------------------------------


def default_root() -> Path:
    from flowdrafter.core.settings import get_settings

    return get_settings().data_dir / "realshape-hub"


def prepare(root: Path | None = None, log: Callable[[str], None] | None = None) -> Path:
    """Build (or reuse) the hub cache and the cut-out stand-in; returns the root."""
    from . import realshape, tiny

    root = realshape.build(root or default_root(), log=log)
    if not (root / "cutout" / "tiny-u2net.onnx").is_file():
        tiny.build_cutout(root / "cutout")
    return root


def child_env(root: Path, config: Path) -> dict[str, str]:
    """The parent's environment without FLOWDRAFTER_* (the default settings, unchanged), an empty config
    file, the cache's HF variables, and two threads."""
    from . import realshape

    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWDRAFTER_", "HF_", "HUGGINGFACE_"))}
    env.update(realshape.env(root))
    env.update({"FLOWDRAFTER_CONFIG": str(config), "OMP_NUM_THREADS": "2", "PYTHONWARNINGS": "ignore",
                "TRANSFORMERS_VERBOSITY": "error", "DIFFUSERS_VERBOSITY": "error", "TOKENIZERS_PARALLELISM": "false"})  # fmt: skip
    return env


def run_job(job: str, root: Path, workdir: Path, extra: dict[str, Any] | None = None) -> Result:
    """Run one job in a child process; its result, with the child's peak RSS."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "empty-config.toml"
    config.write_text("", encoding="utf-8")
    out = workdir / f"{job}.json"
    out.unlink(missing_ok=True)
    log_path = workdir / f"{job}.log"
    cmd = [sys.executable, "-m", "flowdrafter.generators.testing.realshape_run", job, "--root", str(root),
           "--out", str(out), "--extra", json.dumps(extra or {})]  # fmt: skip
    start = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=child_env(root, config))
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if out.is_file():
        result = Result(**json.loads(out.read_text(encoding="utf-8")))
    else:
        tail = [ln for ln in log_path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
        result = Result(job, ok=False, error=f"exit {proc.returncode}: {tail[-1][:300] if tail else 'no output'} (log: {log_path})")
    result.peak_rss = usage.ru_maxrss * 1024
    result.seconds = seconds
    result.cpu_seconds = usage.ru_utime + usage.ru_stime
    return result


def run_all(
    root: Path | None = None,
    jobs: list[str] | None = None,
    report: Callable[[Result], None] | None = None,
    log: Callable[[str], None] | None = None,
    workdir: Path | None = None,
) -> list[Result]:
    root = prepare(root, log)
    results = []
    with tempfile.TemporaryDirectory(prefix="flowdrafter-realshape-") as tmp:
        for job in jobs or GENERATOR_JOBS:
            result = run_job(job, root, Path(workdir or tmp))
            results.append(result)
            if report:
                report(result)
    return results


# -- the child ------------------------------------------------------------------------------------------------


class StepTimer:
    """Times every call of a denoiser (UNet or video transformer) by wrapping those classes' `forward` (this
    is a child process of its own), and notes the latent size and the RSS at each one's first call."""

    def __init__(self) -> None:
        import diffusers

        self.calls: list[tuple[str, float]] = []
        self.rss_loaded: dict[str, int] = {}
        self.latent: dict[str, tuple[int, int]] = {}
        for name in DENOISERS:
            cls = getattr(diffusers, name, None)
            if cls is not None:
                cls.forward = self._timed(name, cls.forward)

    def _timed(self, name: str, forward: Callable[..., Any]) -> Callable[..., Any]:
        def timed(module: Any, *args: Any, **kwargs: Any) -> Any:
            x = args[0] if args else kwargs.get("sample", kwargs.get("hidden_states"))
            self.rss_loaded.setdefault(name, _rss_now())
            self.latent.setdefault(name, (int(x.shape[-2]), int(x.shape[-1])))
            start = time.perf_counter()
            out = forward(module, *args, **kwargs)
            self.calls.append((name, time.perf_counter() - start))
            return out

        return timed

    def main(self) -> tuple[str, int, float]:
        """(class, steps, mean seconds per step) of the last denoiser that ran (the video model in drafter)."""
        if not self.calls:
            return "", 0, 0.0
        name = self.calls[-1][0]
        times = [t for n, t in self.calls if n == name]
        steps = max(1, len(times) // CALLS_PER_STEP.get(name, 1))
        return name, steps, sum(times) / steps


def _rss_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def storyboard_doc(frames: int) -> dict[str, Any]:
    """One 512x320 scene: two moving foreground entities with references, a background with one, a pan."""
    last = frames - 1
    return {
        "title": "real shapes", "prompt": "a kitten chases a red ball in a garden", "style": "watercolor",
        "negative_prompt": "blurry", "fps": 8, "width": WIDTH, "height": HEIGHT, "seed": 3,
        "entities": [
            {"id": "kitten", "name": "kitten", "kind": "foreground", "description": "a small grey tabby kitten"},
            {"id": "ball", "name": "ball", "kind": "foreground", "description": "a shiny red ball"},
            {"id": "garden", "name": "garden", "kind": "background", "description": "a sunny cottage garden"},
        ],
        "scenes": [{
            "id": "s1", "event": "the kitten chases the ball", "background": "garden", "num_frames": frames,
            "camera": {"motion": "pan_right", "strength": 0.5}, "background_motion": {"dx": -0.01, "dy": 0.0},
            "frames": [{"frame": 0, "description": "the kitten crouches"},
                       {"frame": last, "description": "the kitten pounces on the ball"}],
            "tracks": [
                {"entity": "kitten", "keyframes": [{"frame": 0, "box": [0.05, 0.40, 0.40, 0.95]},
                                                   {"frame": last, "box": [0.55, 0.35, 0.90, 0.90]}]},
                {"entity": "ball", "keyframes": [{"frame": 0, "box": [0.60, 0.70, 0.75, 0.92]},
                                                 {"frame": last, "box": [0.80, 0.65, 0.95, 0.87]}]},
            ],
        }],
    }  # fmt: skip


def make_project(folder: Path, frames: int):
    import numpy as np
    from PIL import Image

    from flowdrafter.core.images import store_image
    from flowdrafter.core.project import Project
    from flowdrafter.core.storyboard import parse_storyboard

    doc = storyboard_doc(frames)
    project = Project.create(folder, parse_storyboard(doc))
    rng = np.random.default_rng(0)
    for entity, cutout in (("kitten", True), ("ball", True), ("garden", False)):
        pixels = rng.integers(0, 255, (96, 96, 4 if cutout else 3), dtype=np.uint8)
        if cutout:
            pixels[..., 3] = 0
            pixels[16:80, 16:80, 3] = 255
        rel = store_image(project, Image.fromarray(pixels, "RGBA" if cutout else "RGB"))
        next(e for e in doc["entities"] if e["id"] == entity)["reference"] = {"image": rel, "source": "upload", "cutout": cutout}
    project.save(parse_storyboard(doc))
    return project


def _settings(root: Path, extra: dict[str, Any], data_dir: Path):
    from flowdrafter.core.settings import Settings

    return Settings(**{**CPU_SETTINGS, "cutout_model": str(root / "cutout" / "tiny-u2net.onnx"), "data_dir": str(data_dir), **extra})


def _render(project, generator: str, settings) -> dict[str, Any]:
    from flowdrafter.generators.render import render_storyboard
    from flowdrafter.generators.video import probe

    report = render_storyboard(project, generator, settings=settings, force=True)
    info = probe(report.scenes[0].clip)
    return {"frames": info.frames, "width": info.width, "height": info.height}


def job_drafter(project, settings) -> dict[str, Any]:
    """The default drafter render as a person starts it: the ball has no reference yet, so the render makes
    one (SD-1.5 text-to-image at 512x512, then the cut-out) before the scene image and the video."""
    from flowdrafter.core.edits import set_reference

    project.save(set_reference(project.load(), "ball", None))
    facts = _render(project, "drafter", settings)
    made = sorted((Path(settings.data_dir).expanduser() / "references").glob("*.png"))
    return {**facts, "references_made": len(made)}


def job_refs(project, settings) -> dict[str, Any]:
    from flowdrafter.core.images import load_asset_image
    from flowdrafter.generators.diffusion.references import make_reference_candidates

    sb = project.load()
    (rel, _seed), = make_reference_candidates(project, sb, "kitten", 1, settings=settings)
    img = load_asset_image(project, rel)
    return {"frames": 1, "width": img.width, "height": img.height, "mode": img.mode}


def job_scene_image(project, settings) -> dict[str, Any]:
    from flowdrafter.generators.diffusion.scene_image import make_scene_image

    img = make_scene_image(project, project.load(), "s1", 3, settings=settings)
    return {"frames": 1, "width": img.width, "height": img.height}


def job_ip_adapter_keys(project, settings) -> dict[str, Any]:
    """Both released IP-Adapter files against the default SD-1.5 UNet: every `ip_adapter.N` key lands on its
    cross-attention layer (values compared), none is left over, none is missing; the image projection loads
    strictly (diffusers raises on any missing or unexpected key there); the Plus file also runs once."""
    import torch
    from diffusers import StableDiffusionPipeline
    from huggingface_hub import hf_hub_download
    from safetensors import safe_open
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    from flowdrafter.generators.diffusion import models

    facts: dict[str, Any] = {}
    encoder = models.from_pretrained(CLIPVisionModelWithProjection, models.IMAGE_ENCODER, settings, subfolder=settings.image_encoder_subfolder)
    for weight in ("ip-adapter_sd15.safetensors", "ip-adapter-plus_sd15.safetensors"):
        pipe = models.from_pretrained(
            StableDiffusionPipeline, models.T2I, settings, image_encoder=encoder, safety_checker=None,
            feature_extractor=CLIPImageProcessor(size=224, crop_size=224), requires_safety_checker=False,
        )  # fmt: skip
        pipe.load_ip_adapter(settings.ip_adapter, subfolder=settings.ip_adapter_subfolder, weight_name=weight, image_encoder_folder=None)
        path = hf_hub_download(settings.ip_adapter, weight, subfolder=settings.ip_adapter_subfolder)
        with safe_open(path, "pt") as f:
            file_keys = {k for k in f.keys() if k.startswith("ip_adapter.")}
            used, differs = set(), []
            layer = 1  # the released numbering: cross-attention layers in processor order, 1, 3, 5, ...
            for name, proc in pipe.unet.attn_processors.items():
                if not name.endswith("attn2.processor") or name.startswith("encoder_hid_proj"):
                    continue  # self-attention, and the Plus projection's own attention layers
                for part in ("to_k_ip", "to_v_ip"):
                    key = f"ip_adapter.{layer}.{part}.weight"
                    used.add(key)
                    if key in file_keys and not torch.equal(getattr(proc, part)[0].weight.float(), f.get_tensor(key).float()):
                        differs.append(key)
                layer += 2
        proj = pipe.unet.encoder_hid_proj.image_projection_layers[0]
        image = torch.zeros(1, 3, 224, 224)
        with torch.inference_mode():
            embeds = pipe.prepare_ip_adapter_image_embeds([image], None, torch.device("cpu"), 1, True)
            tokens = pipe.unet.encoder_hid_proj(embeds)[0].shape[-2]  # [batch, images, tokens, cross dim]
        facts[weight] = {"missing": sorted(used - file_keys), "unexpected": sorted(file_keys - used), "differs": differs,
                         "layers": len(used) // 2, "projection": type(proj).__name__, "image_tokens": int(tokens)}  # fmt: skip
        del pipe
    return facts


def job_motion_lora_keys(project, settings) -> dict[str, Any]:
    """Every camera LoRA on the default motion adapter through layout-video's own loading: keys in the file
    against LoRA weights that landed on the UNet (and one value compared)."""
    import torch
    from huggingface_hub import hf_hub_download
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import load_file

    from flowdrafter.core.storyboard import Camera, CameraMotion
    from flowdrafter.generators.diffusion.layout_video import load_pipeline
    from flowdrafter.generators.diffusion.motion_lora import LORA_SUFFIXES, apply_camera_motion

    pipe = load_pipeline(settings).pipe
    facts: dict[str, Any] = {}
    for motion in LORA_SUFFIXES:
        name, _weight = apply_camera_motion(pipe, Camera(motion=motion, strength=0.5), settings)
        file = load_file(hf_hub_download(f"{settings.motion_lora_repo_prefix}{LORA_SUFFIXES[motion]}", "diffusion_pytorch_model.safetensors"))
        loaded = get_peft_model_state_dict(pipe.unet, adapter_name=name)
        probe_key = "unet.mid_block.motion_modules.0.transformer_blocks.0.attn1.processor.to_q_lora.down.weight"
        peft_key = "mid_block.motion_modules.0.transformer_blocks.0.attn1.to_q.lora_A.weight"
        facts[CameraMotion(motion).value] = {
            "file_keys": len(file), "loaded_keys": len(loaded),
            "mid_block_loaded": peft_key in loaded and torch.equal(loaded[peft_key].float(), file[probe_key].float()),
        }  # fmt: skip
    return facts


def job_attention_masks(project, settings) -> dict[str, Any]:
    """One UNet evaluation of a 2-frame 512x320 layout-video scene with every spatial layer chunked to one
    row and cross-frame attention on: the resolution each cross-attention layer saw the boxes at, the
    attention mass each entity's text block (words, end-of-text, padding) put outside its box on each frame,
    whether frame 1's self-attention keys held frame 0's at every self-attention layer, and how far the
    render's block-by-block regional attention is from the softmax over every block (relative)."""
    import torch
    import torch.nn.functional as F

    from flowdrafter.generators.base import RenderContext
    from flowdrafter.generators.diffusion.attention import layer_size
    from flowdrafter.generators.diffusion.layout_video import LayoutVideoGenerator, frame_masks

    gen = LayoutVideoGenerator(settings)
    sb = project.load()
    inputs = gen.prepare(RenderContext(project, sb, "s1"))
    lv = gen.pipeline()
    pipe = lv.pipe
    frames = inputs.latents.shape[2]
    gen.bind(inputs)
    lv.state.cross_factor = 3.0  # a modulated step
    try:
        pipe.scheduler.set_timesteps(1)
        noise = {}
        for mode in ("fast", "record"):  # the render's block-by-block path, then the softmax written out
            lv.state.record, lv.state.record_self = ({}, True) if mode == "record" else (None, False)
            lv.state.new_pass()
            noise[mode] = gen.unet_call(pipe, inputs, inputs.latents, pipe.scheduler.timesteps[0], range(frames))
        record = dict(lv.state.record)
    finally:
        lv.state.record, lv.state.record_self = None, False
        gen.unbind()
    fast_vs_explicit = float((noise["fast"] - noise["record"]).abs().max() / noise["record"].abs().max())
    lat_h, lat_w = inputs.latents.shape[-2:]
    masks = frame_masks(sb.scene("s1"), inputs.entities, lat_h, lat_w)  # [frames, regions, lat h, lat w]
    group = inputs.layout.group_tokens
    resolutions, worst, cross = set(), 0.0, 0
    for name, probs in record.items():  # cross-attention: [half, frame, queries, blocks x 77]
        if not name.endswith("attn2.processor"):
            continue
        cross += 1
        h, w = layer_size(lat_h, lat_w, probs.shape[2])
        resolutions.add((h, w))
        pooled = F.adaptive_avg_pool2d(masks, (h, w)).reshape(frames, len(inputs.entities), h * w)
        for r in range(len(inputs.entities)):
            mass = probs[1, :, :, (r + 1) * group : (r + 2) * group].sum(-1)  # prompt half, one row per frame
            outside = pooled[:, r] == 0
            worst = max(worst, float(mass[outside].max()) if outside.any() else 0.0)
    key_frames = [record[n].tolist() for n in record if n.endswith(":key_frames")]
    frame_0_keys = all(
        torch.equal(record[n][:, 1, :, record[n].shape[3] // 2 :], record[n][:, 0, :, : record[n].shape[3] // 2])
        for n in record if n.endswith(":keys")
    )  # fmt: skip
    return {"frames": frames, "latent": [lat_h, lat_w], "layers": cross, "resolutions": sorted(resolutions),
            "max_mass_outside_box": worst, "blocks": probs.shape[-1] // group, "self_layers": len(key_frames),
            "key_frames": key_frames[0] if key_frames else [], "frame_0_keys": frame_0_keys,
            "fast_vs_explicit": fast_vs_explicit}  # fmt: skip


def _release() -> int:
    """Give freed memory back to the system and reset the peak RSS to the current RSS; returns it (bytes)."""
    import ctypes
    import gc

    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM, the peak RSS, to the current RSS
    return _rss_now()


def _peak_rss() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def job_layout_video_long(project, settings) -> dict[str, Any]:
    """A 16- and a 120-frame scene through the whole render path, one loaded pipeline, one process: each
    render's peak RSS and what it added on top of the process before it (the weights stay loaded)."""
    from flowdrafter.generators.diffusion.layout_video import load_pipeline

    load_pipeline(settings)
    renders: dict[str, Any] = {}
    for frames in (FRAMES, LONG_FRAMES):
        long_project = make_project(project.root.parent / f"long-{frames}", frames)
        before = _release()
        calls = len(TIMER.calls) if TIMER else 0
        start = time.perf_counter()
        out = _render(long_project, "layout-video", settings)
        denoise = sum(t for _, t in TIMER.calls[calls:]) if TIMER else 0.0
        renders[str(frames)] = {"peak": _peak_rss(), "added": _peak_rss() - before, "frames": out["frames"],
                                "s_per_step": denoise / settings.steps, "seconds": time.perf_counter() - start}  # fmt: skip
    return {**out, "renders": renders, "s_per_step": renders[str(LONG_FRAMES)]["s_per_step"], "steps": settings.steps}


def job_layout_video_examples(project, settings) -> dict[str, Any]:
    """Every bundled example through `render_storyboard` with layout-video: per scene, planned frames and the
    clip's frames and size."""
    from flowdrafter.core.examples import copy_example, list_examples
    from flowdrafter.generators.render import render_storyboard
    from flowdrafter.generators.video import probe

    out: dict[str, Any] = {}
    for name in list_examples():
        example = copy_example(name, project.root.parent / "examples" / name)
        sb = example.load()
        report = render_storyboard(example, "layout-video", settings=settings, force=True)
        out[name] = {"size": [sb.width, sb.height], "scenes": []}
        for rendered, scene in zip(report.scenes, sb.scenes):
            info = probe(rendered.clip)
            out[name]["scenes"].append({"scene": scene.id, "planned": scene.num_frames, "frames": info.frames,
                                        "size": [info.width, info.height], "camera": scene.camera.motion.value})  # fmt: skip
    return {"examples": out}


def job_layout_video_box_guidance(project, settings) -> dict[str, Any]:
    """The cost of box guidance at real shapes: the same 16-frame scene with it off and on (one gradient step
    in the first of two denoising steps): the seconds it added to the first step, against a plain step, and
    the memory each render added to the loaded, warmed-up process."""
    from flowdrafter.generators.base import RenderContext
    from flowdrafter.generators.diffusion.layout_video import LayoutVideoGenerator

    runs: dict[str, Any] = {}
    for run, scale in (("warm-up", 0.0), ("off", 0.0), ("on", 30.0)):  # the warm-up's first-time allocations stay
        gen = LayoutVideoGenerator(settings.model_copy(update={
            "steps": 2, "layout_video_box_guidance": scale, "layout_video_box_guidance_steps": 0.5}))  # fmt: skip
        gen.pipeline()
        marks: list[float] = []
        before = _release()

        def progress(fraction: float, message: str, marks: list[float] = marks) -> None:
            if message.startswith(("step", "loading")):
                marks.append(time.perf_counter())

        gen.generate(RenderContext(project, project.load(), "s1", progress=progress))
        runs[run] = {"intervals": [b - a for a, b in zip(marks, marks[1:])],
                                          "added": _peak_rss() - before, "energies": gen.box_energies}  # fmt: skip
    guidance = runs["on"]["intervals"][0] - runs["off"]["intervals"][0]  # the same prepare + step, plus guidance
    step = runs["off"]["intervals"][1]  # a plain denoising step
    return {"frames": FRAMES, "width": WIDTH, "height": HEIGHT, "runs": runs, "guidance_seconds": guidance,
            "step_seconds": step, "guidance_vs_step": guidance / step}  # fmt: skip


JOBS: dict[str, tuple[Callable[..., dict[str, Any]], int, dict[str, Any]]] = {
    # name: (function or generator name, scene frames, settings on top of CPU_SETTINGS)
    "refs": (job_refs, FRAMES, {}),
    "scene-image": (job_scene_image, FRAMES, {}),
    "drafter": (job_drafter, FRAMES, {}),  # Wan2.2-TI2V-5B, the default, making the ball's reference first
    "drafter-svd": (lambda p, s: _render(p, "drafter", s), FRAMES, {"i2v_model": "stabilityai/stable-video-diffusion-img2vid-xt"}),
    "drafter-cogvideox": (lambda p, s: _render(p, "drafter", s), FRAMES, {"i2v_pipeline": "cogvideox", "i2v_model": "THUDM/CogVideoX-5b-I2V"}),
    "layout-video": (lambda p, s: _render(p, "layout-video", s), FRAMES, {}),
    "layout-video-long": (job_layout_video_long, FRAMES, {"layout_video_max_side": LONG_SIDE}),
    "ip-adapter-keys": (job_ip_adapter_keys, FRAMES, {}),
    "motion-lora-keys": (job_motion_lora_keys, FRAMES, {}),
    "attention-masks": (job_attention_masks, 2, {"layout_video_max_side": None, "layout_video_frame_chunk": 1,
                                                 "layout_video_cross_frame": "first"}),
    "layout-video-examples": (job_layout_video_examples, FRAMES, {"layout_video_max_side": EXAMPLES_SIDE}),
    "layout-video-box-guidance": (job_layout_video_box_guidance, FRAMES, {}),
}  # fmt: skip
TIMER: StepTimer | None = None


def child(job: str, root: Path, out: Path, extra: dict[str, Any]) -> None:
    import torch

    torch.set_num_threads(2)
    global TIMER
    fn, frames, overrides = JOBS[job]
    timer = TIMER = StepTimer()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory(prefix=f"realshape-{job}-") as tmp:
        settings = _settings(root, {**overrides, **extra}, Path(tmp) / "data")
        project = make_project(Path(tmp) / "project", frames)
        start = time.perf_counter()
        try:
            facts = fn(project, settings)
            error = ""
        except Exception as err:  # noqa: BLE001 - reported as the job's one FAIL line
            facts, error = {}, f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"[:300]
            import traceback

            traceback.print_exc()
    name, steps, per_step = timer.main()
    if "s_per_step" in facts:  # a job of several UNet calls per step (context windows) says its own
        per_step, steps = facts.pop("s_per_step"), facts.pop("steps")
    result = Result(
        job, ok=not error, error=error, width=int(facts.get("width", 0)), height=int(facts.get("height", 0)),
        frames=int(facts.get("frames", 0)), steps=steps, s_per_step=per_step, rss_loaded=timer.rss_loaded.get(name, 0),
        seconds=time.perf_counter() - start, facts=facts,
    )  # fmt: skip
    if torch.cuda.is_available():
        result.peak_vram = int(torch.cuda.max_memory_allocated())
    if (job in GENERATOR_JOBS or job == "layout-video-long") and result.ok:
        _check_output(result, frames)
    if name in timer.latent:
        h, w = timer.latent[name]
        scale = VAE_SCALE.get(name, 8)
        result.model_size = f"{w * scale}x{h * scale}"
    out.write_text(json.dumps(result.__dict__, default=str), encoding="utf-8")  # peak RSS: the parent's os.wait4


def _check_output(result: Result, frames: int) -> None:
    frames = LONG_FRAMES if result.job == "layout-video-long" else frames
    expected = (1, 512, 512) if result.job == "refs" else (1, WIDTH, HEIGHT) if result.job == "scene-image" else (frames, WIDTH, HEIGHT)
    got = (result.frames, result.width, result.height)
    if got != expected:
        result.ok = False
        result.error = f"made {got[0]} frames at {got[1]}x{got[2]}, expected {expected[0]} at {expected[1]}x{expected[2]}"


def main() -> None:
    parser = argparse.ArgumentParser(description="one real-shape job, in this process (see the module docstring)")
    parser.add_argument("job", choices=sorted(JOBS))
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--extra", default="{}", help="settings on top of the job's, as JSON")
    args = parser.parse_args()
    child(args.job, args.root, args.out, json.loads(args.extra))


if __name__ == "__main__":
    main()
