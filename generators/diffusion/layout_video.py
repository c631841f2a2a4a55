"""`layout-video`: FlowZero's layout-guided video, training-free, on AnimateDiff (SD-1.5 UNet + MotionAdapter).

Every frame follows the storyboard:

- box-bound attention: in the spatial cross-attention layers each foreground entity's words act only inside
  that entity's box on that frame (interpolated between keyframes), the scene words everywhere
  (`attention.RegionAttnProcessor`, one row of masks per frame);
- consistent entities: each entity's reference image goes through IP-Adapter, restricted to its box per frame;
- per-frame descriptions: prompt travel between the keyframe descriptions (`prompt_travel`);
- background motion: the initial noise of each frame is the base noise phase-shifted along the planned
  motion (`noise_shift`);
- camera motion: the AnimateDiff motion LoRA of the scene's camera move at its strength (`motion_lora`);
- scenes longer than the motion module's context slide FreeNoise windows over the frames, and the spatial
  layers run on chunks of `layout_video_frame_chunk` rows (`frame_chunks`), so memory stays bounded.

The denoising loop is AnimateDiffPipeline's own, written out here (the same components, scheduler and
order of operations) because the pipeline cannot take one prompt embedding per frame without FreeNoise's
string prompts, and the box binding needs to know the token layout of each frame's prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from flowdrafter.core.errors import RenderError
from flowdrafter.core.images import load_asset_image
from flowdrafter.core.layout import frame_layout
from flowdrafter.core.project import Project
from flowdrafter.core.settings import Settings
from flowdrafter.core.storyboard import EntityKind, Scene, Storyboard

from ..base import FrameSink, Generator, RenderContext, register
from . import attention, frame_chunks, ip_adapter, models
from .cutout import NEUTRAL_BACKDROP, composite
from .motion_lora import apply_camera_motion
from .noise_shift import shifted_noise
from .prompt_travel import TravelPlan, plan_travel, travel_embeddings

BOX_FEATHER = 0.03  # soft box edges: the binding fades out over 3% of the frame outside each box

PIPELINE_SETTINGS = (
    "t2i_model", "t2i_revision", "motion_adapter", "motion_adapter_revision", "motion_lora_repo_prefix",
    "ip_adapter", "ip_adapter_subfolder", "ip_adapter_weight", "ip_adapter_fallback_weight", "ip_adapter_revision",
    "image_encoder", "image_encoder_subfolder", "image_encoder_revision", "motion_context_frames",
)  # fmt: skip
OUTPUT_SETTINGS = (
    "steps", "guidance_scale", "noise_shift_strength", "layout_video_ip_scale", "layout_video_max_side",
)  # fmt: skip


@dataclass
class LayoutVideoPipeline:
    """The loaded AnimateDiff pipeline and the shared state of its box-bound attention processors."""

    pipe: Any
    state: attention.RegionState


def load_pipeline(settings: Settings) -> LayoutVideoPipeline:
    """AnimateDiff from the settings' SD-1.5 model and motion adapter, with IP-Adapter and FreeNoise blocks
    in place and box-bound processors installed; loaded once per process (see `models.shared`)."""
    key = models.settings_key(settings, *PIPELINE_SETTINGS)
    return models.shared("layout-video", key, lambda: _build_pipeline(settings))


def _build_pipeline(settings: Settings) -> LayoutVideoPipeline:
    from diffusers import AnimateDiffPipeline, DDIMScheduler, MotionAdapter
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    adapter = models.from_pretrained(MotionAdapter, models.MOTION_ADAPTER, settings)
    encoder = models.from_pretrained(
        CLIPVisionModelWithProjection, models.IMAGE_ENCODER, settings, subfolder=settings.image_encoder_subfolder
    )
    size = encoder.config.image_size
    pipe = models.from_pretrained(
        AnimateDiffPipeline,
        models.T2I,
        settings,
        motion_adapter=adapter,
        image_encoder=encoder,
        feature_extractor=CLIPImageProcessor(size=size, crop_size=size),
    )
    # the scheduler AnimateDiff's motion modules were trained with (diffusers' AnimateDiff docs)
    pipe.scheduler = DDIMScheduler.from_config(
        pipe.scheduler.config, beta_schedule="linear", clip_sample=False, timestep_spacing="linspace", steps_offset=1
    )
    ip_adapter.load(pipe, settings)  # Plus when its file is there, else the plain adapter
    # FreeNoise blocks from the start: with one window they compute what the plain blocks do, and swapping
    # blocks later would drop loaded motion LoRAs. The window is set per scene.
    pipe.enable_free_noise(context_length=settings.motion_context_frames, context_stride=_stride(settings))
    models.place(pipe, settings)
    state = attention.install(pipe.unet, attention.RegionState())
    frame_chunks.install(pipe.unet, state, settings.layout_video_frame_chunk)
    return LayoutVideoPipeline(pipe=pipe, state=state)


def _stride(settings: Settings) -> int:
    return max(1, settings.motion_context_frames // 4)


# -- inputs ---------------------------------------------------------------------------------------------------


def render_size(storyboard: Storyboard, settings: Settings) -> tuple[int, int]:
    """(width, height) to generate at: the storyboard size, or scaled down to `layout_video_max_side`."""
    w, h = storyboard.width, storyboard.height
    cap = settings.layout_video_max_side
    if cap is None or max(w, h) <= cap:
        return w, h
    scale = cap / max(w, h)
    return max(8, round(w * scale / 8) * 8), max(8, round(h * scale / 8) * 8)


def bound_entities(storyboard: Storyboard, scene: Scene) -> list[str]:
    """Foreground entities with a box track in this scene, in track order: one attention region each."""
    ids = [t.entity for t in scene.tracks]
    return [i for i in ids if (e := storyboard.entity(i)) is not None and e.kind is EntityKind.foreground]


def frame_masks(scene: Scene, entities: list[str], height: int, width: int) -> torch.Tensor:
    """[frames, regions, height, width]: each entity's soft box on each frame, at latent resolution."""
    boxes = [[frame_layout(scene, f)[e] for e in entities] for f in range(scene.num_frames)]
    return attention.box_masks(boxes, height, width, feather=BOX_FEATHER)


def token_regions(plan: TravelPlan, entities: list[str], num_tokens: int) -> torch.Tensor:
    """[tokens]: the region each prompt token is bound to (-1 = free), the same on every frame."""
    regions = torch.full((num_tokens,), -1, dtype=torch.long)
    for r, eid in enumerate(entities):
        span = plan.entity_spans.get(eid)
        if span is not None:
            regions[span[0] : span[1]] = r
    return regions


def reference_images(project: Project, storyboard: Storyboard, entities: list[str]) -> list[tuple[int, Image.Image]]:
    """(region, RGB image) for each bound entity that has a reference; cut-outs are put on a plain backdrop."""
    refs = []
    for r, eid in enumerate(entities):
        entity = storyboard.entity(eid)
        if entity is None or entity.reference is None:
            continue
        refs.append((r, composite(load_asset_image(project, entity.reference.image))))
    return refs


@dataclass
class SceneInputs:
    """What the denoising loop reads for one scene (rows are [negative, prompt] x frames with guidance)."""

    plan: TravelPlan
    entities: list[str]  # attention regions, in order
    embeds: torch.Tensor  # [rows, tokens, dim] prompt embeddings per row
    image_embeds: list[torch.Tensor]  # IP-Adapter inputs, one tensor per adapter
    masks: torch.Tensor | None  # [rows, regions, latent h, latent w]
    tokens: torch.Tensor | None  # [rows, tokens] region of each token, -1 = free
    ip_regions: list[list[int]]  # region of each reference image
    ip_scale: float
    latents: torch.Tensor  # [1, channels, frames, latent h, latent w] initial noise (unit variance)
    cfg: bool
    size: tuple[int, int]  # (width, height) rendered before resizing to the storyboard


# -- the generator --------------------------------------------------------------------------------------------


@register
class LayoutVideoGenerator(Generator):
    """FlowZero-style layout-guided video on AnimateDiff; see the module docstring."""

    name = "layout-video"
    version = "2"  # 2: references on the neutral backdrop, IP-Adapter Plus by default
    description = "AnimateDiff guided by the storyboard: boxes, entity references, per-frame prompts, motion."
    needs_gpu = True

    def cache_settings(self) -> dict[str, Any]:
        return {k: getattr(self.settings, k) for k in (*PIPELINE_SETTINGS, *OUTPUT_SETTINGS)}

    def pipeline(self) -> LayoutVideoPipeline:
        return load_pipeline(self.settings)

    def render_scene(self, ctx: RenderContext, sink: FrameSink) -> None:
        for frame in self.generate(ctx):
            sink.write(frame)

    def prepare(self, ctx: RenderContext) -> SceneInputs:
        """Steps 1-5 of `generate`: everything the denoising loop reads for one scene."""
        # 1. check inputs, load the pipeline
        sb, scene, s = ctx.storyboard, ctx.scene, self.settings
        width, height = render_size(sb, s)
        num_frames = scene.num_frames
        ctx.check_cancelled()
        ctx.progress(0.0, "loading models")
        pipe = self.pipeline().pipe
        device = models.execution_device(pipe)
        cfg = s.guidance_scale > 1.0
        lat_h, lat_w = height // pipe.vae_scale_factor, width // pipe.vae_scale_factor

        # 2. camera motion LoRA and the motion module's context window
        apply_camera_motion(pipe, scene.camera, s)
        pipe.enable_free_noise(context_length=min(s.motion_context_frames, num_frames), context_stride=_stride(s))
        frame_chunks.install(pipe.unet, self.pipeline().state, s.layout_video_frame_chunk)

        # 3. encode prompts: one per keyframe description, blended per frame
        plan = plan_travel(sb, scene, pipe.tokenizer)
        embeds = travel_embeddings(plan, lambda texts: self._encode(pipe, texts, device))
        if cfg:
            negative = self._encode(pipe, [sb.negative_prompt], device)
            embeds = torch.cat([negative.expand(num_frames, -1, -1), embeds])

        # 4. layout: boxes per frame bind entity tokens and entity references (rows: [negative, prompt] x frames)
        entities = bound_entities(sb, scene)
        refs = reference_images(ctx.project, sb, entities)
        masks = tokens = None
        if entities:
            masks = frame_masks(scene, entities, lat_h, lat_w).repeat(2 if cfg else 1, 1, 1, 1)
            tokens = token_regions(plan, entities, embeds.shape[1]).expand(num_frames, -1)
            if cfg:  # the negative prompt is never box-bound
                tokens = torch.cat([torch.full_like(tokens, -1), tokens])
        image_embeds = self._image_embeds(pipe, [img for _, img in refs], device, cfg)

        # 5. initial noise, shifted along the background motion
        motion = scene.background_motion
        generator = torch.Generator("cpu").manual_seed(ctx.seed)
        latents = shifted_noise(
            (1, pipe.unet.config.in_channels, num_frames, lat_h, lat_w),
            motion.dx, motion.dy, s.noise_shift_strength, generator,
        )  # fmt: skip
        return SceneInputs(
            plan=plan, entities=entities, embeds=embeds, image_embeds=image_embeds, masks=masks, tokens=tokens,
            ip_regions=[[r for r, _ in refs]], ip_scale=s.layout_video_ip_scale if refs else 0.0,
            latents=latents.to(device=device, dtype=embeds.dtype), cfg=cfg, size=(width, height),
        )  # fmt: skip

    def bind(self, inputs: SceneInputs) -> None:
        """Point the installed processors at this scene's boxes, tokens and references."""
        lv = self.pipeline()
        lv.state.set(inputs.masks, inputs.tokens, inputs.ip_regions if inputs.masks is not None else None)
        attention.set_ip_scale(lv.pipe.unet, inputs.ip_scale)

    def generate(self, ctx: RenderContext) -> np.ndarray:
        """The scene's frames, (frames, height, width, 3) uint8 at the storyboard size."""
        sb, s = ctx.storyboard, self.settings
        inputs = self.prepare(ctx)  # 1.-5.
        lv = self.pipeline()
        pipe = lv.pipe

        # 6. denoise
        self.bind(inputs)
        try:
            pipe.scheduler.set_timesteps(s.steps, device=inputs.latents.device)
            latents = inputs.latents * pipe.scheduler.init_noise_sigma
            latents = self._denoise(ctx, pipe, latents, inputs.embeds, inputs.image_embeds, inputs.cfg)
        finally:
            lv.state.clear()

        # 7. decode and bring to the storyboard size
        ctx.check_cancelled()
        ctx.progress(s.steps / (s.steps + 1), "decoding")
        with torch.no_grad():
            video = pipe.decode_latents(latents, decode_chunk_size=8)
        frames = pipe.video_processor.postprocess_video(video=video, output_type="np")[0]
        frames = (np.clip(frames, 0.0, 1.0) * 255.0).round().astype(np.uint8)
        if inputs.size != (sb.width, sb.height):
            frames = np.stack(
                [np.asarray(Image.fromarray(f).resize((sb.width, sb.height), Image.LANCZOS)) for f in frames]
            )
        expected = (ctx.scene.num_frames, sb.height, sb.width, 3)
        if frames.shape != expected:
            raise RenderError(f"layout-video made frames of shape {frames.shape}, expected {expected}")
        ctx.progress(1.0, "done")
        return frames

    @staticmethod
    @torch.no_grad()
    def _encode(pipe: Any, texts: list[str], device: torch.device) -> torch.Tensor:
        embeds, _ = pipe.encode_prompt(texts, device, 1, False)
        return embeds

    @staticmethod
    @torch.no_grad()
    def _image_embeds(pipe: Any, images: list[Image.Image], device: torch.device, cfg: bool) -> list[torch.Tensor]:
        """IP-Adapter inputs: the references as one adapter's images, or one neutral image (at weight 0) when
        the scene has none, since a UNet with IP-Adapter (plain or Plus) always expects image embeds."""
        images = images or [Image.new("RGB", (224, 224), NEUTRAL_BACKDROP)]
        return pipe.prepare_ip_adapter_image_embeds([images], None, device, 1, cfg)

    @torch.no_grad()
    def _denoise(self, ctx: RenderContext, pipe: Any, latents, embeds, image_embeds, cfg: bool) -> torch.Tensor:
        s = self.settings
        timesteps = pipe.scheduler.timesteps
        added = {"image_embeds": image_embeds}
        with pipe.progress_bar(total=len(timesteps)) as bar:
            for i, t in enumerate(timesteps):
                ctx.check_cancelled()
                model_input = torch.cat([latents] * 2) if cfg else latents
                model_input = pipe.scheduler.scale_model_input(model_input, t)
                noise = pipe.unet(model_input, t, encoder_hidden_states=embeds, added_cond_kwargs=added).sample
                if cfg:
                    uncond, text = noise.chunk(2)
                    noise = uncond + s.guidance_scale * (text - uncond)
                latents = pipe.scheduler.step(noise, t, latents).prev_sample
                bar.update()
                ctx.progress((i + 1) / (len(timesteps) + 1), f"step {i + 1}/{len(timesteps)}")
        return latents
