"""Script stage: the story prompt becomes scenes (title, event, foreground and background names, camera,
duration), and the names become entities with one id each across the whole storyboard.

The storyboard this stage builds is already valid: every foreground entity of a scene gets a placeholder
track (one standing box) that the layout stage replaces, so the editor can open a plan at any stage.
A hard cut into a scene marks it as continuing the previous scene's action; a crossfade marks a jump in
time or place (`planners.layout` reads it that way).
"""

from __future__ import annotations

import re

from flowdrafter.core.storyboard import (
    MAX_FRAMES_PER_SCENE,
    BackgroundMotion,
    Camera,
    Entity,
    EntityKind,
    FrameNote,
    Keyframe,
    Scene,
    Storyboard,
    Track,
    Transition,
    TransitionKind,
    slugify,
)

from .ask import Asker, strict
from .fixes import default_boxes
from .refine import refine
from .story import fix_script, story_problems
from .words import candidate_names
from .repair import repair_script
from .schemas import MAX_PLAN_SCENES, ScriptReply, ScriptScene, script_problems, script_schema
from .templates import load

CROSSFADE = 4  # frames, between scenes that do not continue each other
SCRIPT_ROUNDS = 1  # story refinement rounds: a whole script costs a layout's tokens three times over
_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
_SCENE_NOTE = re.compile(r"\bscenes? (\d+)\b")


def write_script(asker: Asker, prompt: str, scenes: int | None, cast: list[str] | None = None) -> tuple[ScriptReply, list[str]]:
    """Ask for the script, then refine it against the story checks (`planners.story`): every cast name
    in a scene, no copied prompt, scenes distinct and in the story's order, one name per thing.

    `scenes=None` lets the LLM choose (bounded by MAX_PLAN_SCENES). With a cast, foreground names are
    limited to the cast and the prompt's other noun phrases: words of the story, never an example's."""
    template = load("script")
    cast = list(cast or [])
    count = scenes or MAX_PLAN_SCENES
    allowed = list(dict.fromkeys([*cast, *candidate_names(prompt)])) if cast else None
    asker.say(f"script: writing {scenes or 'up to ' + str(MAX_PLAN_SCENES)} scenes")
    messages = template.render(prompt=prompt, scenes=str(scenes) if scenes else "2 to 6, your choice", cast=", ".join(cast) or "choose the names")
    schema = script_schema(scenes, allowed)
    validate = strict(ScriptReply, lambda r: script_problems(r, scenes))

    def repair(data: dict) -> ScriptReply:
        return repair_script(data, prompt, scenes)

    script, notes = asker.ask(
        stage="script", label="script", template=template.version, messages=messages, schema=schema,
        max_tokens=300 + 230 * count, validate=validate, repair=repair,
    )
    script, more = refine(
        asker, script, check=lambda r: story_problems(r, cast, prompt), fix=lambda r, p: fix_script(r, cast, prompt, p),
        label="script", template=template.version, messages=messages, schema=schema, max_tokens=300 + 230 * count,
        validate=validate, repair=repair, rounds=min(SCRIPT_ROUNDS, asker.settings.llm_refine_rounds), stage="script",
    )
    notes += more
    if scenes and len(script.scenes) < scenes:
        notes.append(f"script: the planner wrote {len(script.scenes)} of the {scenes} scenes asked for")
    return script, notes


def rewrite_scene(asker: Asker, sb: Storyboard, index: int) -> tuple[ScriptScene, list[str]]:
    """A new version of one scene, written knowing the story and the other scenes."""
    template = load("rescene")
    lines = [f"{i + 1}. {s.title}: {s.event}" for i, s in enumerate(sb.scenes)]
    names = ", ".join(e.name for e in sb.entities) or "none"
    label = f"script {sb.scenes[index].id}"
    asker.say(f"{label}: rewriting scene {index + 1}")
    reply, notes = asker.ask(
        stage="script",
        label=label,
        template=template.version,
        messages=template.render(prompt=sb.prompt or sb.title, script="\n".join(lines), number=str(index + 1), names=names),
        schema=script_schema(1),
        max_tokens=600,
        validate=strict(ScriptReply, lambda r: script_problems(r, 1)),
        repair=lambda data: repair_script(data, sb.prompt or sb.title, 1),
    )
    return reply.scenes[0], notes


# -- names -> entities ------------------------------------------------------------------------------------


def name_key(name: str) -> str:
    """"The Red Fox" and "red fox" are the same entity."""
    return " ".join(_ARTICLE.sub("", name.strip()).lower().split())


class EntityIndex:
    """Entities by name, growing as scenes name new ones; a name keeps its id everywhere."""

    def __init__(self, existing: list[Entity] | None = None):
        self.entities: list[Entity] = list(existing or [])
        self._by_key: dict[tuple[str, EntityKind], str] = {(name_key(e.name), e.kind): e.id for e in self.entities}

    def id_for(self, name: str, kind: EntityKind) -> str:
        key = (name_key(name) or name.lower(), kind)
        if key in self._by_key:
            return self._by_key[key]
        display = _ARTICLE.sub("", name.strip())[:80] or name[:80] or kind.value
        eid = slugify(key[0], {e.id for e in self.entities}, fallback="bg" if kind is EntityKind.background else "entity")
        self.entities.append(Entity(id=eid, name=display, kind=kind, description=""))
        self._by_key[key] = eid
        return eid


def scene_from_script(s: ScriptScene, scene_id: str, index: EntityIndex, fps: int, warnings: list[str]) -> Scene:
    num_frames = min(max(s.duration * fps, 2), MAX_FRAMES_PER_SCENE)
    fg = list(dict.fromkeys(index.id_for(n, EntityKind.foreground) for n in s.foreground))
    bg = index.id_for(s.background, EntityKind.background)
    return Scene(
        id=scene_id,
        title=s.title,
        event=s.event,
        background=bg,
        num_frames=num_frames,
        camera=Camera(motion=s.camera, strength=0.5),
        background_motion=BackgroundMotion(),  # the layout stage decides whether the background itself moves
        frames=[FrameNote(frame=0, description=s.event)],
        tracks=[Track(entity=e, keyframes=[Keyframe(frame=0, box=b)]) for e, b in zip(fg, default_boxes(len(fg)))],
        warnings=list(warnings),
    )


def transition_between(a: Scene, b: Scene | None, continues: bool) -> Transition:
    if b is None or continues:
        return Transition(kind=TransitionKind.cut, frames=0)
    k = min(CROSSFADE, a.num_frames // 4, b.num_frames // 4)
    return Transition(kind=TransitionKind.crossfade, frames=k) if k >= 1 else Transition(kind=TransitionKind.cut, frames=0)


def fit_transitions(scenes: list[Scene]) -> list[Scene]:
    """Shorten transitions that no longer fit after a scene changed length (the only edit to a neighbour)."""
    out = []
    for i, s in enumerate(scenes):
        nxt = scenes[i + 1] if i + 1 < len(scenes) else None
        limit = min(s.num_frames, nxt.num_frames) if nxt else s.num_frames
        tr = s.transition
        if tr.frames > limit:
            tr = Transition(kind=tr.kind, frames=limit) if limit >= 1 else Transition(kind=TransitionKind.cut, frames=0)
            s = s.model_copy(update={"transition": tr})
        out.append(s)
    return out


def script_to_storyboard(
    script: ScriptReply,
    notes: list[str],
    *,
    prompt: str,
    fps: int,
    width: int,
    height: int,
    seed: int,
    previous: Storyboard | None = None,
    cast: list[str] | None = None,
) -> Storyboard:
    """A valid storyboard from a script; `previous` (a re-plan) lends its negative prompt and the
    reference images of entities that keep their ids. A note about "scene N" goes to scene N."""
    index = EntityIndex()
    per_scene: dict[int, list[str]] = {}
    for note in notes:
        m = _SCENE_NOTE.search(note)
        n = int(m.group(1)) - 1 if m and 0 < int(m.group(1)) <= len(script.scenes) else 0
        per_scene.setdefault(n, []).append(note)
    scenes = [
        scene_from_script(s, f"s{i + 1}", index, fps, per_scene.get(i, []))
        for i, s in enumerate(script.scenes)
    ]
    scenes = [
        s.model_copy(update={"transition": transition_between(s, scenes[i + 1] if i + 1 < len(scenes) else None,
                                                               i + 1 < len(scenes) and script.scenes[i + 1].continues)})
        for i, s in enumerate(scenes)
    ]
    entities = index.entities
    if previous is not None:
        refs = {e.id: e.reference for e in previous.entities if e.reference is not None}
        entities = [e.model_copy(update={"reference": refs.get(e.id)}) for e in entities]
    return Storyboard(
        title=script.title,
        prompt=prompt,
        style=script.style,
        negative_prompt=previous.negative_prompt if previous else "blurry, deformed, distorted, text, watermark",
        fps=fps,
        width=width,
        height=height,
        seed=seed,
        cast=list(cast if cast is not None else previous.cast if previous else [])[:32],
        entities=entities,
        scenes=fit_transitions(scenes),
    )
