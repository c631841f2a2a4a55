"""Entities stage: one enriched visual description per entity (appearance, colours, materials, lighting),
written once for the whole storyboard so reference images and scenes stay consistent.
"""

from __future__ import annotations

from flowdrafter.core.storyboard import Storyboard

from .ask import Asker, strict
from .checks import Problem
from .refine import refine
from .repair import repair_entities
from .schemas import EntitiesReply, EntityText, entities_problems, entities_schema
from .templates import load
from .words import repeats


def entity_events(sb: Storyboard, entity_id: str, limit: int = 2) -> list[str]:
    """The events of the scenes an entity appears in (as a tracked subject or as the background)."""
    return [s.event for s in sb.scenes if s.background == entity_id or s.track(entity_id)][:limit]


def describe_entities(asker: Asker, sb: Storyboard, ids: list[str] | None = None) -> tuple[Storyboard, list[str]]:
    """The storyboard with new descriptions for `ids` (default: every entity); others are untouched."""
    wanted = [e for e in sb.entities if ids is None or e.id in ids]
    if not wanted:
        return sb, []
    template = load("entities")
    lines = [
        f'- {e.id} ({e.kind.value}) "{e.name}": ' + (" / ".join(entity_events(sb, e.id)) or "not in any scene yet")
        for e in wanted
    ]
    names = {e.id: e.name for e in wanted}
    label = "entities" if ids is None else f"entities {', '.join(names)}"
    asker.say(f"{label}: describing {len(wanted)} entit{'ies' if len(wanted) != 1 else 'y'}")
    story = sb.prompt or sb.title
    kw = dict(
        template=template.version,
        messages=template.render(prompt=story, style=sb.style or "not given", entities="\n".join(lines)),
        schema=entities_schema(list(names)),
        max_tokens=80 + 140 * len(wanted),
        validate=strict(EntitiesReply, lambda r: entities_problems(r, list(names))),
        repair=lambda data: repair_entities(data, names),
    )
    reply, notes = asker.ask(stage="entities", label=label, **kw)
    reply, more = refine(
        asker, reply, check=lambda r: description_problems(r, names, story), fix=lambda r, p: fix_descriptions(r, names, story),
        label=label, rounds=asker.settings.llm_refine_rounds, stage="entities", **kw,
    )
    notes += more
    text = {e.id: e.description for e in reply.entities}
    entities = [e.model_copy(update={"description": text[e.id]}) if e.id in text else e for e in sb.entities]
    return sb.model_copy(update={"entities": entities}), notes


def description_problems(reply: EntitiesReply, names: dict[str, str], story: str) -> list[Problem]:
    """A description that repeats the whole story says what happens, not how the thing looks."""
    return [
        Problem("copy", f"{e.id}: its description repeats the whole story; describe only how the {names.get(e.id, e.id)} looks", e.id)
        for e in reply.entities
        if repeats(e.description, story)
    ]


def fix_descriptions(reply: EntitiesReply, names: dict[str, str], story: str) -> EntitiesReply:
    """A copied story becomes the entity's name: plain, but it draws the right thing."""
    return EntitiesReply(entities=[EntityText(id=e.id, description=names.get(e.id, e.id)) if repeats(e.description, story) else e for e in reply.entities])
