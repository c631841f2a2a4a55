"""Layout stage for one scene: keyframe descriptions, keyframe boxes per foreground entity and background
motion (FlowZero's dynamic scene syntax as keyframes), refined, then written into the scene.

The scene's foreground entities are the entities its tracks name (the script stage gives each one a
placeholder track). A hard cut from the previous scene means the action continues, so each entity should
start where the previous scene left it.
"""

from __future__ import annotations

from flowdrafter.core.layout import clamp_box, frame_layout
from flowdrafter.core.storyboard import FrameNote, Keyframe, Scene, Storyboard, Track, TransitionKind

from .ask import Asker, strict
from .checks import SceneContext
from .refine import refine_layout
from .repair import repair_layout
from .schemas import BoxReply, KeyframeReply, LayoutReply, MotionReply, keyframe_frames, layout_problems, layout_schema
from .templates import load


def scene_context(sb: Storyboard, index: int, continues: bool | None = None) -> SceneContext:
    scene = sb.scenes[index]
    names = {e.id: e.name for e in sb.entities}
    prev = sb.scenes[index - 1] if index > 0 else None
    if continues is None:
        continues = prev is not None and prev.transition.kind is TransitionKind.cut
    previous = frame_layout(prev, prev.num_frames - 1) if prev is not None and continues else {}
    entities = {t.entity: names.get(t.entity, t.entity) for t in scene.tracks}
    bg = sb.entity(scene.background) if scene.background else None
    return SceneContext(
        prompt=sb.prompt,
        background=f"{bg.name} {bg.description}" if bg else "",
        scene_id=scene.id,
        event=scene.event,
        num_frames=scene.num_frames,
        camera=scene.camera.motion,
        entities=entities,
        previous={e: b for e, b in previous.items() if e in entities},
        continues=continues and bool(previous),
    )


def plan_layout(asker: Asker, sb: Storyboard, scene_id: str, *, continues: bool | None = None, notes: list[str] | None = None) -> Storyboard:
    """The storyboard with this scene's frames, tracks and background motion planned anew."""
    index = sb.scene_index(scene_id)
    ctx = scene_context(sb, index, continues)
    template = load("layout")
    ids = list(ctx.entities)
    label = f"layout {scene_id}"
    asker.say(f"{label}: scene {index + 1} of {len(sb.scenes)}, {len(ids)} foreground entit{'ies' if len(ids) != 1 else 'y'}")
    previous = "; ".join(f"{e} at [{', '.join(f'{c:.2f}' for c in b)}]" for e, b in ctx.previous.items())
    messages = template.render(
        event=ctx.event,
        camera=ctx.camera.value,
        frames=str(ctx.num_frames),
        keyframes=", ".join(str(f) for f in keyframe_frames(ctx.num_frames)),
        entities=", ".join(f"{e} ({n})" for e, n in ctx.entities.items()) or "none",
        previous=previous or "nothing, this is a new shot",
    )
    schema = layout_schema(ids, ctx.num_frames)
    max_tokens = 200 + 4 * (70 + 45 * max(1, len(ids)))
    validate = strict(LayoutReply, lambda r: layout_problems(r, ids, ctx.num_frames))

    def repair(data: dict) -> LayoutReply:
        return repair_layout(data, ids, ctx.num_frames, ctx.event)

    layout, ask_notes = asker.ask(
        stage="layout", label=label, template=template.version, messages=messages, schema=schema,
        max_tokens=max_tokens, validate=validate, repair=repair,
    )
    layout, refine_notes = refine_layout(
        asker, layout, ctx, label=label, template=template.version, messages=messages, schema=schema,
        max_tokens=max_tokens, validate=validate, repair=repair, rounds=asker.settings.llm_refine_rounds,
    )
    kept = [w for w in sb.scenes[index].warnings if not w.startswith(label + ":")]  # other stages' notes stay
    scene = apply_layout(sb.scenes[index], layout, [*kept, *(notes or []), *ask_notes, *refine_notes])
    scenes = list(sb.scenes)
    scenes[index] = scene
    return sb.model_copy(update={"scenes": scenes})


def layout_of(scene: Scene) -> LayoutReply:
    """A scene's layout as the LLM would have written it (keyframes with their boxes), for the checks."""
    frames = sorted({n.frame for n in scene.frames} | {k.frame for t in scene.tracks for k in t.keyframes}) or [0]
    notes = {n.frame: n.description for n in scene.frames}
    keyframes = []
    for f in frames:
        desc = notes.get(f) or (notes[min(notes, key=lambda n: abs(n - f))] if notes else scene.event)
        boxes = [BoxReply(entity=t.entity, box=list(k.box)) for t in scene.tracks for k in t.keyframes if k.frame == f]
        keyframes.append(KeyframeReply.model_construct(frame=f, description=desc, boxes=boxes))
    motion = MotionReply(dx=scene.background_motion.dx, dy=scene.background_motion.dy)
    return LayoutReply.model_construct(background_motion=motion, keyframes=keyframes)


def apply_layout(scene: Scene, layout: LayoutReply, warnings: list[str]) -> Scene:
    """Write a checked layout into a scene (tracks in the scene's entity order)."""
    order = [t.entity for t in scene.tracks]
    boxes: dict[str, list[Keyframe]] = {}
    for kf in layout.keyframes:
        for b in kf.boxes:
            boxes.setdefault(b.entity, []).append(Keyframe(frame=kf.frame, box=clamp_box(b.box)))
    tracks = [Track(entity=e, keyframes=boxes[e]) for e in order if e in boxes]
    tracks += [t for t in scene.tracks if t.entity not in boxes]  # never lose an entity's track
    data = scene.model_dump()
    data.update(
        frames=[FrameNote(frame=k.frame, description=k.description).model_dump() for k in layout.keyframes],
        tracks=[t.model_dump() for t in tracks],
        background_motion=layout.background_motion.model_dump(),
        warnings=list(dict.fromkeys(warnings)),
    )
    return Scene.model_validate(data)
