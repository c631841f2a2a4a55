"""Entity reference images: text-to-image candidates from the entity's description plus the storyboard
style, one seed each, with the background cut out for foreground entities, stored through core's image
ingestion so they are ordinary project assets.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import torch
from PIL import Image

from flowdrafter.core.errors import FlowDrafterError
from flowdrafter.core.edits import set_reference
from flowdrafter.core.images import load_asset_image, store_image
from flowdrafter.core.project import Project
from flowdrafter.core.settings import Settings, get_settings
from flowdrafter.core.storyboard import Entity, EntityKind, Reference, Storyboard

from . import models
from .cutout import remove_background

ProgressFn = Callable[[float, str], None]
MAX_CANDIDATES = 16


def load_t2i(settings: Settings) -> Any:
    """The text-to-image pipeline (`AutoPipelineForText2Image`), loaded once per process."""
    from diffusers import AutoPipelineForText2Image

    key = models.settings_key(settings, "t2i_model", "t2i_revision")

    def build() -> Any:
        # no safety checker, as for the scene image: SD-1.5's repo ships one (304M params) that blacks out
        # whatever it flags; references are the user's own drafts, made and reviewed locally
        pipe = models.from_pretrained(
            AutoPipelineForText2Image, models.T2I, settings, safety_checker=None, requires_safety_checker=False
        )
        return models.place(pipe, settings)

    return models.shared("t2i", key, build)


def reference_prompt(storyboard: Storyboard, entity: Entity) -> str:
    """What the reference shows: the entity alone (foreground on a plain backdrop, for a clean cut-out)."""
    text = entity.description.strip() or entity.name
    parts = [text]
    if entity.kind is EntityKind.foreground:
        parts.append("full view, centered, plain white background")
    else:
        parts.append("wide establishing shot, no people")
    if storyboard.style.strip():
        parts.append(storyboard.style.strip())
    return ", ".join(parts)


def candidate_seeds(storyboard: Storyboard, entity_id: str, n: int, first_seed: int | None = None) -> list[int]:
    """Stable seeds per entity (the storyboard seed mixed with the entity id), or counting from `first_seed`."""
    base = first_seed if first_seed is not None else (storyboard.seed + zlib.crc32(entity_id.encode())) % 2**32
    return [(base + i) % 2**32 for i in range(n)]


def pipeline_size(pipe: Any) -> int:
    """The square size the model was trained at (512 for SD-1.5), from its own config."""
    return int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)


def generate_reference(pipe: Any, storyboard: Storyboard, entity: Entity, seed: int, settings: Settings) -> Image.Image:
    """One reference image for `entity` from its description and the style (text-to-image with `seed`), cut
    out (RGBA) when the entity is in the foreground, kept whole for the background."""
    size = pipeline_size(pipe)
    with torch.inference_mode():
        image = pipe(
            reference_prompt(storyboard, entity),
            negative_prompt=storyboard.negative_prompt or None,
            height=size,
            width=size,
            num_inference_steps=settings.steps,
            guidance_scale=settings.guidance_scale,
            generator=torch.Generator(device="cpu").manual_seed(seed),
        ).images[0]
    if entity.kind is EntityKind.foreground:
        image = remove_background(image, settings)
    return image


def make_reference_candidates(
    project: Project,
    storyboard: Storyboard,
    entity_id: str,
    n: int,
    *,
    settings: Settings | None = None,
    progress: ProgressFn | None = None,
    first_seed: int | None = None,
) -> list[tuple[str, int]]:
    """Make `n` reference images for one entity; returns [(project-relative PNG path, seed)], in seed order.

    Foreground entities are cut out (RGBA PNG); backgrounds are kept whole. Nothing in the storyboard
    changes: the caller picks a candidate and sets it with `core.edits.set_reference`.
    """
    # 1. check inputs
    settings = settings or get_settings()
    entity = storyboard.entity(entity_id)
    if entity is None:
        raise FlowDrafterError(f"no entity with id '{entity_id}'")
    if not 1 <= n <= MAX_CANDIDATES:
        raise FlowDrafterError(f"candidates must be between 1 and {MAX_CANDIDATES}, got {n}")
    progress = progress or (lambda fraction, message: None)

    # 2. load the model and build the prompt
    progress(0.0, f"{entity_id}: loading the text-to-image model")
    pipe = load_t2i(settings)

    # 3. one image per seed, cut out when foreground, stored as an asset
    results: list[tuple[str, int]] = []
    for i, seed in enumerate(candidate_seeds(storyboard, entity_id, n, first_seed)):
        progress(i / n, f"{entity_id}: candidate {i + 1} of {n} (seed {seed})")
        image = generate_reference(pipe, storyboard, entity, seed, settings)
        results.append((store_image(project, image), seed))
    progress(1.0, f"{entity_id}: {n} candidate{'s' if n != 1 else ''} ready")
    return results


def cut_out_reference(
    project: Project, storyboard: Storyboard, entity_id: str, *, settings: Settings | None = None
) -> Storyboard:
    """Remove the background of an entity's current reference (e.g. an uploaded photo), on request.

    The cut-out is stored as a new asset (the original stays) and the returned storyboard points at it
    with `cutout=True`; the caller saves it.
    """
    entity = storyboard.entity(entity_id)
    if entity is None:
        raise FlowDrafterError(f"no entity with id '{entity_id}'")
    if entity.reference is None:
        raise FlowDrafterError(f"entity {entity_id} has no reference image to cut out")
    image = remove_background(load_asset_image(project, entity.reference.image), settings or get_settings())
    rel = store_image(project, image)
    ref = entity.reference.model_copy(update={"image": rel, "cutout": True})
    return set_reference(storyboard, entity_id, Reference.model_validate(ref.model_dump()))
