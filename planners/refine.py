"""Self-refinement (FlowZero), for any stage: the checks' problems go back to the LLM for up to K rounds;
whatever is left is fixed deterministically and reported as warnings the editor shows with the scene.

The script (story checks), the entity descriptions (copies) and each scene's layout (geometry, motion,
copies) all go through `refine`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from flowdrafter.core.errors import PlanningError

from .ask import Asker
from .checks import Problem, SceneContext, check_layout
from .fixes import fix_layout
from .schemas import LayoutReply
from .templates import load

R = TypeVar("R", bound=BaseModel)


def refine(
    asker: Asker,
    reply: R,
    *,
    check: Callable[[R], list[Problem]],
    fix: Callable[[R, list[Problem]], R],
    label: str,
    template: str,
    messages: list[dict[str, str]],
    schema: dict[str, Any],
    max_tokens: int,
    validate: Callable[[dict[str, Any]], R],
    repair: Callable[[dict[str, Any]], R],
    rounds: int,
    stage: str = "refine",
) -> tuple[R, list[str]]:
    """(reply without problems, warnings). The LLM's revision is kept only if it has fewer problems."""
    notes: list[str] = []
    problems = check(reply)
    turn_template = load("refine")
    for r in range(1, rounds + 1):
        if not problems:
            break
        asker.say(f"{label}: {len(problems)} problem{'s' if len(problems) > 1 else ''} found, refining (round {r} of {rounds})")
        turn = [
            *messages,
            {"role": "assistant", "content": json.dumps(reply.model_dump(), allow_nan=True)},
            *turn_template.render(problems="\n".join(f"- {p.message}" for p in problems)),
        ]
        try:
            revised, revise_notes = asker.ask(
                stage=stage,
                label=f"{label} refine {r}",
                template=f"{template}|{turn_template.version}",
                messages=turn,
                schema=schema,
                max_tokens=max_tokens,
                validate=validate,
                repair=repair,
            )
        except PlanningError as err:
            notes.append(f"{label}: refinement round {r} failed: {err}")
            break
        revised_problems = check(revised)
        if revised == reply or len(revised_problems) > len(problems):
            break  # no progress; asking the same question again would get the same answer
        reply, problems = revised, revised_problems
        notes += revise_notes
    if not problems:
        return reply, notes
    fixed = fix(reply, problems)
    left = check(fixed)
    notes += [f"{label}: fixed automatically: {p.message}" for p in problems if not _same(p, left)]
    notes += [f"{label}: unresolved: {p.message}" for p in left]
    return fixed, notes


def refine_layout(asker: Asker, layout: LayoutReply, ctx: SceneContext, **kw: Any) -> tuple[LayoutReply, list[str]]:
    return refine(asker, layout, check=lambda r: check_layout(r, ctx), fix=lambda r, p: fix_layout(r, ctx, p), **kw)


def _same(p: Problem, left: list[Problem]) -> bool:
    return any(q.kind == p.kind and q.entity == p.entity and q.scene == p.scene for q in left)
