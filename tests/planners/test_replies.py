"""What the LLM is asked for (flat schemas) and what becomes of what it sends back (parsing, repair)."""

from __future__ import annotations

import json
import math
import re

import pytest

from flowdrafter.core.errors import PlanningError
from flowdrafter.planners.jsonparse import ReplyParseError, parse_reply
from flowdrafter.planners.repair import repair_entities, repair_layout, repair_script
from flowdrafter.planners.schemas import cast_schema, entities_schema, layout_schema, script_schema


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('```json\n{"a": 1}\n```\nHope this helps!', {"a": 1}),
        ('{"event": "line one\nline two\ttabbed"}', {"event": "line one\nline two\ttabbed"}),
        ('{"box": [0.1, 0.2, 7.7e98, 0.9]}', {"box": [0.1, 0.2, 7.7e98, 0.9]}),
        ('{"title": "cut off mid-str', {"title": "cut off mid-str"}),
        ('{"keyframes": [{"frame": 0, "boxes": [{"entity": "fox", "box": [0.1, 0.2, 0.3', {"keyframes": [{"frame": 0, "boxes": [{"entity": "fox", "box": [0.1, 0.2, 0.3]}]}]}),
        ('{"a": 1, "descr', {"a": 1, "descr": None}),
        ('{"a": 1, "b": 2.5e', {"a": 1, "b": 2.5}),
        ('{"a": tru', {"a": None}),
    ],
)
def test_parse_recovers_what_models_send(text, expected):
    assert parse_reply(text) == expected


def test_parse_non_finite_numbers():
    data = parse_reply('{"dx": NaN, "dy": -inf, "n": ' + "9" * 5000 + ', "m": 1e999}')
    assert math.isnan(data["dx"]) and data["dy"] == -math.inf and data["n"] == math.inf and data["m"] == math.inf


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "empty"), ("I'm sorry, I can't help with that.", "no JSON object"), ("[1, 2]", "no JSON object"), ('{"a": }}}', "not valid JSON")],
)
def test_parse_refuses_what_is_not_an_object(text, message):
    with pytest.raises(ReplyParseError, match=message):
        parse_reply(text)


def _walk(node):
    yield node
    if isinstance(node, dict):
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


@pytest.mark.parametrize("schema", [
    script_schema(4), script_schema(None), script_schema(2, ["fox", "hare"]), entities_schema(["fox", "snow"]),
    layout_schema(["fox", "hare"], 16), cast_schema(["fox", "snowy field"], True), cast_schema(["chat noir"], False),
])
def test_llm_schemas_are_flat_and_bounded(schema):
    text = json.dumps(schema)
    assert "$ref" not in text and "anyOf" not in text and "oneOf" not in text and "$defs" not in text
    for node in _walk(schema):
        if isinstance(node, dict) and node.get("type") == "array":
            assert "maxItems" in node
        if isinstance(node, dict) and node.get("type") == "string" and "enum" not in node:
            assert "maxLength" in node
        if isinstance(node, dict) and node.get("type") == "object":
            assert node["additionalProperties"] is False and set(node["required"]) == set(node["properties"])


def test_script_schema_fixes_the_scene_count_and_enums():
    s = script_schema(4)["properties"]["scenes"]
    assert (s["minItems"], s["maxItems"]) == (4, 4)
    assert s["items"]["properties"]["camera"]["enum"] == ["static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out"]
    keyframes = layout_schema(["fox", "hare"], 16)["properties"]["keyframes"]["properties"]
    assert list(keyframes) == ["0", "7", "15"]  # keyed by frame: never past the end, out of order or twice
    assert list(keyframes["7"]["properties"]["boxes"]["properties"]) == ["fox", "hare"]  # one box per entity, once
    assert script_schema(2, ["fox", "hare"])["properties"]["scenes"]["items"]["properties"]["foreground"]["items"]["enum"] == ["fox", "hare"]
    assert list(entities_schema(["fox", "snow"])["properties"]["entities"]["properties"]) == ["fox", "snow"]


def test_keyed_replies_and_list_replies_mean_the_same():
    """The schema asks for boxes and descriptions keyed by id; the older list form still validates."""
    from flowdrafter.planners.schemas import EntitiesReply, LayoutReply

    keyed = LayoutReply.model_validate({"keyframes": {"0": {"description": "x", "boxes": {"fox": [0.1, 0.2, 0.3, 0.4]}}}})
    listed = LayoutReply.model_validate({"keyframes": [{"frame": 0, "description": "x", "boxes": [{"entity": "fox", "box": [0.1, 0.2, 0.3, 0.4]}]}]})
    assert keyed == listed
    assert EntitiesReply.model_validate({"entities": {"fox": "a red fox"}}).entities[0].id == "fox"


def test_repair_script_fills_and_bounds_everything():
    data = {"scenes": [
        {"title": "\x00\x01", "event": None, "foreground": ["fox", "Fox", "", 7, "a" * 500], "camera": "pan-right", "duration": 7.7e98},
        {"event": "the hare runs\naway", "camera": "orbit", "duration": float("nan"), "continues": "yes"},
        "not a scene",
    ]}
    script = repair_script(data, "a fox and a hare in the snow", 2)
    a, b = script.scenes
    assert script.title == "a fox and a hare in the snow"
    assert a.title == "Scene 1" and a.event == "a fox and a hare in the snow"
    assert a.foreground == ["fox", "7", "a" * 40] and a.camera.value == "pan_right" and a.duration == 8
    assert b.event == "the hare runs away" and b.camera.value == "static" and b.duration == 2 and b.continues is False


def test_repair_script_without_scenes_is_a_planning_error():
    with pytest.raises(PlanningError, match="no scenes"):
        repair_script({"title": "x", "scenes": []}, "a fox", 2)


def test_repair_entities_drops_unknown_ids_and_fills_missing_ones():
    reply = repair_entities(
        {"entities": [{"id": "wolf", "description": "a grey wolf"}, {"id": "fox", "description": "a red fox\nwith a white tail"}, {"id": "fox", "description": "again"}]},
        {"fox": "fox", "snow": "snowy field"},
    )
    assert [(e.id, e.description) for e in reply.entities] == [("fox", "a red fox with a white tail"), ("snow", "snowy field")]


def test_repair_layout_makes_frames_boxes_and_motion_usable():
    data = {
        "background_motion": {"dx": 7.7e98, "dy": "up"},
        "keyframes": [
            {"frame": 40, "description": "", "boxes": [{"entity": "fox", "box": [0.9, 0.9, 0.1, float("inf")]}, {"entity": "wolf", "box": [0, 0, 1, 1]}]},
            {"frame": -3, "boxes": [{"entity": "fox", "box": [0.1, 0.4, 0.3]}]},
            {"frame": 40, "description": "dup", "boxes": [{"entity": "fox", "box": [0.2, 0.2, 0.4, 0.4]}]},
        ],
    }
    lay = repair_layout(data, ["fox"], 16, "the fox runs")
    assert [k.frame for k in lay.keyframes] == [0, 15]
    assert lay.keyframes[0].boxes == [] and lay.keyframes[0].description == "the fox runs"
    (box,) = lay.keyframes[1].boxes
    assert box.entity == "fox" and all(0 <= c <= 1 for c in box.box) and box.box[0] < box.box[2]
    assert lay.background_motion.dx == 0.25 and lay.background_motion.dy == 0.0


def test_few_shot_examples_pass_the_checks_they_teach():
    """An example that breaks our own rules would teach the model to break them."""
    from flowdrafter.core.storyboard import CameraMotion
    from flowdrafter.planners.checks import SceneContext, check_layout
    from flowdrafter.planners.schemas import CastReply, EntitiesReply, LayoutReply, ScriptReply, keyframe_frames
    from flowdrafter.planners.templates import load
    from flowdrafter.planners.words import candidate_names

    def examples(name):
        msgs = load(name).messages
        return [(msgs[i][1], msgs[i + 1][1]) for i in range(len(msgs) - 1) if msgs[i][0] == "user" and msgs[i + 1][0] == "assistant"]

    for user, reply in examples("layout"):
        fields = dict(line.split(": ", 1) for line in user.splitlines())
        entities = dict(p[:-1].split(" (") for p in fields["Entities"].split(", "))
        ctx = SceneContext("x", fields["Event"], int(fields["Frames"].split()[0]), CameraMotion(fields["Camera"]), entities)
        lay = LayoutReply.model_validate(json.loads(reply))
        assert check_layout(lay, ctx) == [] and [k.frame for k in lay.keyframes] == keyframe_frames(ctx.num_frames)
    for user, reply in examples("script"):
        asked = int(user.rsplit("Scenes: ", 1)[1])
        assert len(ScriptReply.model_validate(json.loads(reply)).scenes) == asked
    for user, reply in examples("entities"):
        ids = [line[2:].split(" ")[0] for line in user.splitlines() if line.startswith("- ")]
        assert [e.id for e in EntitiesReply.model_validate(json.loads(reply)).entities] == ids
    for user, reply in examples("cast"):
        story = user.split("Story: ", 1)[1]
        names = [m.words for m in CastReply.model_validate(json.loads(reply)).cast]
        assert set(names) <= set(candidate_names(story)) and names


def _mutate(text: str, rng) -> str:
    """What a model or a network does to a reply: cut it, drop or insert characters, blow up numbers."""
    op = rng.randrange(5)
    if op == 0:
        return text[: rng.randrange(len(text))]
    if op == 1:
        i = rng.randrange(len(text))
        return text[:i] + text[i + rng.randrange(1, 8):]
    if op == 2:
        i = rng.randrange(len(text))
        return text[:i] + rng.choice(['"', "{", "]", ",", "\n", "\x00", "NaN", "-", "7.7e98", ":", "null"]) + text[i:]
    if op == 3:
        return re.sub(r"\d+\.\d+", lambda m: rng.choice([m.group(0), "1e308", "-0.5", "NaN", "12345678901234567890"]), text)
    return re.sub(r'"(kitten|red-ball)"', lambda m: rng.choice([m.group(0), '"dog"', '""', "7"]), text)


def test_mutated_replies_always_end_in_a_valid_scene_or_a_clear_error():
    """Thousands of damaged layout replies through parse, validate, repair, fix and into a Scene."""
    import random

    from flowdrafter.core.errors import PlanningError
    from flowdrafter.core.storyboard import CameraMotion, Scene
    from flowdrafter.planners.ask import parse_and_validate, strict
    from flowdrafter.planners.checks import SceneContext, check_layout
    from flowdrafter.planners.fixes import fix_layout
    from flowdrafter.planners.layout import apply_layout
    from flowdrafter.planners.schemas import LayoutReply, layout_problems

    from .conftest import KITTEN_S1, KITTEN_S2_FIXED, KITTEN_S2_WRONG

    ids, frames = ["kitten", "red-ball"], 24
    ctx = SceneContext("s2", "the kitten chases the red ball from left to right", frames, CameraMotion.pan_right,
                       {"kitten": "kitten", "red-ball": "red ball"}, {"kitten": (0.1, 0.45, 0.34, 0.9)}, True)
    scene = Scene(id="s2", event=ctx.event, num_frames=frames, tracks=[
        {"entity": "kitten", "keyframes": [{"frame": 0, "box": [0.1, 0.4, 0.3, 0.9]}]},
        {"entity": "red-ball", "keyframes": [{"frame": 0, "box": [0.5, 0.7, 0.6, 0.9]}]},
    ])
    validate = strict(LayoutReply, lambda r: layout_problems(r, ids, frames))
    rng = random.Random(0)
    outcomes = {"valid": 0, "repaired": 0, "unparseable": 0}
    for i in range(1500):
        text = rng.choice([KITTEN_S1, KITTEN_S2_WRONG, KITTEN_S2_FIXED])
        for _ in range(rng.randrange(1, 4)):
            text = _mutate(text, rng) or "{"
        data, problems = parse_and_validate(text, validate)
        if problems is None:
            layout, outcomes["valid"] = data, outcomes["valid"] + 1
        elif isinstance(data, dict):
            try:
                layout = repair_layout(data, ids, frames, ctx.event)
            except PlanningError:
                continue
            outcomes["repaired"] += 1
        else:
            outcomes["unparseable"] += 1
            continue
        fixed = fix_layout(layout, ctx, check_layout(layout, ctx))
        result = apply_layout(scene, fixed, [])
        assert {t.entity for t in result.tracks} == set(ids)
        assert all(0 <= c <= 1 for t in result.tracks for k in t.keyframes for c in k.box)
    assert min(outcomes.values()) > 0, outcomes


def test_mutated_scripts_always_end_in_a_valid_storyboard_or_a_clear_error():
    import random

    from flowdrafter.core.errors import PlanningError
    from flowdrafter.core.storyboard import Storyboard
    from flowdrafter.planners.ask import parse_and_validate, strict
    from flowdrafter.planners.schemas import ScriptReply, script_problems
    from flowdrafter.planners.script import script_to_storyboard

    from .conftest import CAT_SCRIPT, KITTEN_SCRIPT, ROBOT_SCRIPT_BAD

    rng = random.Random(1)
    validate = strict(ScriptReply, lambda r: script_problems(r, 3))
    built = errors = 0
    for _ in range(600):
        text = rng.choice([KITTEN_SCRIPT, CAT_SCRIPT, ROBOT_SCRIPT_BAD])
        for _ in range(rng.randrange(1, 4)):
            text = _mutate(text, rng) or "{"
        data, problems = parse_and_validate(text, validate)
        try:
            script = data if problems is None else repair_script(data, "a story", 3) if isinstance(data, dict) else None
        except PlanningError:
            errors += 1
            continue
        if script is None:
            errors += 1
            continue
        sb = script_to_storyboard(script, [], prompt="a story", fps=8, width=512, height=320, seed=0)
        assert isinstance(Storyboard.model_validate(sb.model_dump()), Storyboard) and 1 <= len(sb.scenes) <= 3
        built += 1
    assert built > 300 and errors > 0
