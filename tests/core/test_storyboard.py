"""The document: JSON round trips, stable output, the JSON Schema, and every validator's exact message."""

from __future__ import annotations

import json

import pytest

from flowdrafter.core.errors import StoryboardError
from flowdrafter.core.storyboard import Storyboard, integrity_problems, json_schema, parse_storyboard, slugify
from flowdrafter.core.upgrade import load_storyboard


def problems_of(doc) -> list[str]:
    with pytest.raises(StoryboardError) as info:
        load_storyboard(doc)
    return info.value.problems


# -- round trips -------------------------------------------------------------------------------------


def test_load_save_load_is_identical(sample_doc):
    first = load_storyboard(sample_doc)
    text = first.to_json()
    second = load_storyboard(json.loads(text))
    assert second == first
    assert second.to_json() == text


def test_saved_json_has_fixed_key_order_indent_and_newline(sample_doc):
    shuffled = dict(reversed(list(sample_doc.items())))
    shuffled["scenes"][0] = dict(sorted(shuffled["scenes"][0].items()))
    text = load_storyboard(shuffled).to_json()
    assert text == load_storyboard(sample_doc).to_json()  # input order does not leak into the file
    keys = list(json.loads(text))
    assert keys[:3] == ["schema_version", "title", "prompt"] and keys[-2:] == ["entities", "scenes"]
    assert text.startswith('{\n  "schema_version": 1,\n  "title": ')
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert '\n    {\n      "id": "kitten",' in text  # two-space indent, nested


def test_defaults_are_written_out_so_files_are_self_describing(sample_doc):
    assert "background_motion" not in sample_doc["scenes"][1]
    out = json.loads(load_storyboard(sample_doc).to_json())
    assert out["scenes"][1]["background_motion"] == {"dx": 0.0, "dy": 0.0}
    assert out["scenes"][1]["frames"] == [] and out["scenes"][1]["seed"] is None


def test_unicode_text_is_kept_readable(sample_doc):
    sample_doc["title"] = "Kätzchen 🐈 und der Ball"
    text = load_storyboard(sample_doc).to_json()
    assert "Kätzchen 🐈" in text
    assert load_storyboard(json.loads(text)).title == "Kätzchen 🐈 und der Ball"


def test_json_schema_is_valid_draft_2020_and_describes_the_document():
    schema = json_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    assert schema["type"] == "object" and "scenes" in schema["required"]
    json.dumps(schema)  # plain JSON
    scene = schema["$defs"]["Scene"]["properties"]
    assert set(scene) >= {"id", "event", "background", "num_frames", "camera", "tracks", "transition"}
    assert schema["$defs"]["CameraMotion"]["enum"] == [
        "static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out"
    ]


def test_schema_uses_json_schema_keywords_for_every_constraint():
    def keys(node):
        if isinstance(node, dict):
            for k, v in node.items():
                yield k
                yield from keys(v)
        elif isinstance(node, list):
            for v in node:
                yield from keys(v)

    assert not set(keys(json_schema())) & {"ge", "le", "gt", "lt", "multiple_of", "min_length", "max_length"}
    seed = json_schema()["$defs"]["Scene"]["properties"]["seed"]["anyOf"][0]
    assert (seed["minimum"], seed["maximum"]) == (0, 2**32 - 1)


def test_schema_validates_the_sample_with_a_real_validator(sample_doc):
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator(json_schema()).validate(json.loads(load_storyboard(sample_doc).to_json()))


# -- field validators: exact messages ------------------------------------------------------------------


def kf(doc, scene=0, track=0, key=1):
    return doc["scenes"][scene]["tracks"][track]["keyframes"][key]


FIELD_CASES = [
    # (label, mutation, exact problem)
    ("inverted x", lambda d: kf(d).update(box=[0.7, 0.1, 0.4, 0.5]),
     "scene s1, track kitten, frame 15: box: x0 0.7 must be less than x1 0.4"),
    ("inverted y", lambda d: kf(d).update(box=[0.1, 0.8, 0.4, 0.5]),
     "scene s1, track kitten, frame 15: box: y0 0.8 must be less than y1 0.5"),
    ("zero width", lambda d: kf(d).update(box=[0.4, 0.1, 0.4, 0.5]),
     "scene s1, track kitten, frame 15: box: x0 0.4 must be less than x1 0.4"),
    ("above 1", lambda d: kf(d).update(box=[0.1, 0.1, 1.2, 0.5]),
     "scene s1, track kitten, frame 15: box: x1 1.2 must be between 0 and 1"),
    ("below 0", lambda d: kf(d).update(box=[-0.1, 0.1, 0.2, 0.5]),
     "scene s1, track kitten, frame 15: box: x0 -0.1 must be between 0 and 1"),
    ("nan", lambda d: kf(d).update(box=[0.1, float("nan"), 0.2, 0.5]),
     "scene s1, track kitten, frame 15: box: y0 nan must be between 0 and 1"),
    ("three numbers", lambda d: kf(d).update(box=[0.1, 0.1, 0.2]),
     "scene s1, track kitten, frame 15: box: a box has 4 numbers [x0, y0, x1, y1], got 3"),
    ("box text", lambda d: kf(d).update(box="0.1 0.1 0.2 0.2"),
     'scene s1, track kitten, frame 15: box: a box is a list of 4 numbers [x0, y0, x1, y1], got "0.1 0.1 0.2 0.2"'),
    ("box item text", lambda d: kf(d).update(box=[0.1, "a", 0.2, 0.3]),
     'scene s1, track kitten, frame 15: box: y0 must be a number, got "a"'),
    ("box missing", lambda d: kf(d).pop("box"),
     "scene s1, track kitten, frame 15: box: required field is missing"),
    ("negative frame", lambda d: kf(d, key=0).update(frame=-1),
     "scene s1, track kitten, frame -1: frame: must be at least 0, got -1"),
    ("unsorted keyframes", lambda d: d["scenes"][0]["tracks"][0]["keyframes"].reverse(),
     "scene s1, track kitten: keyframes: keyframe frames must be strictly increasing, got 15 then 0"),
    ("repeated keyframe", lambda d: kf(d).update(frame=0),
     "scene s1, track kitten: keyframes: keyframe frames must be strictly increasing, got 0 then 0"),
    ("no keyframes", lambda d: d["scenes"][0]["tracks"][0].update(keyframes=[]),
     "scene s1, track kitten: keyframes: a track needs at least one keyframe"),
    ("unsorted notes", lambda d: d["scenes"][0]["frames"].reverse(),
     "scene s1: frames: frame descriptions must be in strictly increasing frame order, got 15 then 0"),
    ("empty note", lambda d: d["scenes"][0]["frames"][0].update(description=""),
     "scene s1, frame 0: description: must not be empty"),
    ("wrong int type", lambda d: d.update(fps="eight"), 'fps: must be a whole number, got "eight"'),
    ("fractional int", lambda d: d.update(fps=8.5), "fps: must be a whole number, got 8.5"),
    ("bool as number", lambda d: d.update(fps=True), "fps: must be a number, got true"),
    ("fps zero", lambda d: d.update(fps=0), "fps: must be at least 1, got 0"),
    ("width multiple", lambda d: d.update(width=500), "width: must be a multiple of 8, got 500"),
    ("height too big", lambda d: d.update(height=4096), "height: must be at most 2048, got 4096"),
    ("text as number", lambda d: d.update(title=5), "title: must be text, got 5"),
    ("text too long", lambda d: d["scenes"][0].update(event="x" * 2001),
     "scene s1: event: is too long (2001 characters; at most 2000)"),
    ("missing field", lambda d: d["scenes"][1].pop("event"), "scene s2: event: required field is missing"),
    ("unknown field", lambda d: d["scenes"][1].update(colour="red"), "scene s2: colour: unknown field"),
    ("unknown top field", lambda d: d.update(author="me"), "author: unknown field"),
    ("unknown nested field", lambda d: d["scenes"][0]["camera"].update(speed=2),
     "scene s1: camera.speed: unknown field"),
    ("bad enum", lambda d: d["scenes"][0]["camera"].update(motion="spin"),
     'scene s1: camera.motion: must be one of static, pan_left, pan_right, tilt_up, tilt_down, zoom_in, zoom_out, got "spin"'),
    ("camera as text", lambda d: d["scenes"][0].update(camera="pan_left"),
     'scene s1: camera: must be an object {...}, got "pan_left"'),
    ("strength range", lambda d: d["scenes"][0]["camera"].update(strength=1.5),
     "scene s1: camera.strength: must be at most 1.0, got 1.5"),
    ("motion range", lambda d: d["scenes"][0]["background_motion"].update(dx=-0.5),
     "scene s1: background_motion.dx: must be at least -0.25, got -0.5"),
    ("motion infinite", lambda d: d["scenes"][0]["background_motion"].update(dy=float("inf")),
     "scene s1: background_motion.dy: must be a finite number, got Infinity"),
    ("entity kind", lambda d: d["entities"][0].update(kind="fg"),
     'entity kitten: kind: must be one of foreground, background, got "fg"'),
    ("scene not object", lambda d: d["scenes"].__setitem__(1, "scene two"),
     'scene #2: must be an object {...}, got "scene two"'),
    ("scenes not list", lambda d: d.update(scenes={"s1": {}}), "scenes: must be a list, got an object"),
    ("no scenes", lambda d: d.update(scenes=[]), "scenes: a storyboard needs at least one scene"),
    ("scenes missing", lambda d: d.pop("scenes"), "scenes: required field is missing"),
    ("cut with frames", lambda d: d["scenes"][1].update(transition={"kind": "cut", "frames": 2}),
     "scene s2: transition: a cut has no frames, got frames=2"),
    ("fade without frames", lambda d: d["scenes"][1].update(transition={"kind": "fade", "frames": 0}),
     "scene s2: transition: a fade needs frames >= 1"),
    ("absolute reference", lambda d: d["entities"][0].update(reference={"image": "/etc/passwd"}),
     "entity kitten: reference.image: asset path '/etc/passwd' must be relative to the project folder"),
    ("windows reference", lambda d: d["entities"][0].update(reference={"image": "C:\\cat.png"}),
     "entity kitten: reference.image: asset path 'C:\\cat.png' must be relative to the project folder"),
    ("climbing reference", lambda d: d["entities"][0].update(reference={"image": "assets/../../x.png"}),
     "entity kitten: reference.image: asset path 'assets/../../x.png' must not contain '..'"),
    ("nul in reference", lambda d: d["entities"][0].update(reference={"image": "assets/a\x00.png"}),
     "entity kitten: reference.image: asset path contains a NUL character"),
    ("reference source", lambda d: d["entities"][0].update(reference={"image": "a.png", "source": "web"}),
     'entity kitten: reference.source: must be one of generated, upload, drawn, got "web"'),
    ("warning not text", lambda d: d["scenes"][0].update(warnings=["ok", 3]),
     "scene s1: warnings #2: must be text, got 3"),
    ("empty track entity", lambda d: d["scenes"][0]["tracks"][1].update(entity=""),
     "scene s1, track #2: entity: \"\" is not a valid id: use lowercase letters, digits, '-' and '_', "
     "starting with a letter or digit, at most 64 characters"),
    ("text that is NaN", lambda d: d["entities"][1].update(description=float("nan")),
     "entity ball: description: must be text, got NaN"),
    ("frame named by a bad value", lambda d: kf(d).update(frame="last"),
     'scene s1, track kitten, frame #2: frame: must be a whole number, got "last"'),
    ("scene named by a bad value", lambda d: d["scenes"][1].update(id=2),
     "scene #2: id: must be text, got 2"),
    ("lone surrogate", lambda d: d.update(title="bad \ud800 title"),
     'title: must be valid Unicode text, got "bad \\ud800 title"'),
    ("scene seed", lambda d: d["scenes"][0].update(seed="x"), 'scene s1: seed: must be a whole number, got "x"'),
    ("negative seed", lambda d: d["scenes"][0].update(seed=-1), "scene s1: seed: must be at least 0, got -1"),
    ("seed too big", lambda d: d.update(seed=2**32), "seed: must be at most 4294967295, got 4294967296"),
]


@pytest.mark.parametrize("mutate, expected", [c[1:] for c in FIELD_CASES], ids=[c[0] for c in FIELD_CASES])
def test_field_problem_is_named_exactly(sample_doc, mutate, expected):
    mutate(sample_doc)
    assert problems_of(sample_doc) == [expected]


# -- referential integrity -----------------------------------------------------------------------------

INTEGRITY_CASES = [
    ("unknown track entity", lambda d: d["scenes"][0]["tracks"][1].update(entity="dog"),
     ["scene s1, track dog: unknown entity 'dog'"]),
    ("background entity track", lambda d: d["scenes"][0]["tracks"][1].update(entity="garden"),
     ["scene s1, track garden: 'garden' is a background entity; only foreground entities have boxes"]),
    ("foreground as background", lambda d: d["scenes"][1].update(background="kitten"),
     ["scene s2: background 'kitten' is a foreground entity"]),
    ("unknown background", lambda d: d["scenes"][1].update(background="moon"),
     ["scene s2: background 'moon' is not an entity"]),
    ("duplicate scene id", lambda d: d["scenes"][1].update(id="s1"), ["scene s1: duplicate scene id"]),
    ("duplicate entity id", lambda d: d["entities"].append(dict(d["entities"][0])),
     ["entity kitten: duplicate entity id"]),
    ("duplicate track", lambda d: d["scenes"][0]["tracks"][1].update(entity="kitten"),
     ["scene s1, track kitten: duplicate track for this entity"]),
    ("keyframe after the end", lambda d: kf(d).update(frame=16),
     ["scene s1, track kitten, frame 16: keyframe is outside the scene (frames 0-15)"]),
    ("description after the end", lambda d: d["scenes"][0]["frames"][1].update(frame=20),
     ["scene s1, frame 20: description is outside the scene (frames 0-15)"]),
    ("crossfade longer than next scene", lambda d: d["scenes"][0]["transition"].update(frames=13),
     ["scene s1: crossfade of 13 frames is longer than scene s2 (12 frames)"]),
    ("fade longer than next scene", lambda d: d["scenes"][0].update(transition={"kind": "fade", "frames": 14}),
     ["scene s1: fade of 14 frames is longer than scene s2 (12 frames)"]),
    ("last transition longer than scene", lambda d: d["scenes"][1]["transition"].update(frames=13),
     ["scene s2: fade of 13 frames is longer than the scene (12 frames)"]),
]


@pytest.mark.parametrize("mutate, expected", [c[1:] for c in INTEGRITY_CASES], ids=[c[0] for c in INTEGRITY_CASES])
def test_integrity_problem_is_named_exactly(sample_doc, mutate, expected):
    mutate(sample_doc)
    assert problems_of(sample_doc) == expected


def test_crossfades_in_and_out_of_a_scene_must_not_overlap(sample_doc):
    middle = {**sample_doc["scenes"][1], "id": "s3", "num_frames": 6, "tracks": [],
              "transition": {"kind": "crossfade", "frames": 4}}
    sample_doc["scenes"].insert(1, middle)  # s1 crossfades 4 into s3 (6 frames), which crossfades 4 into s2
    assert problems_of(sample_doc) == [
        "scene s3: its crossfades in (4 frames) and out (4 frames) overlap; together they must fit in its 6 frames"
    ]
    middle["num_frames"] = 8
    load_storyboard(sample_doc)  # 4 + 4 fit in 8


def test_crossfade_as_long_as_both_scenes_is_allowed(sample_doc):
    sample_doc["scenes"][0]["transition"]["frames"] = 12
    assert load_storyboard(sample_doc).scenes[0].transition.frames == 12


def test_every_problem_is_listed_at_once(sample_doc):
    sample_doc["fps"] = "x"
    sample_doc["scenes"][0]["camera"]["motion"] = "spin"
    kf(sample_doc).update(box=[0.9, 0.1, 0.2, 0.5])
    sample_doc["scenes"][0]["tracks"][1]["entity"] = "dog"  # integrity, normally checked only on valid fields
    sample_doc["scenes"][1]["background"] = "kitten"
    assert problems_of(sample_doc) == [
        'fps: must be a whole number, got "x"',
        'scene s1: camera.motion: must be one of static, pan_left, pan_right, tilt_up, tilt_down, zoom_in, zoom_out, got "spin"',
        "scene s1, track kitten, frame 15: box: x0 0.9 must be less than x1 0.2",
        "scene s1, track dog: unknown entity 'dog'",
        "scene s2: background 'kitten' is a foreground entity",
    ]


def test_invalid_id_is_explained_and_its_users_are_named(sample_doc):
    sample_doc["entities"][1]["id"] = "Red Ball"
    assert problems_of(sample_doc) == [
        "entity Red Ball: id: \"Red Ball\" is not a valid id: use lowercase letters, digits, '-' and '_', "
        "starting with a letter or digit, at most 64 characters",
        "scene s1, track ball: unknown entity 'ball'",
    ]


def test_broken_entities_do_not_cause_invented_reference_problems(sample_doc):
    sample_doc["entities"][1] = "ball"  # not an object: tracks naming 'ball' cannot be judged
    assert problems_of(sample_doc) == ['entity #2: must be an object {...}, got "ball"']


def test_error_message_is_the_first_problem_and_counts_the_rest(sample_doc):
    sample_doc["scenes"][0]["tracks"][1]["entity"] = "dog"
    sample_doc["scenes"][1]["background"] = "moon"
    with pytest.raises(StoryboardError) as info:
        load_storyboard(sample_doc, source="board.json")
    assert str(info.value) == "board.json: scene s1, track dog: unknown entity 'dog' (and 1 more problem)"


def test_integrity_problems_agree_on_models_and_raw_dicts(sample_doc):
    sb = load_storyboard(sample_doc)
    assert integrity_problems(sb) == integrity_problems(sample_doc) == []
    sample_doc["scenes"][1]["tracks"][0]["entity"] = "garden"
    assert integrity_problems(sample_doc) == [
        "scene s2, track garden: 'garden' is a background entity; only foreground entities have boxes"
    ]


@pytest.mark.parametrize(
    "data, expected",
    [
        ([1, 2], "a storyboard is a JSON object, got list"),
        ("text", "a storyboard is a JSON object, got str"),
        ({}, "the storyboard is empty"),
    ],
)
def test_not_a_storyboard(data, expected):
    with pytest.raises(StoryboardError) as info:
        parse_storyboard(data)
    assert info.value.problems == [expected]


def test_minimal_storyboard_gets_defaults():
    sb = parse_storyboard({"scenes": [{"id": "s1", "event": "something happens"}]})
    assert (sb.fps, sb.width, sb.height, sb.scenes[0].num_frames) == (8, 512, 320, 16)
    assert sb.scenes[0].transition.kind.value == "cut"


def test_lookups(sample_storyboard):
    assert sample_storyboard.entity("ball").name == "red ball"
    assert sample_storyboard.entity("nope") is None
    assert sample_storyboard.scene("s2").num_frames == 12
    assert sample_storyboard.scene_index("s2") == 1
    assert sample_storyboard.scenes[0].track("ball").easing.value == "ease_in_out"
    with pytest.raises(StoryboardError, match="no scene with id 's9'"):
        sample_storyboard.scene_index("s9")


def test_slugify_makes_valid_unused_ids():
    assert slugify("Red Ball!") == "red-ball"
    assert slugify("Red Ball!", {"red-ball"}) == "red-ball-2"
    assert slugify("Red Ball!", {"red-ball", "red-ball-2"}) == "red-ball-3"
    assert slugify("!!!", fallback="entity") == "entity"
    assert Storyboard.model_validate(
        {"entities": [{"id": slugify("Ünïcode Ꮚ name " * 9), "name": "x", "kind": "foreground"}],
         "scenes": [{"id": "s1", "event": "e"}]}
    )


# -- robustness: any JSON value anywhere gives problems, never a crash ---------------------------------

JUNK = [None, True, 0, -1, 2**70, 1e308, float("nan"), "", "x", "s1", "kitten", [], [1, 2, 3, 4], {}, {"a": 1}, [[[]]]]


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def test_random_damage_anywhere_gives_problems_not_crashes(sample_doc):
    import copy
    import random

    rng = random.Random(7)
    paths = [p for p in _paths(sample_doc) if p]
    for _ in range(400):
        doc = copy.deepcopy(sample_doc)
        for path in rng.sample(paths, rng.randint(1, 3)):
            node = doc
            try:
                for key in path[:-1]:
                    node = node[key]
                if rng.random() < 0.15 and isinstance(node, dict):
                    node.pop(path[-1], None)
                else:
                    node[path[-1]] = rng.choice(JUNK)
            except (KeyError, IndexError, TypeError):
                continue  # an earlier change removed this place
        try:
            load_storyboard(doc)
        except StoryboardError as err:
            assert err.problems and all(isinstance(p, str) and p and "\n" not in p for p in err.problems)
