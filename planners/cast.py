"""Cast stage: the characters and objects of the story, before any scene is written.

A cheap first question: which of the prompt's noun phrases act? The reply is constrained to the prompt's
own words (an enum of its noun phrases), so the LLM cannot bring in a "butterfly" the story never had, and
it is checked without the LLM: places ("through a garden") are dropped unless the prompt makes them act,
and the subjects the prompt's grammar shows ("an insect crosses...") are added if the LLM forgot them.
The cast then bounds the script's foreground names and is what the coverage check verifies.
"""

from __future__ import annotations

from flowdrafter.core.errors import PlanningError

from .ask import Asker, strict
from .repair import repair_cast
from .schemas import MAX_CAST, CastReply, cast_schema
from .story import example_words
from .templates import load
from .words import candidate_names, head, is_english, noun_phrases, one_per_thing, same_thing, subjects


def find_cast(asker: Asker, prompt: str) -> tuple[list[str], list[str]]:
    """(cast names, notes). The prompt's subjects come first; an LLM failure leaves just those."""
    english = is_english(prompt)
    candidates = candidate_names(prompt)
    template = load("cast")
    asker.say("cast: finding the characters and objects of the story")
    try:
        reply, notes = asker.ask(
            stage="cast",
            label="cast",
            template=template.version,
            messages=template.render(prompt=prompt),
            schema=cast_schema(candidates, english),
            max_tokens=30 + 24 * MAX_CAST,
            validate=strict(CastReply, lambda r: cast_problems(r, candidates)),
            repair=lambda data: repair_cast(data, candidates),
        )
    except PlanningError as err:
        reply, notes = CastReply.model_construct(cast=[]), [f"cast: the LLM gave no usable cast ({err})"]
    return verify_cast(prompt, [(m.words, m.name) for m in reply.cast]), notes


def cast_problems(reply: CastReply, candidates: list[str]) -> list[str]:
    if not candidates:
        return []
    return [f"cast: '{m.words}' is not a noun phrase of the story" for m in reply.cast if m.words.lower() not in candidates]


def verify_cast(prompt: str, picked: list[tuple[str, str]]) -> list[str]:
    """The cast, checked against the prompt's words: picks that are places are dropped (unless the prompt
    makes them act), the prompt's own subjects are added, names of one thing are merged (the longest wins)."""
    subs = subjects(prompt)
    places = {p.text for p in noun_phrases(prompt) if p.place and not p.subject} if is_english(prompt) else set()
    names: list[str] = list(subs)
    for words, name in picked:
        if words in places or any(same_thing(words, s) != "different" for s in subs):
            continue
        english_name = name if name.strip() and head(name) not in example_words() else words  # not an example's "frog"
        names.append(words if is_english(prompt) else english_name)
    return [n for n in one_per_thing(names) if head(n)][:MAX_CAST]
