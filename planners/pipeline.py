"""The planner's public entry points: `plan` (prompt -> storyboard) and `replan` (redo one stage, or one
stage of one scene, leaving everything else as it was).

Stages run in order: script (scenes and entities), entities (visual descriptions), layout per scene
(keyframes, boxes, background motion, with self-refinement). Each stage is its own function in its own
module; these two functions only check the input, open the backend and chain them.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Literal

from flowdrafter.core.errors import PlanningError
from flowdrafter.core.settings import Settings, get_settings
from flowdrafter.core.storyboard import Storyboard

from .ask import Asker
from .cache import ReplyCache
from .cast import find_cast
from .entities import describe_entities
from .identity import resolve_names
from .layout import plan_layout
from .quality import plan_quality
from .llm import Progress, open_llm
from .schemas import MAX_PLAN_SCENES, CONTROL_CHARS
from .script import EntityIndex, fit_transitions, rewrite_scene, scene_from_script, script_to_storyboard, write_script

MAX_PROMPT_CHARS = 4000
Stage = Literal["script", "entities", "layout"]
STAGES = ("script", "entities", "layout")


def check_prompt(prompt: str) -> str:
    text = " ".join(CONTROL_CHARS.sub(" ", prompt or "").split())
    if not text:
        raise PlanningError("the prompt is empty; describe the video to plan, e.g. \"a kitten chases a ball, then naps\"")
    if len(text) > MAX_PROMPT_CHARS:
        raise PlanningError(
            f"the prompt is {len(text):,} characters; keep it under {MAX_PROMPT_CHARS:,} (a short story, not a document)"
        )
    return text


def check_size(size: tuple[int, int] | str | None) -> tuple[int, int] | None:
    """(width, height) from a tuple or "WxH"; both multiples of 8 between 64 and 2048."""
    if size is None:
        return None
    if isinstance(size, str):
        parts = size.lower().replace("×", "x").split("x")
        try:
            w, h = (int(p) for p in parts) if len(parts) == 2 else (0, 0)
        except ValueError:
            w, h = 0, 0
        if not w:
            raise PlanningError(f"size must look like 512x320, got '{size}'")
    else:
        w, h = size
    for name, v in (("width", w), ("height", h)):
        if not 64 <= v <= 2048 or v % 8:
            raise PlanningError(f"{name} {v} must be a multiple of 8 between 64 and 2048")
    return w, h


def _asker(settings: Settings, seed: int, progress: Progress | None, use_cache: bool, is_cancelled: Callable[[], bool] | None = None) -> Asker:
    llm = open_llm(settings, progress, is_cancelled)
    cache = ReplyCache(settings.data_dir / "llm-cache") if use_cache else None
    return Asker(llm=llm, settings=settings, seed=seed, progress=progress, cache=cache)


def plan(
    prompt: str,
    *,
    settings: Settings | None = None,
    scenes: int | None = None,
    fps: int | None = None,
    size: tuple[int, int] | str | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
    use_cache: bool = True,
    asker: Asker | None = None,
    is_cancelled: Callable[[], bool] | None = None,
) -> Storyboard:
    """A complete, valid storyboard for `prompt`, or a `FlowDrafterError` (PlanningError,
    ModelUnavailableError) saying what went wrong.

    `scenes` (1-12) fixes the number of scenes, else the LLM chooses; `fps` (default 8), `size` ((w, h)
    or "WxH", default 512x320) and `seed` (default 0; also the LLM's sampling seed) go into the storyboard.
    `progress(message)` receives one line per step (stage, scene, tokens/s). With `use_cache`, replies are
    reused from `settings.data_dir/llm-cache`. `asker` lets the benchmark read per-call statistics.
    `is_cancelled()` stops the first download of a hub model (it resumes next time).
    """
    # 1. check inputs
    text = check_prompt(prompt)
    if scenes is not None and not 1 <= scenes <= MAX_PLAN_SCENES:
        raise PlanningError(f"scenes must be between 1 and {MAX_PLAN_SCENES}, got {scenes}")
    if fps is not None and not 1 <= fps <= 60:
        raise PlanningError(f"fps must be between 1 and 60, got {fps}")
    width, height = check_size(size) or (512, 320)
    seed = 0 if seed is None else seed
    if not 0 <= seed <= 2**32 - 1:
        raise PlanningError(f"seed must be between 0 and {2**32 - 1}, got {seed}")
    settings = settings or get_settings()
    # 2. open the LLM
    asker = asker or _asker(settings, seed, progress, use_cache, is_cancelled)
    # 3. cast: the story's characters and objects, in the prompt's own words
    cast, cast_notes = find_cast(asker, text)
    asker.say(f"cast: {', '.join(cast) or 'nobody found'}")
    # 4. script: scenes, refined against the story checks; one entity per thing
    script, notes = write_script(asker, text, scenes, cast)
    script, merged = resolve_names(script, asker, text)
    sb = script_to_storyboard(script, cast_notes + notes + merged, prompt=text, fps=fps or 8, width=width, height=height, seed=seed, cast=cast)
    # 5. entities: visual descriptions
    sb, notes = describe_entities(asker, sb)
    sb = _note(sb, sb.scenes[0].id, notes)
    # 6. layout per scene, in order (a continuing scene starts where the previous one ended)
    for scene in list(sb.scenes):
        sb = plan_layout(asker, sb, scene.id)
    sb = _checked(sb)
    asker.say(f"done: {_count(len(sb.scenes), 'scene')}, {_count(len(sb.entities), 'entity', 'entities')}")
    asker.say(plan_quality(sb).summary())
    return sb


def replan(
    storyboard: Storyboard,
    *,
    stage: Stage,
    scene_id: str | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
    use_cache: bool = True,
    seed: int | None = None,
    is_cancelled: Callable[[], bool] | None = None,
) -> Storyboard:
    """Redo one stage, for one scene (`scene_id`) or for all; everything else is left as it was.

    - "layout": the scene's keyframes, boxes and background motion (all scenes if no id).
    - "entities": the descriptions of the scene's entities (all entities if no id); references are kept.
    - "script": the scene itself (a new event, entities, camera, duration), then its new entities'
      descriptions and its layout; with no id, the whole plan again from the storyboard's prompt, keeping
      fps, size, seed, negative prompt and the reference images of entities that keep their ids.

    `seed` is the LLM's sampling seed; by default a fresh one, so a re-plan gives a new variation.
    """
    if stage not in STAGES:
        raise PlanningError(f"stage must be one of {', '.join(STAGES)}, got '{stage}'")
    if scene_id is not None and storyboard.scene(scene_id) is None:
        ids = ", ".join(s.id for s in storyboard.scenes)
        raise PlanningError(f"no scene '{scene_id}' in this storyboard (scenes: {ids})")
    settings = settings or get_settings()
    seed = random.randrange(2**31) if seed is None else seed
    asker = _asker(settings, seed, progress, use_cache, is_cancelled)
    sb = storyboard

    if stage == "layout":
        for sid in [scene_id] if scene_id else [s.id for s in sb.scenes]:
            sb = plan_layout(asker, sb, sid)
        return _done(asker, sb)

    if stage == "entities":
        ids = None
        if scene_id:
            scene = sb.scene(scene_id)
            assert scene is not None
            ids = [t.entity for t in scene.tracks] + ([scene.background] if scene.background else [])
        sb, notes = describe_entities(asker, sb, ids)
        return _done(asker, _note(sb, scene_id or sb.scenes[0].id, notes))

    if scene_id is None:
        prompt = check_prompt(sb.prompt or sb.title)
        cast, cast_notes = find_cast(asker, prompt)
        script, notes = write_script(asker, prompt, len(sb.scenes), cast)
        script, merged = resolve_names(script, asker, prompt)
        new = script_to_storyboard(script, cast_notes + notes + merged, prompt=prompt, fps=sb.fps, width=sb.width, height=sb.height, seed=sb.seed, previous=sb, cast=cast)
        new, notes = describe_entities(asker, new)
        new = _note(new, new.scenes[0].id, notes)
        for scene in list(new.scenes):
            new = plan_layout(asker, new, scene.id)
        return _done(asker, new)

    index = sb.scene_index(scene_id)
    old = sb.scenes[index]
    written, notes = rewrite_scene(asker, sb, index)
    entity_index = EntityIndex(sb.entities)
    known = {e.id for e in sb.entities}
    fresh = scene_from_script(written, scene_id, entity_index, sb.fps, [])
    fresh = fresh.model_copy(update={"transition": old.transition, "seed": old.seed})
    scenes = list(sb.scenes)
    scenes[index] = fresh
    sb = sb.model_copy(update={"entities": entity_index.entities, "scenes": fit_transitions(scenes)})
    sb = _checked(sb)
    new_ids = [e.id for e in sb.entities if e.id not in known]
    if new_ids:
        sb, more = describe_entities(asker, sb, new_ids)
        notes += more
    return _done(asker, plan_layout(asker, sb, scene_id, continues=written.continues if index > 0 else False, notes=notes))


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _done(asker: Asker, sb: Storyboard) -> Storyboard:
    """The validated result; the log ends with its quality score."""
    sb = _checked(sb)
    asker.say(plan_quality(sb).summary())
    return sb


def _checked(sb: Storyboard) -> Storyboard:
    """Stages build with `model_copy`, which skips validation; the result is validated as a whole."""
    return Storyboard.model_validate(sb.model_dump())


def _note(sb: Storyboard, scene_id: str, notes: list[str]) -> Storyboard:
    """Add stage notes to a scene's warnings, replacing older notes of the same stages."""
    if not notes:
        return sb
    stages = {n.split(":", 1)[0] for n in notes}

    def merged(s):
        old = [w for w in s.warnings if w.split(":", 1)[0] not in stages]
        return s.model_copy(update={"warnings": list(dict.fromkeys([*old, *notes]))})

    scenes = [merged(s) if s.id == scene_id else s for s in sb.scenes]
    return sb.model_copy(update={"scenes": scenes})
