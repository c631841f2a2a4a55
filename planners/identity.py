"""Entity identity: one entity per thing, whatever the script called it.

Names with the same head noun where one's modifiers contain the other's ("fox", "red fox", "foxes") are
one entity, unless one scene shows both (then the script says they are two). Same head noun with other
modifiers ("red fox", "grey fox") is unsure: the LLM is asked, in one short yes/no question, whether the
story means one thing. The longest name wins, as it says the most.
"""

from __future__ import annotations

from pydantic import BaseModel

from flowdrafter.core.errors import PlanningError

from .ask import Asker, strict
from .schemas import ScriptReply
from .templates import load
from .words import same_thing


class SameReply(BaseModel):
    same: bool


SAME_SCHEMA = {"type": "object", "properties": {"same": {"type": "boolean"}}, "required": ["same"], "additionalProperties": False}


def resolve_names(script: ScriptReply, asker: Asker | None, prompt: str) -> tuple[ScriptReply, list[str]]:
    """The script with every name of one thing replaced by one name; notes say what was merged."""
    notes: list[str] = []
    fg = list(dict.fromkeys(n for s in script.scenes for n in s.foreground))
    bg = list(dict.fromkeys(s.background for s in script.scenes))
    canon: dict[str, str] = {}
    for names, together in ((fg, _together(script)), (bg, set())):
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                a_, b_ = canon.get(a, a), canon.get(b, b)
                if a_ == b_ or frozenset((a, b)) in together:
                    continue
                verdict = same_thing(a, b)
                if verdict == "unsure" and asker is not None:
                    verdict = "same" if confirm_same(asker, prompt, a, b) else "different"
                if verdict == "same":
                    keep = max(a_, b_, key=len)
                    for k, v in list(canon.items()) + [(a, a_), (b, b_)]:
                        if v in (a_, b_):
                            canon[k] = keep
                    notes.append(f'script: "{a}" and "{b}" are one entity, "{keep}"')
    if not any(canon.get(n, n) != n for n in fg + bg):
        return script, []
    scenes = [
        s.model_copy(update={"foreground": list(dict.fromkeys(canon.get(n, n) for n in s.foreground)), "background": canon.get(s.background, s.background)})
        for s in script.scenes
    ]
    return script.model_copy(update={"scenes": scenes}), notes


def _together(script: ScriptReply) -> set[frozenset[str]]:
    return {frozenset((a, b)) for s in script.scenes for a in s.foreground for b in s.foreground if a != b}


def confirm_same(asker: Asker, prompt: str, a: str, b: str) -> bool:
    """Ask the LLM whether two names mean one thing in this story; no usable answer keeps them apart."""
    template = load("identity")
    try:
        reply, _ = asker.ask(
            stage="identity",
            label=f"identity {a} / {b}",
            template=template.version,
            messages=template.render(prompt=prompt, a=a, b=b),
            schema=SAME_SCHEMA,
            max_tokens=12,
            validate=strict(SameReply),
            repair=lambda data: SameReply(same=data.get("same") is True),
        )
    except PlanningError:
        return False
    return reply.same
