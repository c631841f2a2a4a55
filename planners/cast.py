"""Cast stage: the characters and objects of the story, before any scene is written.

A cheap first question: which of the prompt's noun phrases act? The reply is constrained to the prompt's
own words (an enum of its noun phrases), so the LLM cannot bring in a "butterfly" the story never had, and
it is checked without the LLM: places ("through a garden") are dropped unless the prompt makes them act,
and the subjects the prompt's grammar shows ("an insect crosses...") are added if the LLM forgot them.
The cast then bounds the script's foreground names and is what the coverage check verifies.
"""

from __future__ import annotations

from difflib import SequenceMatcher

from flowdrafter.core.errors import PlanningError

from .ask import Asker, strict
from .repair import repair_cast
from .schemas import MAX_CAST, CastReply, cast_schema
from .story import example_words
from .templates import load
from .words import candidate_names, head, is_english, language, noun_phrases, one_per_thing, same_thing, subjects, words


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
    makes them act), the prompt's own subjects are added, names of one thing are merged (the longest wins).

    For a prompt in another language the LLM picks the prompt's words and gives an English name; the name
    is kept unless it is one of our examples' names (a small model copies "frog") or no name at all, and
    then the prompt's own noun stands ("chat", "Fisch"): a subject is never lost to a bad translation."""
    english = is_english(prompt)
    subs = subjects(prompt)
    places = {head(p.text) for p in noun_phrases(prompt) if p.place and not p.subject} if language(prompt) else set()
    names: list[str] = list(subs)
    for said, name in picked:
        if head(said) in places and not any(same_thing(said, s) != "different" for s in subs):
            continue  # "mountain" of "across a snowy mountain" is a place, whichever of its words were picked
        if english:
            if not any(same_thing(said, s) != "different" for s in subs):
                names.append(said)
            continue
        native = next((k for k, s in enumerate(subs) if s in words(said)), None)  # "chat noir" names the subject "chat"
        chosen = name if _translation(name, said, prompt) else said

        if native is None:
            names.append(chosen)
        elif names[native] == subs[native]:
            names[native] = chosen
    return [n for n in one_per_thing(names) if head(n)][:MAX_CAST]


def _translation(name: str, said: str, prompt: str) -> bool:
    """Could `name` be the English for the prompt's words `said`? A few plain words, not more of the
    prompt ("un chat noir saute sur le toit" is a clause, not a name), and not a name from our examples,
    unless it looks like the prompt's word itself ("boat" for "Boot", never "frog" for "chat")."""
    ws = words(name)
    if not ws or len(ws) > 3 or not all(w.isalpha() for w in ws):
        return False
    if (set(ws) - set(words(said))) & set(words(prompt)):
        return False
    return head(name) not in example_words() or any(SequenceMatcher(None, head(name), w).ratio() >= 0.5 for w in words(said))
