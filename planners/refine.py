"""Self-refinement (FlowZero): the checks' problems go back to the LLM for up to K rounds; whatever is
left is fixed deterministically and reported as warnings the editor shows with the scene.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flowdrafter.core.errors import PlanningError

from .ask import Asker
from .checks import Problem, SceneContext, check_layout
from .fixes import fix_layout
from .schemas import LayoutReply
from .templates import load


def refine_layout(
    asker: Asker,
    layout: LayoutReply,
    ctx: SceneContext,
    *,
    label: str,
    template: str,
    messages: list[dict[str, str]],
    schema: dict[str, Any],
    max_tokens: int,
    validate: Callable[[dict[str, Any]], LayoutReply],
    repair: Callable[[dict[str, Any]], LayoutReply],
    rounds: int,
) -> tuple[LayoutReply, list[str]]:
    """(layout without problems, warnings). The LLM's revision is kept only if it has fewer problems."""
    notes: list[str] = []
    problems = check_layout(layout, ctx)
    refine = load("refine")
    for r in range(1, rounds + 1):
        if not problems:
            break
        asker.say(f"{label}: {len(problems)} problem{'s' if len(problems) > 1 else ''} found, refining (round {r} of {rounds})")
        turn = [
            *messages,
            {"role": "assistant", "content": json.dumps(layout.model_dump(), allow_nan=True)},
            *refine.render(problems="\n".join(f"- {p.message}" for p in problems)),
        ]
        try:
            revised, revise_notes = asker.ask(
                stage="refine",
                label=f"{label} refine {r}",
                template=f"{template}|{refine.version}",
                messages=turn,
                schema=schema,
                max_tokens=max_tokens,
                validate=validate,
                repair=repair,
            )
        except PlanningError as err:
            notes.append(f"{label}: refinement round {r} failed: {err}")
            break
        revised_problems = check_layout(revised, ctx)
        if len(revised_problems) > len(problems):
            break  # no progress; asking the same question again would get the same answer
        layout, problems = revised, revised_problems
        notes += revise_notes
    if not problems:
        return layout, notes
    fixed = fix_layout(layout, ctx, problems)
    left = check_layout(fixed, ctx)
    notes += [f"{label}: fixed automatically: {p.message}" for p in problems if not _same(p, left)]
    notes += [f"{label}: unresolved: {p.message}" for p in left]
    return fixed, notes


def _same(p: Problem, left: list[Problem]) -> bool:
    return any(q.kind == p.kind and q.entity == p.entity for q in left)
