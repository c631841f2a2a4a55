"""The scene reference image (VideoDrafter-Img's role), made of maintained diffusers parts.

SD-1.5 (the `t2i_model`) with IP-Adapter (Plus by default, see `ip_adapter`): each foreground entity's
reference image acts only inside the entity's frame-0 box (masked IP-Adapter) with weight
`ip_adapter_scale`, the background entity's reference acts on the background (everywhere outside the
foreground boxes) with weight `ip_adapter_background_scale`, and each entity's words in the prompt are bound
to its box (box-masked cross-attention), all through `attention.RegionAttnProcessor`. The prompt is the
entities' phrases (bound), then the event, the background and the style (free).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from flowdrafter.core.errors import RenderError
from flowdrafter.core.images import load_asset_image
from flowdrafter.core.layout import frame_layout
from flowdrafter.core.project import Project
from flowdrafter.core.settings import Settings, get_settings
from flowdrafter.core.storyboard import EntityKind, Scene, Storyboard

from . import attention, ip_adapter, models
from .camera_warp import StepCallback
from .cutout import NEUTRAL_BACKDROP, composite

FEATHER = 0.03  # soft box edges, as a fraction of the frame
ProgressFn = Callable[[float, str], None]


def load_scene_pipeline(settings: Settings) -> tuple[Any, attention.RegionState]:
    """SD-1.5 + IP-Adapter + region processors, loaded once per process; returns (pipeline, region state)."""
    from diffusers import StableDiffusionPipeline
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    key = models.settings_key(
        settings,
        "t2i_model",
        "t2i_revision",
        "ip_adapter",
        "ip_adapter_subfolder",
        "ip_adapter_weight",
        "ip_adapter_fallback_weight",
        "ip_adapter_revision",
        "image_encoder",
        "image_encoder_subfolder",
        "image_encoder_revision",
    )

    def build() -> tuple[Any, attention.RegionState]:
        encoder = models.from_pretrained(
            CLIPVisionModelWithProjection, models.IMAGE_ENCODER, settings, subfolder=settings.image_encoder_subfolder
        )
        pipe = models.from_pretrained(
            StableDiffusionPipeline,
            models.T2I,
            settings,
            image_encoder=encoder,
            feature_extractor=CLIPImageProcessor(size=encoder.config.image_size, crop_size=encoder.config.image_size),
            safety_checker=None,
            requires_safety_checker=False,
        )
        ip_adapter.load(pipe, settings)
        state = attention.install(pipe.unet)
        return models.place(pipe, settings), state

    return models.shared("scene", key, build)


@dataclass
class SceneLayout:
    """What the scene image is conditioned on: the prompt, token bindings, and the entities in frame 0.

    Regions are the foreground boxes in order, then (when the background entity has a reference) one more
    region, `background_region`, covering everything outside the boxes.
    """

    prompt: str
    token_regions: list[int]
    boxes: list[tuple[float, float, float, float]]  # one per foreground region (entity in frame 0), back to front
    references: list[tuple[int, Image.Image]]  # (region, image on the neutral backdrop) for entities with one
    background_region: int | None = None  # the region of the background's reference, if it has one

    def reference_scales(self, settings: Settings) -> list[float]:
        """IP-Adapter weight per reference image, by entity kind."""
        return [
            settings.ip_adapter_background_scale if region == self.background_region else settings.ip_adapter_scale
            for region, _ in self.references
        ]

    def region_masks(self, height: int, width: int) -> torch.Tensor:
        """[regions, height, width]: the soft foreground boxes, then the background (1 - their union)."""
        fg = attention.box_masks([self.boxes], height, width, FEATHER)[0] if self.boxes else torch.zeros(0, height, width)
        if self.background_region is None:
            return fg
        outside = 1.0 - (fg.amax(dim=0) if len(fg) else torch.zeros(height, width))
        return torch.cat([fg, outside[None]])


def scene_layout(project: Project, storyboard: Storyboard, scene: Scene, tokenizer: Any) -> SceneLayout:
    boxes: list[tuple[float, float, float, float]] = []
    segments: list[tuple[str, int]] = []
    references: list[tuple[int, Image.Image]] = []
    for entity_id, box in frame_layout(scene, 0).items():
        entity = storyboard.entity(entity_id)
        if entity is None or entity.kind is not EntityKind.foreground:
            continue
        region = len(boxes)
        boxes.append(tuple(box))  # type: ignore[arg-type]
        segments.append((f"{entity.name},", region))
        if entity.reference is not None:
            references.append((region, composite(load_asset_image(project, entity.reference.image))))
    segments.append((scene.event, -1))
    background = storyboard.entity(scene.background) if scene.background else None
    background_region = None
    if background is not None:
        segments.append((f", {background.description or background.name}", -1))
        if background.reference is not None:  # the background's reference acts outside the foreground boxes
            background_region = len(boxes)
            references.append((background_region, composite(load_asset_image(project, background.reference.image))))
    if storyboard.style.strip():
        segments.append((f", {storyboard.style.strip()}", -1))
    prompt, regions = attention.bind_tokens(tokenizer, segments)
    return SceneLayout(prompt, regions, boxes, references, background_region)


def model_size(width: int, height: int, native: int, multiple: int) -> tuple[int, int]:
    """The storyboard's aspect ratio with the longer side at the model's native size, in whole multiples
    (of at least 8, which diffusers pipelines require)."""
    multiple = max(8, multiple)
    scale = native / max(width, height)
    w = max(multiple, round(width * scale / multiple) * multiple)
    h = max(multiple, round(height * scale / multiple) * multiple)
    return w, h


def make_scene_image(
    project: Project,
    storyboard: Storyboard,
    scene_id: str,
    seed: int,
    *,
    settings: Settings | None = None,
    progress: ProgressFn | None = None,
    is_cancelled: Callable[[], bool] | None = None,
) -> Image.Image:
    """The scene's first frame as an RGB image, at the storyboard's aspect ratio and the model's size."""
    # 1. check inputs
    settings = settings or get_settings()
    scene = storyboard.scene(scene_id)
    if scene is None:
        raise RenderError(f"no scene with id '{scene_id}'")
    progress = progress or (lambda fraction, message: None)

    # 2. load the pipeline and lay out prompt, boxes and references
    progress(0.0, "scene image: loading models")
    pipe, state = load_scene_pipeline(settings)
    layout = scene_layout(project, storyboard, scene, pipe.tokenizer)
    vae_scale = int(pipe.vae_scale_factor)
    multiple = vae_scale * 2 ** (len(pipe.unet.config.block_out_channels) - 1)
    native = int(pipe.unet.config.sample_size) * vae_scale
    width, height = model_size(storyboard.width, storyboard.height, native, multiple)

    # 3. region masks at latent size: row 0 is the unconditional half of classifier-free guidance
    cfg = settings.guidance_scale > 1.0
    rows = 2 if cfg else 1
    if layout.boxes or layout.background_region is not None:
        masks = layout.region_masks(height // vae_scale, width // vae_scale)[None].repeat(rows, 1, 1, 1)
        token_rows = ([[-1] * len(layout.token_regions)] if cfg else []) + [layout.token_regions]
        ip_regions = [[region for region, _ in layout.references]] if layout.references else None
        state.set(masks, torch.tensor(token_rows), ip_regions)
    else:
        state.clear()
    ip_images = [img for _, img in layout.references] or [Image.new("RGB", (224, 224), NEUTRAL_BACKDROP)]
    attention.set_ip_scale(pipe.unet, layout.reference_scales(settings) if layout.references else 0.0)

    # 4. denoise, with progress and cancellation after every step
    steps = settings.steps
    callback = StepCallback(
        None,
        0,
        steps,
        progress=lambda done, total: progress(done / total, f"scene image: step {done}/{total}"),
        is_cancelled=is_cancelled,
    )
    try:
        with torch.inference_mode():
            image = pipe(
                layout.prompt,
                negative_prompt=storyboard.negative_prompt or None,
                ip_adapter_image=[ip_images],
                height=height,
                width=width,
                num_inference_steps=steps,
                guidance_scale=settings.guidance_scale,
                generator=torch.Generator(device="cpu").manual_seed(seed),
                callback_on_step_end=callback,
            ).images[0]
    finally:
        state.clear()
    return image.convert("RGB")
