"""The plan-quality checks, one by one, with hand-written scripts that pass and that fail: each problem is
said in words the LLM (and the person in the editor) can act on, and the deterministic fix removes it."""

from __future__ import annotations

import pytest

from flowdrafter.planners.cast import verify_cast
from flowdrafter.planners.identity import resolve_names
from flowdrafter.planners.schemas import ScriptReply
from flowdrafter.planners.story import fix_script, story_problems
from flowdrafter.planners.words import candidate_names, likeness, repeats, same_thing, subjects

INSECT = "an insect crosses a garden from left to right, then climbs a flower"
RIDER = "a rider on a brown horse gallops across a beach at sunset, then the horse drinks from the sea"


def script(*scenes: tuple[str, list[str], str], title: str = "A story") -> ScriptReply:
    return ScriptReply.model_validate({"title": title, "style": "", "scenes": [
        {"title": f"Part {i}" if len(s) < 4 else s[3], "event": s[0], "foreground": s[1], "background": s[2],
         "camera": "static", "duration": 2, "continues": False}
        for i, s in enumerate(scenes, 1)
    ]})


def kinds(problems) -> list[str]:
    return [p.kind for p in problems]


def fixed_ok(s: ScriptReply, cast: list[str], prompt: str, kind: str) -> ScriptReply:
    problems = story_problems(s, cast, prompt)
    assert kind in kinds(problems), problems
    fixed = fix_script(s, cast, prompt, problems)
    assert kind not in kinds(story_problems(fixed, cast, prompt)), story_problems(fixed, cast, prompt)
    return fixed


# -- the prompt's words --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("prompt", "expected"), [
    (INSECT, ["insect"]),
    (RIDER, ["rider", "horse"]),
    ("a busy city at night: cars drive along a bridge while fireworks rise over the river", ["busy city", "cars", "fireworks"]),
    ("a caterpillar becomes a butterfly and flies over a meadow", ["caterpillar", "butterfly"]),
    ("a knight and a dragon fight on a castle wall", ["knight", "dragon"]),
    ("the camera pans across a snowy mountain as an eagle soars", ["eagle"]),
    ("un chat noir saute sur le toit puis regarde la lune", []),  # not English: the LLM's cast alone
])
def test_subjects_come_from_the_prompts_grammar(prompt, expected):
    assert subjects(prompt) == expected


def test_one_thing_many_names():
    assert same_thing("fox", "the red fox") == "same" and same_thing("foxes", "fox") == "same"
    assert same_thing("red fox", "grey fox") == "unsure"  # only the story can tell
    assert same_thing("meadow at sunrise", "meadow") == "same" and same_thing("fox", "hare") == "different"


def test_copies_and_likeness():
    assert repeats("An insect crosses the garden from left to right, then it climbs a flower.", INSECT)
    assert not repeats("the insect climbs a tall flower", INSECT)
    assert not repeats("a fox", "a fox")  # a prompt this short cannot be told from a plain restatement
    assert likeness("the insect crosses the garden", "an insect crosses a garden") == 1.0


# -- cast ---------------------------------------------------------------------------------------------------------


def test_cast_is_verified_against_the_prompt():
    """The LLM forgot the insect and offered the garden: the subject comes back, the place goes."""
    assert verify_cast(INSECT, [("garden", "garden"), ("flower", "flower")]) == ["insect", "garden", "flower"]
    assert verify_cast("a fox sleeps in the forest", [("forest", "forest")]) == ["fox"]  # "in the forest": a place
    assert verify_cast("a red fox chases a hare, then the fox sleeps", [("fox", "fox"), ("hare", "hare")]) == ["red fox", "hare"]
    assert verify_cast("un chat noir saute sur le toit", [("chat noir", "black cat")]) == ["black cat"]
    assert "butterfly" not in candidate_names(INSECT)  # the schema's enum: an example's names cannot come in


# -- story checks ---------------------------------------------------------------------------------------------------


def test_coverage_every_cast_member_is_in_a_scene():
    s = script(("the rider gallops across the beach", ["rider"], "beach"), ("the horse drinks from the sea", ["rider"], "beach"))
    problems = story_problems(s, ["rider", "horse"], RIDER)
    assert [p.message for p in problems if p.kind == "coverage"] == [
        '"horse" is in the story but in no scene; put "horse" in "foreground" of the scenes where it appears',
        'scene 2: its event mentions "horse" but "horse" is not in its "foreground"',
    ]
    fixed = fixed_ok(s, ["rider", "horse"], RIDER, "coverage")
    assert [x.foreground for x in fixed.scenes] == [["rider"], ["rider", "horse"]]  # where the event mentions it
    assert story_problems(script(("the rider rides the horse", ["rider", "horse"], "beach")), ["rider", "horse"], RIDER) == []


def test_coverage_puts_an_unmentioned_subject_where_the_story_has_it():
    s = script(("1.5s", ["flower"], "garden"), ("a flower in a garden", ["flower"], "garden"))
    fixed = fix_script(s, ["insect", "flower"], INSECT, story_problems(s, ["insect", "flower"], INSECT))
    assert any("insect" in x.foreground for x in fixed.scenes)


def test_no_copies_of_the_prompt_or_of_an_example():
    s = script(
        ("an insect crosses a garden from left to right, then climbs a flower", ["insect"], "garden", "An insect crosses a garden from left to right, then climbs a flower"),
        ("the insect climbs a flower", ["insect"], "puddle"),  # "puddle": a place from our few-shot example
    )
    messages = [p.message for p in story_problems(s, ["insect"], INSECT) if p.kind == "copy"]
    assert messages == [
        "scene 1: its event repeats the whole story; write only the part of the story scene 1 shows",
        "scene 1: its title repeats the whole story; give it a short title of its own",
        'scene 2: its background "puddle" comes from an example, not from this story; name the place where scene 2 happens',
    ]
    fixed = fixed_ok(s, ["insect"], INSECT, "copy")
    assert fixed.scenes[0].event == "an insect crosses a garden from left to right"  # the prompt's own first step
    assert fixed.scenes[1].background == "garden"
    assert not any(repeats(x.title, INSECT) for x in fixed.scenes)


def test_babble_is_not_an_event():
    s = script(("frog over frog over frog over frog over frog over frog", ["insect"], "garden"), ("the insect climbs a flower", ["insect"], "garden"))
    assert "not a plain sentence" in story_problems(s, ["insect"], INSECT)[0].message
    fixed = fixed_ok(s, ["insect"], INSECT, "copy")
    assert fixed.scenes[0].event == "an insect crosses a garden from left to right"


def test_story_order_and_distinct_scenes():
    s = script(("the insect climbs a flower", ["insect"], "garden"), ("the insect crosses the garden from left to right", ["insect"], "garden"))
    problems = story_problems(s, ["insect"], INSECT)
    assert kinds(problems) == ["order"] and "comes before scene 1" in problems[0].message
    fixed = fixed_ok(s, ["insect"], INSECT, "order")
    assert [x.event for x in fixed.scenes] == ["the insect crosses the garden from left to right", "the insect climbs a flower"]

    same = script(("the insect crosses the garden", ["insect"], "garden"), ("the insect crosses the garden", ["insect"], "garden"),
                  ("the insect climbs a flower", ["insect"], "garden"))
    problems = story_problems(same, ["insect"], INSECT)
    assert "scenes 1 and 2 tell the same moment" in problems[0].message
    fixed = fixed_ok(same, ["insect"], INSECT, "order")
    assert likeness(fixed.scenes[0].event, fixed.scenes[1].event) < 0.8


def test_identity_one_name_per_thing_and_places_are_places():
    prompt = "a red fox chases a hare, then the fox sleeps in its den"
    s = script(("the red fox chases the hare", ["red fox", "hare"], "meadow"), ("the fox sleeps", ["fox"], "hare"))
    messages = [p.message for p in story_problems(s, ["red fox", "hare"], prompt) if p.kind == "identity"]
    assert messages == [
        '"red fox" and "fox" name the same fox; use one name, "red fox", in every scene',
        'scene 2: its background "hare" is a character or object of the story; name the place instead',
    ]
    fixed = fixed_ok(s, ["red fox", "hare"], prompt, "identity")
    assert fixed.scenes[1].foreground == ["red fox"] and fixed.scenes[1].background == "meadow"
    two = script(("the red fox and the grey fox play", ["red fox", "grey fox"], "meadow"))
    assert story_problems(two, [], "a red fox and a grey fox play in a meadow") == []  # the script says they are two


def test_resolve_names_merges_certain_duplicates_without_asking():
    s = script(("the fox runs", ["fox"], "snowy forest"), ("the red fox sleeps", ["red fox"], "forest"))
    merged, notes = resolve_names(s, None, "a red fox runs, then sleeps in the forest")
    assert [x.foreground for x in merged.scenes] == [["red fox"], ["red fox"]]
    assert [x.background for x in merged.scenes] == ["snowy forest", "snowy forest"]
    assert notes[0] == 'script: "fox" and "red fox" are one entity, "red fox"'
    unsure = script(("the red fox runs", ["red fox"], "forest"), ("the grey fox sleeps", ["grey fox"], "forest"))
    assert resolve_names(unsure, None, "foxes")[0] == unsure  # unsure and nobody to ask: kept apart
