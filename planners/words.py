"""Words of a story, read without a model: noun phrases, head nouns, copies, likeness and story order.

The plan-quality checks must not trust the LLM that wrote the plan, so everything they know about the
prompt comes from here: small, predictable rules over English function words (articles, prepositions,
conjunctions), good enough to find the subjects of a one- or two-sentence story ("an insect crosses a
garden" -> "insect"), to tell that "fox" and "red fox" name one thing, and to see that a description is
the whole prompt again. Prompts in other languages get only the language-neutral parts (copies, likeness).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

_TOKEN = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*|[.,;:!?]")

DETERMINERS = frozenset(
    "a an the one two three four five six some several many few every each another his her its their my our your "
    "this that these those".split()
)
PREPOSITIONS = frozenset(
    "in on at into onto through across over under along around inside near above below behind beside between "
    "toward towards past beneath among from to of with by for against beyond upon off out up down via without "
    "within throughout like after before during until".split()
)
CONJUNCTIONS = frozenset("and or but then while as when where who which that so because until once nor yet".split())
PRONOUNS = frozenset("it he she they them him her its their his itself himself herself themselves we us you i me".split())
AUXILIARIES = frozenset("is are was were be been being has have had do does did will would can could may might".split())
ADVERBS = frozenset(
    "away asleep awake back fast together again home here there high low far alone slowly quickly gently suddenly "
    "finally then now soon still very too also just".split()
)
STOPWORDS = DETERMINERS | PREPOSITIONS | CONJUNCTIONS | PRONOUNS | AUXILIARIES | ADVERBS | {"not", "no", "all", "both"}
FILM_WORDS = frozenset(  # never a character: the film itself and directions
    "camera viewer shot scene video frame screen story left right top bottom middle side center centre distance "
    "foreground background front".split()
)
PLACE_PREPOSITIONS = frozenset("in at into through across over along around inside under beneath near towards toward".split())
_BECOMES = frozenset("becomes become turns changes transforms grows".split())
CLAUSE_STARTS = frozenset({".", ";", ":", "!", "?", "then", "while", "as", "when", "and"})

# function words of a few other languages: their presence (and no English ones) marks a prompt as not English
_FOREIGN = frozenset(
    "le la les un une des du et sur dans puis est der die das und ein eine ist auf el los las y en una con il lo gli "
    "di che è o och på är".split()
)
_ENGLISH = frozenset("the and of with then from over into through across while his her its their is are an".split())

_IRREGULAR = {"men": "man", "women": "woman", "children": "child", "mice": "mouse", "geese": "goose", "feet": "foot",
              "teeth": "tooth", "people": "person", "oxen": "ox", "leaves": "leaf", "wolves": "wolf", "knives": "knife",
              "wives": "wife", "lives": "life", "calves": "calf", "halves": "half", "shelves": "shelf", "sheep": "sheep",
              "fish": "fish", "deer": "deer"}


def tokens(text: str) -> list[str]:
    """Lower-case words and sentence punctuation, in order."""
    return _TOKEN.findall(text.lower().replace("’", "'"))


def words(text: str) -> list[str]:
    return [t for t in tokens(text) if t[0].isalnum()]


def singular(word: str) -> str:
    """"foxes" -> "fox", "ponies" -> "pony", "horses" -> "horse"; other words as they are."""
    w = word.lower()
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    if w.endswith("'s"):
        w = w[:-2]
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and re.search(r"(?:ss|sh|ch|x|z)es$", w):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is", "ous")):
        return w[:-1]
    return w


def is_english(text: str) -> bool:
    ws = set(words(text))
    return bool(ws & _ENGLISH) or not ws & _FOREIGN


def content(text: str) -> list[str]:
    """The words that carry meaning, singular: "the foxes ran into a forest" -> [fox, ran, forest]."""
    return [singular(w) for w in words(text) if w not in STOPWORDS]


# -- names: head noun and modifiers ------------------------------------------------------------------------


def _name_words(name: str) -> list[str]:
    ws = [w for w in words(name) if w not in DETERMINERS]
    for i, w in enumerate(ws):
        if i and w in PREPOSITIONS:  # "meadow at sunrise": the head comes before the preposition
            return ws[:i] + [f"@{x}" for x in ws[i + 1 :] if x not in STOPWORDS]
    return ws


def head(name: str) -> str:
    """The noun a name is about: "the old red fox" -> "fox", "meadow at sunrise" -> "meadow"."""
    ws = [w for w in _name_words(name) if not w.startswith("@")]
    return singular(ws[-1]) if ws else ""


def modifiers(name: str) -> frozenset[str]:
    ws = _name_words(name)
    core = [w for w in ws if not w.startswith("@")]
    return frozenset(singular(w.lstrip("@")) for w in core[:-1] + [w for w in ws if w.startswith("@")] if w not in STOPWORDS)


Identity = str  # "same" | "different" | "unsure"


def same_thing(a: str, b: str) -> Identity:
    """Do two names mean one entity? Same head noun and one's modifiers contain the other's ("fox", "red
    fox"): same. Different heads: different. Same head with modifiers that differ ("red fox", "grey fox"):
    unsure, only the story can tell (the caller asks, or the script already shows both in one scene)."""
    ha, hb = head(a), head(b)
    if not ha.isalpha() or ha != hb:  # "1.5s" and "2.5s" are no names to merge
        return "different"
    ma, mb = modifiers(a), modifiers(b)
    return "same" if ma <= mb or mb <= ma else "unsure"


def mentions(text: str, name: str) -> bool:
    """The text names the thing: its head noun appears (in any number)."""
    h = head(name)
    return bool(h) and h in {singular(w) for w in words(text)}


# -- noun phrases of a prompt -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phrase:
    text: str
    start: int  # index of its first word among the prompt's tokens
    subject: bool  # opens a clause, or is what something becomes: the prompt says it acts
    place: bool = False  # comes after "in", "through", "across"...: where things happen


def _stop(tok: str, prev: str | None) -> bool:
    """A word that ends a noun phrase: punctuation, function words, "-ly" adverbs (not "a butterfly")."""
    if not tok[0].isalnum() or tok in STOPWORDS:
        return True
    return tok.endswith("ly") and not tok.endswith("fly") and len(tok) > 5 and prev not in DETERMINERS


def _verb_like(word: str, before: str | None) -> bool:
    """A word ending a run of nouns that is probably the verb: "insect crosses", "dogs play", "leaf fell"."""
    if word.endswith(("ed", "ing")) and len(word) > 4:
        return True
    if word.endswith("s") and not word.endswith(("ss", "us", "is", "ous")):
        return True
    return bool(before and before.endswith("s") and not before.endswith("ss"))


def noun_phrases(text: str) -> list[Phrase]:
    """Candidate noun phrases in order: runs of non-function words, with a trailing verb split off.

    Runs right after "then"/"and"/"," with no article are verb phrases with an implied subject ("then
    climbs a flower", "and falls asleep") and are skipped.
    """
    toks = tokens(text)
    out: list[Phrase] = []
    i = 0
    while i < len(toks):
        prev = toks[i - 1] if i else None
        if _stop(toks[i], prev):
            i += 1
            continue
        j = i
        while j < len(toks) and not _stop(toks[j], toks[j - 1] if j else None):
            j += 1
        run = toks[i:j]
        nxt = toks[j] if j < len(toks) else None
        # "a knight and a dragon fight": after "X and a", a plural verb has no -s
        coordinated = i >= 2 and toks[i - 2] == "and" and prev in DETERMINERS and bool(out) and out[-1].subject is False and out[-1].start <= 1
        ends = nxt is None or nxt in STOPWORDS or not nxt[0].isalnum()
        if len(run) >= 2 and ends and (coordinated or _verb_like(run[-1], run[-2])):
            run = run[:-1]
            verb = True
        else:
            verb = False
        implied = prev in CONJUNCTIONS or prev == ","
        if prev is not None and implied and not verb:
            i = j  # "then climbs", "and falls asleep": a verb phrase
            continue
        clause_start = prev is None or prev in CLAUSE_STARTS or prev == ","
        det_start = prev in DETERMINERS and (i < 2 or toks[i - 2] is None or toks[i - 2] in CLAUSE_STARTS or toks[i - 2] == ",")
        back = [t for t in toks[max(0, i - 3) : i] if t not in DETERMINERS]
        becomes = bool(back) and (back[-1] in _BECOMES or (back[-1] == "into" and len(back) > 1 and back[-2] in _BECOMES))
        place = bool(back) and back[-1] in PLACE_PREPOSITIONS and not becomes
        run = [w for w in run if w not in FILM_WORDS] if run[-1] in FILM_WORDS else run
        if run:
            out.append(Phrase(" ".join(run), i, (verb and (clause_start or det_start or i == 1 or coordinated)) or becomes, place))
        i = j
    return out


def subjects(text: str) -> list[str]:
    """The phrases the story says act: clause subjects ("an insect crosses", "then the horse drinks"),
    and the phrase opening the prompt. English only; [] for other languages."""
    if not is_english(text):
        return []
    phrases = noun_phrases(text)
    found = [p.text for p in phrases if p.subject]
    if phrases and phrases[0].start <= 1:
        found.insert(0, phrases[0].text)
    return one_per_thing(found)


def one_per_thing(names: list[str]) -> list[str]:
    """One name per thing, the longest ("red fox" over "fox"), in first-seen order."""
    out: list[str] = []
    for n in names:
        k = next((i for i, o in enumerate(out) if same_thing(o, n) == "same"), None)
        if k is None:
            out.append(n)
        elif len(n) > len(out[k]):
            out[k] = n
    return out


def candidate_names(text: str, limit: int = 300) -> list[str]:
    """Every name the cast may use, all spans of the prompt: its noun phrases and their shorter tails
    ("red fox" -> also "fox"); any language (for other languages, runs of words without punctuation)."""
    names: list[str] = []
    if is_english(text):
        for p in noun_phrases(text):
            ws = p.text.split()
            names += [" ".join(ws[k:]) for k in range(len(ws)) if len(ws) - k <= 3]
    else:
        ws = [t for t in tokens(text) if t[0].isalnum() and t not in _FOREIGN]
        for n in (1, 2, 3):
            names += [" ".join(ws[i : i + n]) for i in range(len(ws) - n + 1)]
    return list(dict.fromkeys(n for n in names if n))[:limit]


# -- copies, likeness, order -------------------------------------------------------------------------------

COPY_SHARE = 0.8  # a text holding this share of the prompt's words, in order, repeats the prompt
MIN_COPY_WORDS = 5  # shorter prompts cannot be told apart from a plain restatement


def repeats(text: str, prompt: str, min_words: int = MIN_COPY_WORDS) -> bool:
    """The text repeats the whole prompt: most of its words, in the prompt's order."""
    p = [w for w in words(prompt) if w not in DETERMINERS]
    if len(p) < min_words:
        return False
    t = [w for w in words(text) if w not in DETERMINERS]
    matched = sum(b.size for b in SequenceMatcher(None, p, t, autojunk=False).get_matching_blocks())
    return matched >= COPY_SHARE * len(p)


def babbles(text: str, min_words: int = 1) -> bool:
    """The text goes round in circles ("frog over frog over frog over...") or says nothing ("1.5s"): a
    small model's failures."""
    ws = words(text)
    return (len(ws) >= 8 and len(set(ws)) < 0.4 * len(ws)) or sum(w.isalpha() for w in ws) < min_words


def likeness(a: str, b: str) -> float:
    """0..1: how alike two sentences are, word by word (articles ignored)."""
    wa = [w for w in words(a) if w not in DETERMINERS]
    wb = [w for w in words(b) if w not in DETERMINERS]
    if not wa and not wb:
        return 1.0
    return SequenceMatcher(None, wa, wb, autojunk=False).ratio()


def story_positions(texts: list[str], prompt: str) -> list[float | None]:
    """Where in the prompt each text's own words come from (0..1), or None when it shares none.

    Words used by every text (the main character's name) say nothing about order and are ignored, and
    so are words the prompt uses more than once.
    """
    pw = content(prompt)
    once = {w: i for i, w in enumerate(pw) if pw.count(w) == 1}
    sets = [set(content(t)) for t in texts]
    common = set.intersection(*sets) if len(sets) > 1 else set()
    out: list[float | None] = []
    for s in sets:
        hits = sorted(once[w] for w in s - common if w in once)
        out.append(hits[len(hits) // 2] / max(len(pw) - 1, 1) if hits else None)
    return out


_THEN = r"then|after that|puis|ensuite|dann|danach|luego|después|poi|depois"
_DETERMINER_ALT = "|".join(sorted(DETERMINERS))


def clauses(prompt: str) -> list[str]:
    """The prompt cut into its steps: at sentence ends, semicolons, "then" (and its French, German,
    Spanish, Italian, Portuguese words), and "and" before a verb ("melts and turns", not "a fox and a hare")."""
    parts = re.split(
        rf"(?:[.;!?]+\s+|,?\s+(?:and\s+)?(?:{_THEN})\s+|,?\s+and\s+(?!(?:{_DETERMINER_ALT})\b)(?=\w+s\b))",
        prompt.strip(),
        flags=re.I,
    )
    return [p.strip(" ,.;") for p in parts if p.strip(" ,.;")]
