"""Missing entity references, made as part of rendering: VideoDrafter makes one reference image per entity
before any scene, and its consistency across scenes rests on them.

Before a drafter render, each entity that a rendered scene shows (a box track or the scene's background)
and that has no reference image gets one: text-to-image from its description and the style, with the
seed `flowdrafter refs` gives its first candidate, cut out for foreground entities. Made images are cached
by content in `data_dir/references/<key>.png`, the key hashing everything that determines the pixels
(model, prompt, seed, steps, cut-out model, ...), so the next render, of this project or another, reuses
them without loading a model. Each is stored as a project asset and set on the storyboard being rendered;
the saved storyboard is not changed (keep or replace a reference with `flowdrafter refs` or the editor).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from flowdrafter.core.atomic import atomic_write_bytes
from flowdrafter.core.edits import set_reference
from flowdrafter.core.errors import Cancelled
from flowdrafter.core.images import store_image, to_8bit
from flowdrafter.core.project import Project
from flowdrafter.core.settings import Settings
from flowdrafter.core.storyboard import Entity, EntityKind, Reference, Storyboard

from . import models
from .references import candidate_seeds, generate_reference, load_t2i, reference_prompt

RECIPE_VERSION = 1
ProgressFn = Callable[[float, str], None]


def entities_without_reference(storyboard: Storyboard, scene_ids: list[str]) -> dict[str, list[str]]:
    """Per scene (in `scene_ids` order): the entities it shows that have no reference image."""
    out: dict[str, list[str]] = {}
    for scene_id in scene_ids:
        scene = storyboard.scene(scene_id)
        if scene is None:
            continue
        shown = [t.entity for t in scene.tracks] + ([scene.background] if scene.background else [])
        missing = []
        for entity_id in dict.fromkeys(shown):
            entity = storyboard.entity(entity_id)
            if entity is not None and entity.reference is None:
                missing.append(entity_id)
        out[scene_id] = missing
    return out


def reference_key(storyboard: Storyboard, entity: Entity, seed: int, settings: Settings) -> str:
    """A hash of everything that determines the made image's pixels."""
    device = models.resolve_device(settings)
    recipe = {
        "version": RECIPE_VERSION,
        "model": [settings.t2i_model, settings.t2i_revision],
        "prompt": reference_prompt(storyboard, entity),
        "negative": storyboard.negative_prompt,
        "seed": seed,
        "steps": settings.steps,
        "guidance": settings.guidance_scale,
        "dtype": str(models.resolve_dtype(settings, device)),
        "device": device.type,
        "cutout": settings.cutout_model if entity.kind is EntityKind.foreground else None,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:24]


def fill_missing_references(
    project: Project,
    storyboard: Storyboard,
    scene_ids: list[str],
    *,
    settings: Settings,
    progress: ProgressFn | None = None,
    is_cancelled: Callable[[], bool] | None = None,
) -> Storyboard:
    """The storyboard with a reference for every entity the scenes show and lack one for (see the module
    docstring); says per entity in `progress` whether it was made or reused."""
    progress = progress or (lambda fraction, message: None)
    cache = Path(settings.data_dir).expanduser() / "references"
    wanted = list(dict.fromkeys(e for ids in entities_without_reference(storyboard, scene_ids).values() for e in ids))
    made = False
    for entity_id in wanted:
        if is_cancelled is not None and is_cancelled():
            raise Cancelled("render cancelled")
        entity = storyboard.entity(entity_id)
        assert entity is not None
        seed = candidate_seeds(storyboard, entity_id, 1)[0]
        path = cache / f"{reference_key(storyboard, entity, seed, settings)}.png"
        image = _cached(path)
        fresh = image is None
        if image is None:
            what = "text-to-image, then cut-out" if entity.kind is EntityKind.foreground else "text-to-image"
            progress(0.0, f"references: {entity_id}: making one ({what}, seed {seed})")
            image = generate_reference(load_t2i(settings), storyboard, entity, seed, settings)
            buf = io.BytesIO()
            to_8bit(image).save(buf, format="PNG")
            atomic_write_bytes(path, buf.getvalue())
            made = True
        rel = store_image(project, image)
        progress(0.0, f"references: {entity_id}: {'made' if fresh else 'reused the one made before'}, {rel}")
        reference = Reference(image=rel, source="generated", cutout=entity.kind is EntityKind.foreground, seed=seed)
        storyboard = set_reference(storyboard, entity_id, reference)
    if made:  # a second copy of the SD weights: free it for the video model (made images are cached anyway)
        models.free("t2i")
    return storyboard


def _cached(path: Path) -> Image.Image | None:
    if not path.is_file():
        return None
    try:
        with Image.open(path) as img:
            img.load()
            return img.copy()
    except OSError:  # a damaged cache file is made again
        return None
