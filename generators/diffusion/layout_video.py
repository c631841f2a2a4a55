"""`layout-video`: FlowZero's layout-guided video, training-free, on AnimateDiff (SD-1.5 UNet + MotionAdapter).

Every frame follows the storyboard:

- regional prompting: each foreground entity's own text (description and style) acts only inside its box on
  each frame (interpolated between keyframes), the scene's background text everywhere; DenseDiffusion-style
  modulation strengthens both in the first steps (`video_attention`);
- consistent entities: each entity's reference image goes through IP-Adapter, restricted to its box per frame;
- cross-frame attention: every frame also attends to frame 0's keys and values (FlowZero), so long scenes
  keep their look;
- per-frame descriptions: prompt travel between the keyframe descriptions (`prompt_travel`);
- background motion: the initial noise of each frame is the base noise phase-shifted along the background's
  own motion plus the camera's drift (`noise_shift`);
- camera motion: the AnimateDiff motion LoRA of the scene's camera move at its strength (`motion_lora`);
- optional box guidance: gradient steps on the latents in the first steps (`box_guidance`, off by default);
- long scenes: the UNet runs on overlapping windows of the motion module's context, blended per frame
  (`context_windows`), and its spatial layers on chunks of rows (`frame_chunks`): memory does not grow with
  the scene's length.

The denoising loop is AnimateDiffPipeline's own, written out here (the same components, scheduler and
order of operations) because each frame needs its own text rows (scene text per frame, entity texts) and
the windows need one UNet call each.
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
from . import attention, box_guidance, frame_chunks, ip_adapter, models, video_attention
from .context_windows import pyramid, windows
from .cutout import NEUTRAL_BACKDROP, composite
from .motion_lora import apply_camera_motion
from .noise_shift import frame_drift, shifted_noise
from .prompt_travel import TravelPlan, plan_travel, travel_embeddings
from .video_attention import SceneLayout, VideoAttentionState

BOX_FEATHER = 0.03  # soft box edges: the binding fades out over 3% of the frame outside each box

PIPELINE_SETTINGS = (
    "t2i_model", "t2i_revision", "motion_adapter", "motion_adapter_revision", "motion_lora_repo_prefix",
    "ip_adapter", "ip_adapter_subfolder", "ip_adapter_weight", "ip_adapter_fallback_weight", "ip_adapter_revision",
    "image_encoder", "image_encoder_subfolder", "image_encoder_revision", "motion_context_frames",
)  # fmt: skip
OUTPUT_SETTINGS = (
    "steps", "guidance_scale", "noise_shift_strength", "layout_video_ip_scale", "layout_video_max_side",
    "layout_video_cross_modulation", "layout_video_self_modulation", "layout_video_modulation_steps",
    "layout_video_cross_frame", "layout_video_box_guidance", "layout_video_box_guidance_steps",
    "layout_video_box_guidance_iterations",
)  # fmt: skip
DECODE_FRAMES = 8  # frames the VAE decodes at once (and turns into 8-bit pixels), so decoding is bounded too


@dataclass
class LayoutVideoPipeline:
    """The loaded AnimateDiff pipeline and the shared state of its layout attention processors."""

    pipe: Any
    state: VideoAttentionState


def load_pipeline(settings: Settings) -> LayoutVideoPipeline:
    """AnimateDiff from the settings' SD-1.5 model and motion adapter, with IP-Adapter and the layout
    attention processors installed; loaded once per process (see `models.shared`)."""
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
    models.place(pipe, settings)
    state = video_attention.install(pipe.unet, VideoAttentionState())
    frame_chunks.install(pipe.unet, state, settings.layout_video_frame_chunk)
    return LayoutVideoPipeline(pipe=pipe, state=state)


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
    if not entities:
        return torch.zeros(scene.num_frames, 0, height, width)
    boxes = [[frame_layout(scene, f)[e] for e in entities] for f in range(scene.num_frames)]
    return attention.box_masks(boxes, height, width, feather=BOX_FEATHER)


def reference_images(project: Project, storyboard: Storyboard, entities: list[str]) -> list[tuple[int, Image.Image]]:
    """(region, RGB image) for each bound entity that has a reference; cut-outs are put on a plain backdrop."""
    refs = []
    for r, eid in enumerate(entities):
        entity = storyboard.entity(eid)
        if entity is None or entity.reference is None:
            continue
        refs.append((r, composite(load_asset_image(project, entity.reference.image))))
    return refs


def cross_frame_mode(settings: Settings, num_frames: int) -> str:
    """The cross-frame attention a scene gets: `auto` is frame 0 when the scene needs more than one window."""
    mode = settings.layout_video_cross_frame
    if mode == "auto":
        return "first" if num_frames > settings.motion_context_frames else "off"
    return mode


def modulation(settings: Settings, step: int, steps: int) -> tuple[float, float]:
    """(cross, self) modulation factors of a denoising step: the settings' in the first steps, else none."""
    if step < settings.layout_video_modulation_steps * steps:
        return settings.layout_video_cross_modulation, settings.layout_video_self_modulation
    return 1.0, 1.0


@dataclass
class SceneInputs:
    """What the denoising loop reads for one scene."""

    plan: TravelPlan
    entities: list[str]  # attention regions, in order
    scene_embeds: torch.Tensor  # [frames, 77, dim] the scene (background) text per frame
    entity_embeds: torch.Tensor  # [entities, 77, dim] each entity's own text
    negative: torch.Tensor | None  # [1, 77, dim] with guidance
    layout: SceneLayout  # boxes per frame, token blocks, reference regions
    image_embeds: list[torch.Tensor]  # IP-Adapter inputs, one tensor per adapter ([negative,] prompt)
    ip_scale: float
    latents: torch.Tensor  # [1, channels, frames, latent h, latent w] initial noise (unit variance)
    cfg: bool
    size: tuple[int, int]  # (width, height) rendered before resizing to the storyboard size
    windows: list[tuple[int, int]]  # the UNet's frame windows
    cross_frame: str  # off | first | first+previous
    guide_embeds: torch.Tensor | None = None  # [frames, 77, dim] the combined prompt, with box guidance only

    def text_rows(self, frames: range | list[int]) -> torch.Tensor:
        """[halves x frames, 77, dim]: each row's own text, the negative prompt or the frame's scene text; the
        entities' texts are the same on every row and reach the UNet through the layout (`SceneLayout`)."""
        index = torch.as_tensor(list(frames), device=self.scene_embeds.device)
        prompt = self.scene_embeds[index]
        if self.negative is None:
            return prompt
        return torch.cat([self.negative.expand(len(index), -1, -1), prompt])


# -- the generator --------------------------------------------------------------------------------------------


@register
class LayoutVideoGenerator(Generator):
    """FlowZero-style layout-guided video on AnimateDiff; see the module docstring."""

    name = "layout-video"
    version = "3"  # 3: references on the neutral backdrop, IP-Adapter Plus; regional prompting, modulation, cross-frame attention, context windows, camera drift
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
        lv = self.pipeline()
        pipe = lv.pipe
        device = models.execution_device(pipe)
        cfg = s.guidance_scale > 1.0
        lat_h, lat_w = height // pipe.vae_scale_factor, width // pipe.vae_scale_factor

        # 2. camera motion LoRA; the spatial layers' row chunks
        apply_camera_motion(pipe, scene.camera, s)
        frame_chunks.install(pipe.unet, lv.state, s.layout_video_frame_chunk)

        # 3. encode the texts: the scene text per keyframe description (blended per frame), each entity's own
        plan = plan_travel(sb, scene, pipe.tokenizer)
        entities = bound_entities(sb, scene)
        encode = lambda texts: self._encode(pipe, texts, device)  # noqa: E731
        scene_embeds = travel_embeddings(plan, encode)
        entity_embeds = encode([plan.entity_texts[e] for e in entities]) if entities else scene_embeds[:0]
        negative = encode([sb.negative_prompt]) if cfg else None
        guided = s.layout_video_box_guidance > 0 and bool(entities)
        guide_embeds = travel_embeddings(plan, encode, combined=True) if guided else None

        # 4. layout: boxes per frame for the entity texts and the entity references
        refs = reference_images(ctx.project, sb, entities)
        layout = SceneLayout(
            masks=frame_masks(scene, entities, lat_h, lat_w).to(device), entity_text=entity_embeds,
            group_tokens=scene_embeds.shape[1],
            ip_regions=[[r for r, _ in refs]],
        )  # fmt: skip
        image_embeds = self._image_embeds(pipe, [img for _, img in refs], device, cfg)

        # 5. initial noise, shifted along the background's motion plus the camera's drift
        dx, dy = frame_drift(scene)
        generator = torch.Generator("cpu").manual_seed(ctx.seed)
        latents = shifted_noise(
            (1, pipe.unet.config.in_channels, num_frames, lat_h, lat_w), dx, dy, s.noise_shift_strength, generator
        )
        return SceneInputs(
            plan=plan, entities=entities, scene_embeds=scene_embeds, entity_embeds=entity_embeds, negative=negative,
            layout=layout, image_embeds=image_embeds, ip_scale=s.layout_video_ip_scale if refs else 0.0,
            latents=latents.to(device=device, dtype=scene_embeds.dtype), cfg=cfg, size=(width, height),
            windows=windows(num_frames, s.motion_context_frames), cross_frame=cross_frame_mode(s, num_frames),
            guide_embeds=guide_embeds,
        )  # fmt: skip

    def bind(self, inputs: SceneInputs) -> None:
        """Point the installed processors at this scene's boxes, token blocks, references and cross-frame mode."""
        lv = self.pipeline()
        lv.state.set_layout(inputs.layout)
        lv.state.cross_frame = inputs.cross_frame
        video_attention.set_ip_scale(lv.pipe.unet, inputs.ip_scale)

    def unbind(self) -> None:
        state = self.pipeline().state
        state.set_layout(None)
        state.cross_frame, state.cross_factor, state.self_factor = "off", 1.0, 1.0

    def generate(self, ctx: RenderContext) -> np.ndarray:
        """The scene's frames, (frames, height, width, 3) uint8 at the storyboard size."""
        sb, s = ctx.storyboard, self.settings
        inputs = self.prepare(ctx)  # 1.-5.
        pipe = self.pipeline().pipe

        # 6. denoise
        self.bind(inputs)
        self.box_energies: list[list[float]] = []  # per guided step, the energy before each gradient step
        try:
            pipe.scheduler.set_timesteps(s.steps, device=inputs.latents.device)
            latents = inputs.latents * pipe.scheduler.init_noise_sigma
            latents = self._denoise(ctx, pipe, inputs, latents)
        finally:
            self.unbind()

        # 7. decode and bring to the storyboard size
        ctx.check_cancelled()
        ctx.progress(s.steps / (s.steps + 1), "decoding")
        frames = self._decode(pipe, latents)
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
    def unet_call(self, pipe: Any, inputs: SceneInputs, x: torch.Tensor, t: Any, frames: range, keep=()) -> torch.Tensor:
        """The guided noise prediction [1, C, len(frames), h, w] for latents `x` of `frames`: one UNet call."""
        model_input = pipe.scheduler.scale_model_input(torch.cat([x] * 2) if inputs.cfg else x, t)
        with self.pipeline().state.call(frames, 2 if inputs.cfg else 1, keep):
            noise = pipe.unet(
                model_input, t, encoder_hidden_states=inputs.text_rows(frames),
                added_cond_kwargs={"image_embeds": inputs.image_embeds},
            ).sample  # fmt: skip
        if inputs.cfg:
            uncond, text = noise.chunk(2)
            noise = uncond + self.settings.guidance_scale * (text - uncond)
        return noise

    @torch.no_grad()
    def predict(self, pipe: Any, inputs: SceneInputs, latents: torch.Tensor, t: Any) -> torch.Tensor:
        """The guided noise prediction for every frame: one UNet call per window, blended per frame."""
        self.pipeline().state.new_pass()
        wins = inputs.windows
        if len(wins) == 1:
            return self.unet_call(pipe, inputs, latents, t, range(*wins[0]))
        total = torch.zeros_like(latents)
        weight = torch.zeros(latents.shape[2], device=latents.device, dtype=latents.dtype)
        for n, (a, b) in enumerate(wins):
            keep = [wins[n + 1][0] - 1] if n + 1 < len(wins) else []  # the next window's previous frame
            w = pyramid(b - a).to(latents)
            total[:, :, a:b] += self.unet_call(pipe, inputs, latents[:, :, a:b], t, range(a, b), keep) * w[:, None, None]
            weight[a:b] += w
        return total / weight[:, None, None]

    def _guide(self, pipe: Any, inputs: SceneInputs, latents: torch.Tensor, t: Any) -> torch.Tensor:
        s = self.settings
        assert inputs.guide_embeds is not None
        spans = [inputs.plan.entity_spans.get(e, (0, 0)) for e in inputs.entities]
        latents, energies = box_guidance.guide(
            pipe.unet, self.pipeline().state, latents, t, float(pipe.scheduler.alphas_cumprod[int(t)]),
            inputs.guide_embeds, [e[-1:] for e in inputs.image_embeds], spans,
            scale=s.layout_video_box_guidance, iterations=s.layout_video_box_guidance_iterations,
            frames=s.layout_video_frame_chunk or s.motion_context_frames, scale_input=pipe.scheduler.scale_model_input,
        )  # fmt: skip
        self.box_energies.append(energies)
        return latents

    def _denoise(self, ctx: RenderContext, pipe: Any, inputs: SceneInputs, latents: torch.Tensor) -> torch.Tensor:
        s = self.settings
        state = self.pipeline().state
        timesteps = pipe.scheduler.timesteps
        with pipe.progress_bar(total=len(timesteps)) as bar:
            for i, t in enumerate(timesteps):
                ctx.check_cancelled()
                state.cross_factor, state.self_factor = modulation(s, i, len(timesteps))
                if inputs.guide_embeds is not None and i < s.layout_video_box_guidance_steps * len(timesteps):
                    latents = self._guide(pipe, inputs, latents, t)
                noise = self.predict(pipe, inputs, latents, t)
                with torch.no_grad():
                    latents = pipe.scheduler.step(noise, t, latents).prev_sample
                bar.update()
                ctx.progress((i + 1) / (len(timesteps) + 1), f"step {i + 1}/{len(timesteps)}")
        return latents

    @staticmethod
    @torch.no_grad()
    def _decode(pipe: Any, latents: torch.Tensor) -> np.ndarray:
        """(frames, h, w, 3) uint8, decoded `DECODE_FRAMES` frames at a time."""
        out = []
        for a in range(0, latents.shape[2], DECODE_FRAMES):
            video = pipe.decode_latents(latents[:, :, a : a + DECODE_FRAMES], decode_chunk_size=DECODE_FRAMES)
            frames = pipe.video_processor.postprocess_video(video=video, output_type="np")[0]
            out.append((np.clip(frames, 0.0, 1.0) * 255.0).round().astype(np.uint8))
        return np.concatenate(out)
