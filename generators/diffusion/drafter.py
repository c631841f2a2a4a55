"""`drafter`: VideoDrafter-style generator. Scene reference image -> image-to-video, with the scene's camera
motion applied by warping the latents in the first sampling steps.

The image-to-video model sits behind `I2VBackend` (chosen by the `i2v_pipeline` setting): Stable Video
Diffusion by default, CogVideoX image-to-video as a second family. A backend loads its pipeline, says its
size, frame counts and latent layout, and runs it with our step callback (camera warp, progress,
cancellation); adding another diffusers I2V pipeline (LTX, Wan) is one more class here.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from flowdrafter.core.settings import Settings
from flowdrafter.core.storyboard import Scene, Storyboard

from ..base import FrameSink, Generator, RenderContext, register
from . import models
from .camera_warp import StepCallback, camera_moves, warp_step_count
from .scene_image import make_scene_image, model_size

# -- image-to-video backends -----------------------------------------------------------------------------------


class I2VBackend:
    """One image-to-video pipeline family. Subclasses set `name`, `frame_dim` and implement the hooks."""

    name: ClassVar[str]
    frame_dim: ClassVar[int] = 1  # where frames are in the latents the step callback sees

    def __init__(self, settings: Settings):
        self.settings = settings

    def load(self) -> Any:
        """The pipeline, through `models.from_pretrained` / `models.place` / `models.shared`."""
        raise NotImplementedError

    def size(self, pipe: Any, width: int, height: int) -> tuple[int, int]:
        """The size to generate at for a storyboard of width x height."""
        raise NotImplementedError

    def frames(self, pipe: Any, wanted: int) -> int:
        """How many frames to generate when `wanted` are asked for (at most the model's own count)."""
        raise NotImplementedError

    def latent_frames(self, pipe: Any, num_frames: int) -> int:
        """Frames along `frame_dim` of the latents (fewer than `num_frames` when the VAE compresses time)."""
        return num_frames

    def run(
        self, pipe: Any, image: Image.Image, *, prompt: str, negative_prompt: str, width: int, height: int,
        num_frames: int, fps: int, seed: int, callback: StepCallback,
    ) -> list[Image.Image]:  # fmt: skip
        raise NotImplementedError

    def _load(self, cls_name: str, name: str) -> Any:
        import diffusers

        settings = self.settings
        key = models.settings_key(settings, "i2v_pipeline", "i2v_model", "i2v_revision")

        def build() -> Any:
            pipe = models.from_pretrained(getattr(diffusers, cls_name), models.I2V, settings)
            return models.place(pipe, settings)

        return models.shared(name, key, build)


class SVDBackend(I2VBackend):
    """Stable Video Diffusion (`StableVideoDiffusionPipeline`); latents are [batch, frames, C, H, W]."""

    name = "svd"
    frame_dim = 1

    def load(self) -> Any:
        return self._load("StableVideoDiffusionPipeline", "i2v")

    def size(self, pipe: Any, width: int, height: int) -> tuple[int, int]:
        scale = int(pipe.vae_scale_factor)
        multiple = scale * 2 ** (len(pipe.unet.config.block_out_channels) - 1)
        native = int(pipe.unet.config.sample_size) * scale
        return model_size(width, height, min(native, self.settings.i2v_max_side or native), multiple)

    def frames(self, pipe: Any, wanted: int) -> int:
        return max(2, min(self.settings.i2v_frames or int(pipe.unet.config.num_frames), wanted))

    def run(
        self, pipe: Any, image: Image.Image, *, prompt: str, negative_prompt: str, width: int, height: int,
        num_frames: int, fps: int, seed: int, callback: StepCallback,
    ) -> list[Image.Image]:  # fmt: skip
        with torch.inference_mode():
            out = pipe(
                image.resize((width, height), Image.Resampling.LANCZOS),
                height=height,
                width=width,
                num_frames=num_frames,
                num_inference_steps=callback.total_steps,
                fps=fps,
                motion_bucket_id=self.settings.i2v_motion_bucket,
                decode_chunk_size=min(num_frames, 8),
                generator=torch.Generator(device="cpu").manual_seed(seed),
                callback_on_step_end=callback,
                callback_on_step_end_tensor_inputs=["latents"],
            )
        return list(out.frames[0])


class CogVideoXBackend(I2VBackend):
    """CogVideoX image-to-video (`CogVideoXImageToVideoPipeline`, e.g. THUDM/CogVideoX-5b-I2V); it takes the
    scene's prompt too, renders at its trained size, and its VAE compresses 4 frames into one latent frame:
    latents are [batch, latent frames, C, H, W] and frame counts are 4k + 1."""

    name = "cogvideox"
    frame_dim = 1

    def load(self) -> Any:
        pipe = self._load("CogVideoXImageToVideoPipeline", "i2v")
        # decoding a 720x480 clip in one piece peaked above 22 GB in float32 (measured on the real-shape cache;
        # ~11 GB in half precision): the 3D VAE always decodes in tiles, whatever `vae_tiling` says
        pipe.vae.enable_tiling()
        return pipe

    def _temporal(self, pipe: Any) -> int:
        return int(pipe.vae_scale_factor_temporal)

    def size(self, pipe: Any, width: int, height: int) -> tuple[int, int]:
        scale = int(pipe.vae_scale_factor_spatial)
        cfg = pipe.transformer.config
        return int(cfg.sample_width) * scale, int(cfg.sample_height) * scale  # learned positions: trained size only

    def frames(self, pipe: Any, wanted: int) -> int:
        t = self._temporal(pipe)
        most = self.settings.i2v_frames or int(pipe.transformer.config.sample_frames)
        n = max(t + 1, min(most, wanted))
        return (n - 1) // t * t + 1

    def latent_frames(self, pipe: Any, num_frames: int) -> int:
        return (num_frames - 1) // self._temporal(pipe) + 1

    def run(
        self, pipe: Any, image: Image.Image, *, prompt: str, negative_prompt: str, width: int, height: int,
        num_frames: int, fps: int, seed: int, callback: StepCallback,
    ) -> list[Image.Image]:  # fmt: skip
        with torch.inference_mode():
            out = pipe(
                image=image.resize((width, height), Image.Resampling.LANCZOS),
                prompt=prompt,
                negative_prompt=negative_prompt or None,
                height=height,
                width=width,
                num_frames=num_frames,
                num_inference_steps=callback.total_steps,
                guidance_scale=self.settings.guidance_scale,
                generator=torch.Generator(device="cpu").manual_seed(seed),
                callback_on_step_end=callback,
                callback_on_step_end_tensor_inputs=["latents"],
            )
        return list(out.frames[0])


I2V_BACKENDS: dict[str, type[I2VBackend]] = {"svd": SVDBackend, "cogvideox": CogVideoXBackend}


# -- frame resampling -------------------------------------------------------------------------------------------


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
    version = "1"
    description = "VideoDrafter: scene reference image (SD-1.5 + boxed IP-Adapter) animated by an image-to-video model"
    needs_gpu = True

    SCENE_SHARE: ClassVar[float] = 0.3  # of the progress bar

    def cache_settings(self) -> dict[str, Any]:
        s = self.settings
        names = (
            "t2i_model", "t2i_revision", "ip_adapter", "ip_adapter_subfolder", "ip_adapter_weight",
            "ip_adapter_revision", "ip_adapter_scale", "image_encoder", "image_encoder_subfolder",
            "image_encoder_revision", "i2v_pipeline", "i2v_model", "i2v_revision", "i2v_frames",
            "i2v_motion_bucket", "i2v_max_side", "camera_warp_steps", "steps", "guidance_scale", "dtype",
        )  # fmt: skip
        return {n: getattr(s, n) for n in names}

    def backend(self) -> I2VBackend:
        return I2V_BACKENDS[self.settings.i2v_pipeline](self.settings)

    def render_scene(self, ctx: RenderContext, sink: FrameSink) -> None:
        # 1. check inputs
        scene = ctx.scene
        storyboard = ctx.storyboard
        settings = self.settings
        ctx.check_cancelled()
        share = self.SCENE_SHARE

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

        # 3. image-to-video, with the camera warp in the first steps
        ctx.progress(share, "video: loading models")
        backend = self.backend()
        pipe = backend.load()
        width, height = backend.size(pipe, storyboard.width, storyboard.height)
        n_gen = backend.frames(pipe, scene.num_frames)
        steps = settings.steps
        callback = StepCallback(
            camera_moves(scene.camera.motion, scene.camera.strength, backend.latent_frames(pipe, n_gen)),
            warp_step_count(settings.camera_warp_steps, steps),
            steps,
            frame_dim=backend.frame_dim,
            progress=lambda done, total: ctx.progress(share + (0.95 - share) * done / total, f"video: step {done}/{total}"),
            is_cancelled=ctx.is_cancelled,
        )
        fps = max(1, round(storyboard.fps * n_gen / scene.num_frames))
        frames = backend.run(
            pipe, image, prompt=video_prompt(storyboard, scene), negative_prompt=storyboard.negative_prompt,
            width=width, height=height, num_frames=n_gen, fps=fps, seed=ctx.seed, callback=callback,
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

