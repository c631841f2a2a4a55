"""`drafter`: VideoDrafter-style generator. Missing entity references are made first, then per scene a scene
reference image is made from the event and the references, and an image-to-video model turns it into the
clip, driven by the scene's action text, with the camera motion warped into its latents.

The image-to-video model sits behind `I2VBackend`, one class per diffusers pipeline family, chosen from the
pipeline class in `i2v_model`'s `model_index.json` (setting `i2v_pipeline=auto`):

- `wan` (default, `Wan-AI/Wan2.2-TI2V-5B-Diffusers`, Apache-2.0): `WanImageToVideoPipeline`; takes the scene
  image and the action text (event plus keyframe descriptions).
- `svd` (`StableVideoDiffusionPipeline`): the low-VRAM option; takes no text, which the render says once.
- `cogvideox` (`CogVideoXImageToVideoPipeline`): takes the text too, renders at its fixed trained size.

A backend loads its pipeline, decides its size, frame count and frame rate, and runs it with the step
callback of `camera_warp` (camera warp in its window of steps, progress, cancellation).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from flowdrafter.core.errors import FlowDrafterError
from flowdrafter.core.project import Project
from flowdrafter.core.settings import Settings
from flowdrafter.core.storyboard import Scene, Storyboard

from ..base import FrameSink, Generator, ProgressFn, RenderContext, register
from . import fetch, models
from .auto_refs import entities_without_reference, fill_missing_references
from .camera_warp import SchedulerTap, StepCallback, camera_moves, warp_window
from .scene_image import make_scene_image

# -- image-to-video backends -----------------------------------------------------------------------------------


def area_size(width: int, height: int, area: int, multiple: int, max_side: int | None = None) -> tuple[int, int]:
    """The storyboard's aspect ratio at about `area` pixels, each side rounded down to a whole `multiple`
    (the size rule of the Wan model cards: height = round(sqrt(area * h / w)) // m * m, likewise width);
    with `max_side`, scaled down first so the longer side is at most that."""
    ratio = height / width
    if max_side:
        longest = max(math.sqrt(area * ratio), math.sqrt(area / ratio))
        area = min(area, area * (max_side / longest) ** 2)
    h = max(multiple, int(round(math.sqrt(area * ratio))) // multiple * multiple)
    w = max(multiple, int(round(math.sqrt(area / ratio))) // multiple * multiple)
    return w, h


@contextlib.contextmanager
def _wrapped(obj: Any, name: str, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Iterator[None]:
    """Replace `obj.name` by `wrap(original)` for the duration of a call."""
    original = getattr(obj, name)
    had_own = name in vars(obj)
    setattr(obj, name, wrap(original))
    try:
        yield
    finally:
        if had_own:
            setattr(obj, name, original)
        else:
            delattr(obj, name)


class I2VBackend:
    """One image-to-video pipeline family. Subclasses set the class attributes and implement the hooks."""

    name: ClassVar[str]
    label: ClassVar[str]  # what to call it in messages
    pipeline_class: ClassVar[str]  # the diffusers class it loads with
    frame_dim: ClassVar[int] = 1  # where frames are in the latents the step callback sees
    takes_text: ClassVar[bool] = True

    def __init__(self, settings: Settings):
        self.settings = settings

    def load(self) -> Any:
        """The pipeline, through `models.from_pretrained` / `models.place` / `models.shared`."""
        import diffusers

        settings = self.settings

        def build() -> Any:
            pipe = models.from_pretrained(getattr(diffusers, self.pipeline_class), models.I2V, settings)
            return models.place(pipe, settings)

        return models.shared("i2v", models.settings_key(settings, "i2v_model", "i2v_revision"), build)

    def size(self, pipe: Any, width: int, height: int) -> tuple[int, int]:
        """The size to generate at for a storyboard of width x height."""
        raise NotImplementedError

    def frames(self, pipe: Any, scene_frames: int, fps: int) -> int:
        """How many frames to generate for a scene of `scene_frames` at `fps` (then resampled to the scene)."""
        raise NotImplementedError

    def latent_frames(self, pipe: Any, num_frames: int) -> int:
        """Frames along `frame_dim` of the latents (fewer than `num_frames` when the VAE compresses time)."""
        return num_frames

    def clip_fps(self, scene_frames: int, fps: int, num_frames: int) -> int:
        """The frame rate of the generated clip (the scene's duration over `num_frames` frames)."""
        return max(1, round(fps * num_frames / scene_frames))

    def run(
        self, pipe: Any, image: Image.Image, *, prompt: str, negative_prompt: str, width: int, height: int,
        num_frames: int, fps: int, seed: int, callback: StepCallback,
    ) -> list[Image.Image]:  # fmt: skip
        raise NotImplementedError

    def _call(self, pipe: Any, callback: StepCallback, seed: int, **inputs: Any) -> list[Image.Image]:
        """Run the pipeline with our step callback, and the scheduler tap the camera warp reads installed."""
        callback.tap = SchedulerTap(pipe.scheduler) if callback.warps else None
        with (callback.tap.installed() if callback.tap else contextlib.nullcontext()), torch.inference_mode():
            out = pipe(
                num_inference_steps=callback.total_steps,
                generator=torch.Generator(device="cpu").manual_seed(seed),
                callback_on_step_end=callback,
                callback_on_step_end_tensor_inputs=["latents"],
                **inputs,
            )
        return list(out.frames[0])

    def _text_inputs(
        self, image: Image.Image, prompt: str, negative_prompt: str, width: int, height: int, num_frames: int, guidance: float
    ) -> dict[str, Any]:  # fmt: skip
        """The inputs of the pipelines that take the scene image and the action text."""
        return {
            "image": image.resize((width, height), Image.Resampling.LANCZOS),
            "prompt": prompt,
            "negative_prompt": negative_prompt or None,
            "height": height,
            "width": width,
            "num_frames": num_frames,
            "guidance_scale": self.settings.i2v_guidance_scale or guidance,
        }


class WanBackend(I2VBackend):
    """Wan image+text-to-video (`WanImageToVideoPipeline`; default `Wan-AI/Wan2.2-TI2V-5B-Diffusers`).

    Published rules of the TI2V-5B card: 1280x704 pixels (any aspect ratio at that area, sides multiples of
    the VAE's 16 x the transformer's 2x2 patches = 32), 4k + 1 frames up to 121, 24 fps, guidance 5.0,
    bfloat16 weights with the VAE in float32. The clip covers the scene's duration at 24 fps. With
    `expand_timesteps` (TI2V) the first latent frame is the reference image's latent at timestep 0.
    Latents are [batch, channels, latent frames, H, W].
    """

    name = "wan"
    label = "Wan image+text-to-video"
    pipeline_class = "WanImageToVideoPipeline"
    frame_dim = 2
    TRAINED_AREA = 1280 * 704
    FPS = 24
    MAX_FRAMES = 121
    GUIDANCE = 5.0

    def load(self) -> Any:
        import diffusers

        settings = self.settings

        def build() -> Any:
            device = models.resolve_device(settings)
            dtype = torch.bfloat16 if settings.dtype == "auto" and device.type == "cuda" else models.resolve_dtype(settings, device)
            vae = models.from_pretrained(diffusers.AutoencoderKLWan, models.I2V, settings, subfolder="vae", dtype=torch.float32)
            pipe = models.from_pretrained(diffusers.WanImageToVideoPipeline, models.I2V, settings, vae=vae, dtype=dtype)
            return models.place(pipe, settings)

        return models.shared("i2v", models.settings_key(settings, "i2v_model", "i2v_revision"), build)

    def _multiple(self, pipe: Any) -> int:
        return int(pipe.vae_scale_factor_spatial) * int(pipe.transformer.config.patch_size[1])

    def size(self, pipe: Any, width: int, height: int) -> tuple[int, int]:
        return area_size(width, height, self.TRAINED_AREA, self._multiple(pipe), self.settings.i2v_max_side)

    def frames(self, pipe: Any, scene_frames: int, fps: int) -> int:
        t = int(pipe.vae_scale_factor_temporal)
        wanted = round((scene_frames - 1) * self.FPS / fps) + 1
        n = max(t + 1, min(self.settings.i2v_frames or self.MAX_FRAMES, wanted))
        return (n - 1) // t * t + 1

    def latent_frames(self, pipe: Any, num_frames: int) -> int:
        return (num_frames - 1) // int(pipe.vae_scale_factor_temporal) + 1

    def run(
        self, pipe: Any, image: Image.Image, *, prompt: str, negative_prompt: str, width: int, height: int,
        num_frames: int, fps: int, seed: int, callback: StepCallback,
    ) -> list[Image.Image]:  # fmt: skip
        captured: dict[str, torch.Tensor] = {}

        def capture(original: Callable[..., Any]) -> Callable[..., Any]:
            def prepare_latents(*args: Any, **kwargs: Any) -> Any:
                out = original(*args, **kwargs)
                captured["condition"] = out[1]  # the reference frame's latent: [batch, channels, 1, H, W]
                return out

            return prepare_latents

        callback.reference = lambda: captured["condition"][:, :, 0]
        inputs = self._text_inputs(image, prompt, negative_prompt, width, height, num_frames, self.GUIDANCE)
        with _wrapped(pipe, "prepare_latents", capture):
            return self._call(pipe, callback, seed, output_type="pil", **inputs)


class SVDBackend(I2VBackend):
    """Stable Video Diffusion (`StableVideoDiffusionPipeline`): the low-VRAM option. It takes no text.

    Size: the storyboard's aspect ratio at the trained area, which the published UNet config encodes as a
    square, `sample_size` x VAE factor = 96 x 8 = 768, i.e. 768^2 = 589,824 pixels = the card's 1024x576;
    sides in multiples of 64 (the UNet's four levels). Latents are [batch, frames, C, H, W].
    """

    name = "svd"
    label = "Stable Video Diffusion"
    pipeline_class = "StableVideoDiffusionPipeline"
    frame_dim = 1
    takes_text = False

    def size(self, pipe: Any, width: int, height: int) -> tuple[int, int]:
        scale = int(pipe.vae_scale_factor)
        multiple = max(8, scale * 2 ** (len(pipe.unet.config.block_out_channels) - 1))
        area = (int(pipe.unet.config.sample_size) * scale) ** 2
        return area_size(width, height, area, multiple, self.settings.i2v_max_side)

    def frames(self, pipe: Any, scene_frames: int, fps: int) -> int:
        return max(2, min(self.settings.i2v_frames or int(pipe.unet.config.num_frames), scene_frames))

    def run(
        self, pipe: Any, image: Image.Image, *, prompt: str, negative_prompt: str, width: int, height: int,
        num_frames: int, fps: int, seed: int, callback: StepCallback,
    ) -> list[Image.Image]:  # fmt: skip
        return self._call(
            pipe, callback, seed, image=image.resize((width, height), Image.Resampling.LANCZOS), height=height,
            width=width, num_frames=num_frames, fps=fps, motion_bucket_id=self.settings.i2v_motion_bucket,
            decode_chunk_size=min(num_frames, 8),
        )  # fmt: skip


class CogVideoXBackend(I2VBackend):
    """CogVideoX image-to-video (`CogVideoXImageToVideoPipeline`, e.g. THUDM/CogVideoX-5b-I2V); it takes the
    scene's text too, renders at its trained size (learned positions), and its VAE compresses 4 frames into
    one latent frame: latents are [batch, latent frames, C, H, W] and frame counts are 4k + 1."""

    name = "cogvideox"
    label = "CogVideoX image-to-video"
    pipeline_class = "CogVideoXImageToVideoPipeline"
    frame_dim = 1
    GUIDANCE = 6.0

    def load(self) -> Any:
        pipe = super().load()
        # decoding a 720x480 clip in one piece peaked above 22 GB in float32 (measured on the real-shape cache;
        # ~11 GB in half precision): the 3D VAE always decodes in tiles, whatever `vae_tiling` says
        pipe.vae.enable_tiling()
        return pipe

    def _temporal(self, pipe: Any) -> int:
        return int(pipe.vae_scale_factor_temporal)

    def size(self, pipe: Any, width: int, height: int) -> tuple[int, int]:
        scale = int(pipe.vae_scale_factor_spatial)
        cfg = pipe.transformer.config
        return int(cfg.sample_width) * scale, int(cfg.sample_height) * scale

    def frames(self, pipe: Any, scene_frames: int, fps: int) -> int:
        t = self._temporal(pipe)
        most = self.settings.i2v_frames or int(pipe.transformer.config.sample_frames)
        n = max(t + 1, min(most, scene_frames))
        return (n - 1) // t * t + 1

    def latent_frames(self, pipe: Any, num_frames: int) -> int:
        return (num_frames - 1) // self._temporal(pipe) + 1

    def run(
        self, pipe: Any, image: Image.Image, *, prompt: str, negative_prompt: str, width: int, height: int,
        num_frames: int, fps: int, seed: int, callback: StepCallback,
    ) -> list[Image.Image]:  # fmt: skip
        inputs = self._text_inputs(image, prompt, negative_prompt, width, height, num_frames, self.GUIDANCE)
        return self._call(pipe, callback, seed, **inputs)


I2V_BACKENDS: dict[str, type[I2VBackend]] = {"wan": WanBackend, "svd": SVDBackend, "cogvideox": CogVideoXBackend}


# -- which family a model is -------------------------------------------------------------------------------------

SUPPORTED = (
    "Wan image+text-to-video (WanImageToVideoPipeline, or WanPipeline with expand_timesteps, e.g. "
    "Wan-AI/Wan2.2-TI2V-5B-Diffusers), Stable Video Diffusion (StableVideoDiffusionPipeline) and CogVideoX "
    "image-to-video (CogVideoXImageToVideoPipeline)"
)


def model_index(settings: Settings, *, download: bool = True) -> dict[str, Any] | None:
    """`i2v_model`'s model_index.json, read without downloading any weights (a folder's file, or the one small
    file from the Hugging Face cache, else from the hub when `download`); None when it cannot be had (the
    load then says why)."""
    model_id = settings.i2v_model
    try:
        if models.is_local(model_id):
            path = Path(model_id).expanduser() / "model_index.json"
        else:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(model_id, "model_index.json", revision=settings.i2v_revision)
            if isinstance(cached, str):
                path = Path(cached)
            elif download:
                path = fetch.fetch_file(model_id, settings.i2v_revision, "model_index.json", cache=Path(models.hub_cache()),
                                        setting="i2v_model (FLOWDRAFTER_I2V_MODEL)")  # fmt: skip
            else:
                return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - missing, offline, unreachable, malformed: all mean "cannot tell here"
        return None
    return data if isinstance(data, dict) else None


def i2v_family(settings: Settings, *, download: bool = True) -> str:
    """The backend name for `i2v_model`, from its pipeline class; one clear error for a class without one."""
    index = model_index(settings, download=download)
    chosen = settings.i2v_pipeline
    model_id = settings.i2v_model
    if index is None:
        if chosen != "auto":
            return chosen
        raise models.unavailable(models.I2V, model_id, "its model_index.json, which names the pipeline, could not be read")
    cls = str(index.get("_class_name", ""))
    family = {backend.pipeline_class: name for name, backend in I2V_BACKENDS.items()}.get(cls)
    if cls == "WanPipeline" and index.get("expand_timesteps"):
        family = "wan"  # Wan2.2-TI2V: one checkpoint for text- and image-to-video, published as WanPipeline
    if family is None:
        what = "a text-to-video Wan model (WanPipeline without expand_timesteps)" if cls == "WanPipeline" else f"a {cls or 'pipeline without a class name'}"
        raise FlowDrafterError(
            f"image-to-video model '{model_id}' is {what}, which drafter has no backend for; supported: {SUPPORTED} "
            "(setting i2v_model, FLOWDRAFTER_I2V_MODEL)"
        )
    if chosen not in ("auto", family):
        raise FlowDrafterError(
            f"i2v_pipeline is '{chosen}' but i2v_model '{model_id}' is a {cls} ({family}); set i2v_pipeline to auto or {family}"
        )
    return family


# -- frames and prompt ------------------------------------------------------------------------------------------


def resample(frames: list[Image.Image], num_frames: int, width: int, height: int) -> list[np.ndarray]:
    """`num_frames` frames at width x height: linear blends between neighbours in time, Lanczos in space."""
    arrays = [np.asarray(f.convert("RGB").resize((width, height), Image.Resampling.LANCZOS), dtype=np.float32) for f in frames]
    if len(arrays) == 1 or num_frames == 1:
        return [arrays[0].round().astype(np.uint8) for _ in range(num_frames)]
    out = []
    for j in range(num_frames):
        pos = j * (len(arrays) - 1) / (num_frames - 1)
        a = int(np.floor(pos))
        b = min(a + 1, len(arrays) - 1)
        w = pos - a
        out.append(np.clip((1 - w) * arrays[a] + w * arrays[b], 0, 255).round().astype(np.uint8))
    return out


def video_prompt(storyboard: Storyboard, scene: Scene) -> str:
    """For backends that take text: the event, the keyframe descriptions in order, and the style."""
    parts = [scene.event, *(n.description for n in scene.frames)]
    if storyboard.style.strip():
        parts.append(storyboard.style.strip())
    return ". ".join(p.strip().rstrip(".") for p in parts if p.strip())


# -- the generator ---------------------------------------------------------------------------------------------


@register
class DrafterGenerator(Generator):
    name = "drafter"
    version = "2"  # 2: Wan by default, camera warp of the clean latent after the first steps, IP-Adapter Plus
    description = "VideoDrafter: references, a scene image (SD-1.5 + boxed IP-Adapter), then image+text-to-video"
    needs_gpu = True

    SCENE_SHARE: ClassVar[float] = 0.3  # of the progress bar

    def __init__(self, settings: Settings | None = None):
        super().__init__(settings)
        self._family: str | None = None
        self._warnings: list[str] = []
        self.trace: list[dict[str, Any]] | None = None  # set to a list to record each video step (tests)

    def cache_settings(self) -> dict[str, Any]:
        s = self.settings
        names = (
            "t2i_model", "t2i_revision", "ip_adapter", "ip_adapter_subfolder", "ip_adapter_weight",
            "ip_adapter_fallback_weight", "ip_adapter_revision", "ip_adapter_scale", "ip_adapter_background_scale",
            "image_encoder", "image_encoder_subfolder", "image_encoder_revision", "i2v_pipeline", "i2v_model",
            "i2v_revision", "i2v_frames", "i2v_max_side", "i2v_guidance_scale", "i2v_motion_bucket",
            "camera_warp_start", "camera_warp_steps", "steps", "guidance_scale", "dtype",
        )  # fmt: skip
        return {n: getattr(s, n) for n in names}

    def family(self) -> str:
        if self._family is None:
            self._family = i2v_family(self.settings)
        return self._family

    def backend(self) -> I2VBackend:
        return I2V_BACKENDS[self.family()](self.settings)

    def scene_inputs(self, ctx: RenderContext) -> dict[str, Any]:
        """The scene's JSON and the prompt the video model gets; for a model that takes no text, without the
        keyframe descriptions (only the video model reads them), so editing them reuses the clips."""
        inputs = super().scene_inputs(ctx)
        try:  # a render has resolved the family already (`prepare_render`); elsewhere: from local files only
            takes_text = I2V_BACKENDS[self._family or i2v_family(self.settings, download=False)].takes_text
        except FlowDrafterError:
            return inputs  # cannot tell here (a render would stop with the reason): the whole scene, conservatively
        if takes_text:
            inputs["video_prompt"] = video_prompt(ctx.storyboard, ctx.scene)
        else:
            inputs.pop("frames", None)
        return inputs

    def prepare_render(
        self, project: Project, storyboard: Storyboard, scene_ids: list[str], *, progress: ProgressFn = lambda f, m: None,
        is_cancelled: Callable[[], bool] = lambda: False,
    ) -> Storyboard:  # fmt: skip
        # 1. the video model's family, from its model_index.json: a model without a backend stops here,
        #    before anything is downloaded
        backend = I2V_BACKENDS[self.family()]
        if not backend.takes_text:
            self._warnings.append(
                f"the image-to-video model ({self.settings.i2v_model}) is {backend.label}, which takes no text: the "
                "scenes' action text is ignored and only the scene image and the camera move drive the video "
                "(a text+image model such as Wan-AI/Wan2.2-TI2V-5B-Diffusers uses it; setting i2v_model)"
            )
        # 2. missing entity references: made (cached by content), or noted per scene when that is off
        if self.settings.auto_references:
            return fill_missing_references(
                project, storyboard, scene_ids, settings=self.settings, progress=progress, is_cancelled=is_cancelled
            )
        return storyboard

    def take_warnings(self) -> list[str]:
        out, self._warnings = self._warnings, []
        return out

    def render_scene(self, ctx: RenderContext, sink: FrameSink) -> None:
        # 1. check inputs
        scene = ctx.scene
        storyboard = ctx.storyboard
        settings = self.settings
        ctx.check_cancelled()
        share = self.SCENE_SHARE
        backend = self.backend()
        missing = [] if settings.auto_references else entities_without_reference(storyboard, [scene.id])[scene.id]
        if missing:  # checked here, not in `prepare_render`, so that a scene rendered on a Ray worker says it too
            self._warnings.append(
                f"scene {scene.id} renders without a reference image for {', '.join(missing)} (auto_references is off): "
                "their look is not kept from scene to scene"
            )

        # 2. scene reference image
        image = make_scene_image(
            ctx.project,
            storyboard,
            scene.id,
            ctx.seed,
            settings=settings,
            progress=lambda f, m: ctx.progress(share * f, m),
            is_cancelled=ctx.is_cancelled,
        )
        ctx.check_cancelled()
        if not settings.keep_models:  # one pipeline in memory at a time: peak = the larger, not the sum
            models.free("scene")

        # 3. image-to-video with the action text, the camera warp in its window of steps
        ctx.progress(share, "video: loading models")
        pipe = backend.load()
        width, height = backend.size(pipe, storyboard.width, storyboard.height)
        n_gen = backend.frames(pipe, scene.num_frames, storyboard.fps)
        steps = settings.steps
        callback = StepCallback(
            camera_moves(scene.camera.motion, scene.camera.strength, backend.latent_frames(pipe, n_gen)),
            warp_window(settings.camera_warp_start, settings.camera_warp_steps, steps),
            steps,
            frame_dim=backend.frame_dim,
            progress=lambda done, total: ctx.progress(share + (0.95 - share) * done / total, f"video: step {done}/{total}"),
            is_cancelled=ctx.is_cancelled,
            trace=self.trace,
        )
        frames = backend.run(
            pipe, image, prompt=video_prompt(storyboard, scene), negative_prompt=storyboard.negative_prompt,
            width=width, height=height, num_frames=n_gen, fps=backend.clip_fps(scene.num_frames, storyboard.fps, n_gen),
            seed=ctx.seed, callback=callback,
        )  # fmt: skip
        ctx.check_cancelled()

        # 4. resample to the scene's frame count and the storyboard size, into the sink
        for frame in resample(frames, scene.num_frames, storyboard.width, storyboard.height):
            sink.write(frame)
        ctx.progress(1.0, f"{scene.num_frames} frames")

    def close(self) -> None:
        """Pipelines stay loaded for the next render (they are shared per process) unless `keep_models` is
        off; `models.free()` releases them on request at any time."""
        if not self.settings.keep_models:
            models.free("scene")
            models.free("i2v")
