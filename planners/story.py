"""Story checks of a script, and their deterministic fixes: the plan must tell the prompt's story.

Like the layout checks (`planners.checks`), each problem is a sentence the LLM gets back in a refinement
round and the person sees as a warning if it survives:

- coverage: every name of the cast is in some scene (as a foreground subject, or the place);
- copies: no scene event or title repeats the whole prompt, no background is a place the story never has;
- order: scene events (and titles) are distinct and follow the prompt's order;
- identity: one name per thing ("fox" and "red fox" are one entity), and no character used as a place.
"""

from __future__ import annotations

from functools import lru_cache

from .checks import Problem
from .schemas import MAX_FOREGROUND, ScriptReply, ScriptScene
from .templates import VERSIONS, load
from .words import DETERMINERS, babbles, clauses, content, head, is_english, likeness, mentions, noun_phrases, repeats, same_thing, story_positions, subjects, words

SAME_EVENT = 0.8  # likeness at which two events (or titles) tell the same moment
ORDER_SLACK = 0.15  # a scene may reach this far back into the prompt (shared words) without breaking order
MIN_EVENT_COPY_WORDS = 6  # a shorter prompt is one moment: a scene may restate it


def story_problems(script: ScriptReply, cast: list[str], prompt: str) -> list[Problem]:
    """Every story problem of a script, in a stable order."""
    return [*_coverage(script, cast), *_copies(script, prompt), *_order(script, prompt), *_identity(script, cast)]


def _names(script: ScriptReply) -> list[str]:
    return [n for s in script.scenes for n in (*s.foreground, s.background)]


def _coverage(script: ScriptReply, cast: list[str]) -> list[Problem]:
    names = _names(script)
    out = [
        Problem("coverage", f'"{c}" is in the story but in no scene; put "{c}" in "foreground" of the scenes where it appears', c)
        for c in cast
        if not any(head(n) == head(c) for n in names)
    ]
    for i, s in enumerate(script.scenes, 1):
        for c in cast:
            if mentions(s.event, c) and not any(head(n) == head(c) for n in (*s.foreground, s.background)):
                out.append(Problem("coverage", f'scene {i}: its event mentions "{c}" but "{c}" is not in its "foreground"', c, scene=str(i)))
    return out


def _copies(script: ScriptReply, prompt: str) -> list[Problem]:
    out = []
    many = len(script.scenes) > 1
    grounded = set(content(prompt))
    for i, s in enumerate(script.scenes, 1):
        if many and repeats(s.event, prompt, MIN_EVENT_COPY_WORDS):
            out.append(Problem("copy", f"scene {i}: its event repeats the whole story; write only the part of the story scene {i} shows", scene=str(i)))
        if repeats(s.title, prompt):
            out.append(Problem("copy", f"scene {i}: its title repeats the whole story; give it a short title of its own", scene=str(i)))
        if babbles(s.event, 2) or babbles(s.title):
            what = "event" if babbles(s.event, 2) else "title"
            out.append(Problem("copy", f"scene {i}: its {what} is not a plain sentence (it repeats itself or has no words); write one", scene=str(i)))
        if repeats(s.background, prompt, 4):
            out.append(Problem("copy", f"scene {i}: its background repeats the whole story; name only the place", scene=str(i)))
        elif s.background and head(s.background) in example_words() and head(s.background) not in grounded | set(content(s.event)):
            out.append(
                Problem("copy", f'scene {i}: its background "{s.background}" comes from an example, not from this story; name the place where scene {i} happens', scene=str(i))
            )
    return out


def _order(script: ScriptReply, prompt: str) -> list[Problem]:
    scenes = script.scenes
    out = []
    for i in range(len(scenes)):
        for j in range(i + 1, len(scenes)):
            if likeness(scenes[i].event, scenes[j].event) >= SAME_EVENT:
                out.append(Problem("order", f"scenes {i + 1} and {j + 1} tell the same moment (\"{scenes[j].event}\"); make each scene a different step of the story", scene=str(j + 1)))
            elif likeness(scenes[i].title, scenes[j].title) >= SAME_EVENT:
                out.append(Problem("order", f"scenes {i + 1} and {j + 1} have nearly the same title; give each scene its own title", scene=str(j + 1)))
    positions = story_positions([s.event for s in scenes], prompt)
    furthest, where = -1.0, 0
    for i, p in enumerate(positions):
        if p is None:
            continue
        if p < furthest - ORDER_SLACK:
            out.append(Problem("order", f"scene {i + 1} (\"{scenes[i].event}\") tells a part of the story that comes before scene {where + 1}; put the scenes in the story's order", scene=str(i + 1)))
        elif p > furthest:
            furthest, where = p, i
    return out


def _identity(script: ScriptReply, cast: list[str]) -> list[Problem]:
    out = []
    names = list(dict.fromkeys(n for s in script.scenes for n in s.foreground))
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if _key(a) != _key(b) and same_thing(a, b) == "same" and not _together(script, a, b):
                keep = max(a, b, key=len)
                out.append(Problem("identity", f'"{a}" and "{b}" name the same {head(a)}; use one name, "{keep}", in every scene', keep))
    actors = names + cast
    for i, s in enumerate(script.scenes, 1):
        if any(same_thing(s.background, n) == "same" for n in actors):
            out.append(Problem("identity", f'scene {i}: its background "{s.background}" is a character or object of the story; name the place instead', scene=str(i)))
    return out


def _key(name: str) -> str:
    """"The Red Fox" and "red fox" are one name written two ways (the entity index merges them anyway)."""
    return " ".join(w for w in words(name) if w not in ("a", "an", "the"))


def _together(script: ScriptReply, a: str, b: str) -> bool:
    """Both names in one scene's foreground: the script says they are two."""
    return any(a in s.foreground and b in s.foreground for s in script.scenes)


# -- fixes ------------------------------------------------------------------------------------------------


def fix_script(script: ScriptReply, cast: list[str], prompt: str, problems: list[Problem]) -> ScriptReply:
    """A script without the story problems that can be fixed without an LLM (one name per thing, places
    as backgrounds, every cast name in a scene, scenes in the story's order, copies replaced by the
    prompt's own steps); what cannot be fixed stays and is reported."""
    kinds = {p.kind for p in problems}
    scenes = list(script.scenes)
    if "identity" in kinds:
        scenes = _one_name_each(scenes, cast, prompt)
    if "copy" in kinds:
        scenes = _grounded_places(scenes, prompt, cast)
    if "order" in kinds:
        scenes = _in_story_order(scenes, prompt)
    if kinds & {"copy", "order"}:
        scenes = _own_steps(scenes, prompt, script.title)
    if "coverage" in kinds:
        scenes = _cover(scenes, cast, prompt)
    return script.model_copy(update={"scenes": scenes})


@lru_cache(maxsize=1)
def example_words() -> frozenset[str]:
    """Words of our prompts' few-shot examples: a small model copies them into plans of other stories."""
    found: set[str] = set()
    for name in VERSIONS:
        messages = load(name).messages
        for role, text in messages[1:-1]:  # the system rules and the final question are not examples
            if "$" not in text:
                found |= set(content(text))
    return frozenset(found)


def _grounded_places(scenes: list[ScriptScene], prompt: str, cast: list[str]) -> list[ScriptScene]:
    """A background copied from an example becomes the prompt's place."""
    place = place_of(prompt, cast) or "background"
    grounded = set(content(prompt))

    def copied(s: ScriptScene) -> bool:
        return repeats(s.background, prompt, 4) or (head(s.background) in example_words() and head(s.background) not in grounded | set(content(s.event)))

    others = [s.background for s in scenes if not copied(s)]
    return [s.model_copy(update={"background": others[0] if others else place}) if copied(s) else s for s in scenes]


def _one_name_each(scenes: list[ScriptScene], cast: list[str], prompt: str) -> list[ScriptScene]:
    names = list(dict.fromkeys(n for s in scenes for n in s.foreground))
    canon: dict[str, str] = {}
    for n in names:
        for m in names:
            if m != n and same_thing(n, m) == "same" and len(m) > len(canon.get(n, n)):
                if not any(n in s.foreground and m in s.foreground for s in scenes):
                    canon[n] = m
    actors = names + cast
    places = [s.background for s in scenes if not any(same_thing(s.background, a) == "same" for a in actors)]
    out = []
    for s in scenes:
        fg = list(dict.fromkeys(canon.get(n, n) for n in s.foreground))
        bg = s.background
        if any(same_thing(bg, a) == "same" for a in actors):
            bg = places[0] if places else place_of(prompt, cast) or "background"
        out.append(s.model_copy(update={"foreground": fg, "background": bg}))
    return out


def _in_story_order(scenes: list[ScriptScene], prompt: str) -> list[ScriptScene]:
    positions = story_positions([s.event for s in scenes], prompt)
    known, last = [], 0.0
    for p in positions:
        last = p if p is not None else last
        known.append(last)
    order = sorted(range(len(scenes)), key=lambda i: (known[i], i))
    out = [scenes[i] for i in order]
    if order != list(range(len(scenes))) and out:
        out[0] = out[0].model_copy(update={"continues": False})
    return out


def _own_steps(scenes: list[ScriptScene], prompt: str, title: str) -> list[ScriptScene]:
    """Events that copy the prompt, or repeat an earlier scene, become the prompt's own steps (when it
    has steps enough); repeated titles are rebuilt from the event."""
    steps = clauses(prompt)
    n = len(scenes)
    out: list[ScriptScene] = []
    for i, s in enumerate(scenes):
        event, name = s.event, s.title
        copied = (n > 1 and repeats(event, prompt, MIN_EVENT_COPY_WORDS)) or babbles(event, 2)
        repeated = any(likeness(event, o.event) >= SAME_EVENT for o in out)
        if (copied or repeated) and (len(steps) > 1 or babbles(event, 2)):
            at = min(i * len(steps) // n, len(steps) - 1)
            for k in [*range(at, len(steps)), *range(at)]:  # this scene's step, else the next one not told yet
                step = _with_subject(steps[k], prompt)
                if not any(likeness(step, o.event) >= SAME_EVENT for o in out):
                    event = step
                    break
            else:
                if copied:  # every step is told: telling one twice still beats retelling the whole story
                    event = _with_subject(steps[at], prompt)
        if repeats(name, prompt) or babbles(name) or any(likeness(name, o.title) >= SAME_EVENT for o in out) or name == title and i:
            name = _title_from(event) or name
        out.append(s.model_copy(update={"event": event, "title": name}))
    return out


def _with_subject(step: str, prompt: str) -> str:
    """"climbs a flower" -> "the insect climbs a flower": a step cut from the prompt keeps its subject."""
    subs = subjects(prompt)
    phrases = noun_phrases(step)
    first = words(step)[:1]
    if not subs or (first and first[0] in DETERMINERS) or (phrases and phrases[0].start == 0 and phrases[0].subject):
        return step  # it opens with its own subject: "a rider on...", "the horse drinks", "cars drive"
    return f"the {subs[0]} {step}"


def _title_from(event: str) -> str:
    return " ".join(content(event)[:3]).capitalize()


def _cover(scenes: list[ScriptScene], cast: list[str], prompt: str) -> list[ScriptScene]:
    """Put each missing cast name into the scenes whose event mentions it, else into the scene at its
    place in the story."""
    scenes = list(scenes)
    positions = story_positions([s.event for s in scenes], prompt)
    pw = content(prompt)
    for c in cast:
        targets = [i for i, s in enumerate(scenes) if mentions(s.event, c) and not any(head(n) == head(c) for n in (*s.foreground, s.background))]
        if not targets and not any(head(n) == head(c) for s in scenes for n in (*s.foreground, s.background)):
            at = pw.index(head(c)) / max(len(pw) - 1, 1) if head(c) in pw else 0.0
            known = [(abs(p - at), i) for i, p in enumerate(positions) if p is not None]
            targets = [min(known)[1] if known else 0]
        for i in targets:
            fg = list(dict.fromkeys(scenes[i].foreground))
            fg = fg if len(fg) < MAX_FOREGROUND else fg[: MAX_FOREGROUND - 1]  # the cast comes before extras
            scenes[i] = scenes[i].model_copy(update={"foreground": [*fg, c]})
    return scenes


def place_of(prompt: str, cast: list[str] = ()) -> str | None:
    """The prompt's last place phrase ("through a garden" -> "garden"), else its first noun phrase that is
    nobody of the cast ("crosses a garden"), for a background that needs one."""
    phrases = noun_phrases(prompt)
    places = [p.text for p in phrases if p.place]
    others = [p.text for p in phrases if not p.subject and not any(same_thing(p.text, c) != "different" for c in cast)]
    return places[-1] if places else others[0] if others else None
