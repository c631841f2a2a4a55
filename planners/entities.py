"""Entities stage: one enriched visual description per entity (appearance, colours, materials, lighting),
written once for the whole storyboard so reference images and scenes stay consistent.
"""

from __future__ import annotations

from flowdrafter.core.storyboard import Storyboard

from .ask import Asker, strict
from .repair import repair_entities
from .schemas import EntitiesReply, entities_problems, entities_schema
from .templates import load


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
    reply, notes = asker.ask(
        stage="entities",
        label=label,
        template=template.version,
        messages=template.render(prompt=sb.prompt or sb.title, style=sb.style or "not given", entities="\n".join(lines)),
        schema=entities_schema(list(names)),
        max_tokens=80 + 140 * len(wanted),
        validate=strict(EntitiesReply, lambda r: entities_problems(r, list(names))),
        repair=lambda data: repair_entities(data, names),
    )
    text = {e.id: e.description for e in reply.entities}
    entities = [e.model_copy(update={"description": text[e.id]}) if e.id in text else e for e in sb.entities]
    return sb.model_copy(update={"entities": entities}), notes
