"""Edits: every operation the editor calls, what it changes, and how an invalid edit is refused without harm;
then the bounded undo/redo history."""

from __future__ import annotations

import pytest

from flowdrafter.core import edits
from flowdrafter.core.errors import StoryboardError
from flowdrafter.core.history import History
from flowdrafter.core.layout import track_box
from flowdrafter.core.storyboard import Reference


def ids(sb) -> list[str]:
    return [s.id for s in sb.scenes]


# -- scenes --------------------------------------------------------------------------------------------


def test_add_scene_at_the_end_and_after_a_scene(sample_storyboard):
    sb = edits.add_scene(sample_storyboard, event="the kitten wakes up")
    assert ids(sb) == ["s1", "s2", "s3"]
    new = sb.scenes[-1]
    assert (new.event, new.background, new.num_frames, new.title) == ("the kitten wakes up", "garden", 12, "Scene 3")
    sb = edits.add_scene(sb, after="s1", num_frames=20, camera={"motion": "tilt_up"})
    assert ids(sb) == ["s1", "s4", "s2", "s3"]
    assert sb.scenes[1].num_frames == 20 and sb.scenes[1].camera.motion.value == "tilt_up"


def test_remove_scene(sample_storyboard):
    sb = edits.remove_scene(sample_storyboard, "s1")
    assert ids(sb) == ["s2"]
    with pytest.raises(StoryboardError) as info:
        edits.remove_scene(sb, "s2")
    assert info.value.problems == ["a storyboard needs at least one scene; add another before deleting this one"]


def test_duplicate_scene_copies_everything_under_a_new_id(sample_storyboard):
    sb = edits.duplicate_scene(sample_storyboard, "s1")
    assert ids(sb) == ["s1", "s3", "s2"]
    copy = sb.scenes[1]
    assert copy.title == "The chase (copy)"
    assert copy.model_dump(exclude={"id", "title"}) == sb.scenes[0].model_dump(exclude={"id", "title"})


def test_move_scene_clamps_the_index(sample_storyboard):
    assert ids(edits.move_scene(sample_storyboard, "s2", 0)) == ["s2", "s1"]
    assert ids(edits.move_scene(sample_storyboard, "s1", 99)) == ["s2", "s1"]
    assert ids(edits.move_scene(sample_storyboard, "s2", -5)) == ["s2", "s1"]


def test_update_scene_sets_plain_fields_and_coerces_numbers(sample_storyboard):
    sb = edits.update_scene(sample_storyboard, "s2", title="Nap", event="zzz", seed=5, num_frames=10.0)
    s2 = sb.scene("s2")
    assert (s2.title, s2.event, s2.seed, s2.num_frames) == ("Nap", "zzz", 5, 10)
    assert isinstance(s2.num_frames, int)
    assert edits.update_scene(sb, "s2", background=None).scene("s2").background is None


def test_shortening_a_scene_trims_keyframes_but_keeps_where_things_were(sample_storyboard):
    kitten = sample_storyboard.scene("s1").track("kitten")
    expected_end = track_box(kitten, 9)
    sb = edits.update_scene(sample_storyboard, "s1", num_frames=10)
    s1 = sb.scene("s1")
    assert [k.frame for k in s1.track("kitten").keyframes] == [0, 9]
    assert s1.track("kitten").keyframes[-1].box == pytest.approx(expected_end)
    assert [n.frame for n in s1.frames] == [0]  # the description on frame 15 is gone with its frame
    assert s1.track("ball").keyframes[0].frame == 4  # inside the new length: untouched


def test_set_camera_and_background_motion(sample_storyboard):
    sb = edits.set_camera(sample_storyboard, "s1", "zoom_out", 0.9)
    assert (sb.scene("s1").camera.motion.value, sb.scene("s1").camera.strength) == ("zoom_out", 0.9)
    sb = edits.set_camera(sb, "s1", "tilt_down")  # strength kept
    assert sb.scene("s1").camera.strength == 0.9
    sb = edits.set_background_motion(sb, "s1", 0.02, -0.01)
    assert (sb.scene("s1").background_motion.dx, sb.scene("s1").background_motion.dy) == (0.02, -0.01)


def test_set_transition(sample_storyboard):
    sb = edits.set_transition(sample_storyboard, "s1", "fade", 6)
    assert (sb.scene("s1").transition.kind.value, sb.scene("s1").transition.frames) == ("fade", 6)
    sb = edits.set_transition(sb, "s1", "cut", 6)  # a cut has no frames, whatever the caller says
    assert sb.scene("s1").transition.frames == 0


def test_frame_descriptions_are_set_replaced_sorted_and_deleted(sample_storyboard):
    sb = edits.set_frame_description(sample_storyboard, "s1", 8, "  the kitten leaps  ")
    assert [(n.frame, n.description) for n in sb.scene("s1").frames] == [
        (0, "the kitten crouches"), (8, "the kitten leaps"), (15, "the kitten pounces on the ball")
    ]
    sb = edits.set_frame_description(sb, "s1", 8, "the kitten lands")
    assert sb.scene("s1").frames[1].description == "the kitten lands"
    sb = edits.set_frame_description(sb, "s1", 8, "   ")
    assert [n.frame for n in sb.scene("s1").frames] == [0, 15]


# -- entities ------------------------------------------------------------------------------------------


def test_add_entity_makes_an_id_from_the_name(sample_storyboard):
    sb, new_id = edits.add_entity(sample_storyboard, "Red Ball", "foreground", "another ball")
    assert new_id == "red-ball"
    sb, second = edits.add_entity(sb, "Red Ball", "foreground")
    assert second == "red-ball-2"
    assert sb.entity("red-ball").description == "another ball"
    sb, porch = edits.add_entity(sb, "porch", "background", entity_id="porch")
    assert sb.entity(porch).kind.value == "background"


def test_update_entity_and_reference(sample_storyboard):
    sb = edits.update_entity(sample_storyboard, "kitten", name="Mittens", description="a fluffy kitten")
    assert (sb.entity("kitten").name, sb.entity("kitten").description) == ("Mittens", "a fluffy kitten")
    sb = edits.set_reference(sb, "kitten", Reference(image="assets/abc.png", source="generated", seed=3))
    assert sb.entity("kitten").reference.image == "assets/abc.png"
    assert edits.set_reference(sb, "kitten", None).entity("kitten").reference is None


def test_remove_entity_removes_its_tracks_and_background_uses(sample_storyboard):
    sb = edits.remove_entity(sample_storyboard, "kitten")
    assert sb.entity("kitten") is None
    assert [t.entity for t in sb.scene("s1").tracks] == ["ball"] and sb.scene("s2").tracks == []
    sb = edits.remove_entity(sb, "garden")
    assert [s.background for s in sb.scenes] == [None, None]


# -- tracks and keyframes ------------------------------------------------------------------------------


def test_set_keyframe_moves_adds_and_creates_tracks(sample_storyboard):
    sb = edits.set_keyframe(sample_storyboard, "s1", "kitten", 15, (0.5, 0.5, 0.9, 0.9))  # move
    sb = edits.set_keyframe(sb, "s1", "kitten", 7, [0.2, 0.2, 0.4, 0.6])  # add in the middle
    frames = [(k.frame, k.box) for k in sb.scene("s1").track("kitten").keyframes]
    assert frames == [(0, (0.05, 0.45, 0.3, 0.9)), (7, (0.2, 0.2, 0.4, 0.6)), (15, (0.5, 0.5, 0.9, 0.9))]
    sb = edits.set_keyframe(sb, "s2", "ball", 3, (0.1, 0.1, 0.2, 0.2))  # the ball enters scene 2
    assert [t.entity for t in sb.scene("s2").tracks] == ["kitten", "ball"]


def test_delete_keyframe_and_the_last_one_removes_the_track(sample_storyboard):
    sb = edits.delete_keyframe(sample_storyboard, "s1", "kitten", 15)
    assert [k.frame for k in sb.scene("s1").track("kitten").keyframes] == [0]
    sb = edits.delete_keyframe(sb, "s1", "kitten", 0)
    assert sb.scene("s1").track("kitten") is None


def test_remove_track_and_set_easing(sample_storyboard):
    sb = edits.remove_track(sample_storyboard, "s1", "ball")
    assert [t.entity for t in sb.scene("s1").tracks] == ["kitten"]
    sb = edits.set_easing(sb, "s1", "kitten", "ease_in_out")
    assert sb.scene("s1").track("kitten").easing.value == "ease_in_out"


def test_new_scene_ids_skip_taken_ones(sample_storyboard):
    sb = edits.update_scene(sample_storyboard, "s2", title="x")
    sb = edits.duplicate_scene(sb, "s2")  # s3
    sb = edits.remove_scene(sb, "s1")  # s2, s3 left: the next new id is not a reused s3
    assert edits.new_scene_id(sb) == "s4"


# -- invalid edits: precise, and the input is untouched ------------------------------------------------

INVALID = [
    ("box inverted", lambda sb: edits.set_keyframe(sb, "s1", "kitten", 8, (0.7, 0.1, 0.4, 0.5)),
     "scene s1, track kitten, frame 8: box: x0 0.7 must be less than x1 0.4"),
    ("box off frame", lambda sb: edits.set_keyframe(sb, "s1", "kitten", 8, (0.7, 0.1, 1.4, 0.5)),
     "scene s1, track kitten, frame 8: box: x1 1.4 must be between 0 and 1"),
    ("keyframe past the end", lambda sb: edits.set_keyframe(sb, "s1", "kitten", 16, (0.1, 0.1, 0.4, 0.5)),
     "scene s1, track kitten, frame 16: keyframe is outside the scene (frames 0-15)"),
    ("box on a background", lambda sb: edits.set_keyframe(sb, "s1", "garden", 2, (0.1, 0.1, 0.4, 0.5)),
     "scene s1, track garden, frame 2: 'garden' is a background entity; only foreground entities have boxes"),
    ("unknown scene", lambda sb: edits.set_camera(sb, "s9", "static"), "no scene with id 's9'"),
    ("unknown entity", lambda sb: edits.set_keyframe(sb, "s1", "dog", 2, (0.1, 0.1, 0.4, 0.5)),
     "no entity with id 'dog'"),
    ("no such keyframe", lambda sb: edits.delete_keyframe(sb, "s1", "kitten", 5),
     "scene s1, track kitten: no keyframe on frame 5"),
    ("easing without track", lambda sb: edits.set_easing(sb, "s2", "ball", "linear"),
     "scene s2: entity ball has no track"),
    ("bad easing", lambda sb: edits.set_easing(sb, "s1", "ball", "bouncy"),
     'scene s1, track ball: easing: must be one of linear, ease_in_out, got "bouncy"'),
    ("bad camera motion", lambda sb: edits.set_camera(sb, "s1", "spin"),
     'scene s1: camera.motion: must be one of static, pan_left, pan_right, tilt_up, tilt_down, zoom_in, zoom_out, got "spin"'),
    ("camera too strong", lambda sb: edits.set_camera(sb, "s1", "pan_left", 2),
     "scene s1: camera.strength: must be at most 1.0, got 2"),
    ("background too fast", lambda sb: edits.set_background_motion(sb, "s1", 0.5, 0),
     "scene s1: background_motion.dx: must be at most 0.25, got 0.5"),
    ("bad transition kind", lambda sb: edits.set_transition(sb, "s1", "wipe", 2),
     'scene s1: transition.kind: must be one of cut, crossfade, fade, got "wipe"'),
    ("transition too long", lambda sb: edits.set_transition(sb, "s1", "crossfade", 14),
     "scene s1: crossfade of 14 frames is longer than scene s2 (12 frames)"),
    ("description past the end", lambda sb: edits.set_frame_description(sb, "s2", 40, "hi"),
     "scene s2, frame 40: description is outside the scene (frames 0-11)"),
    ("zero frames", lambda sb: edits.update_scene(sb, "s1", num_frames=0),
     "scene s1: num_frames: must be at least 1, got 0"),
    ("frames as text", lambda sb: edits.update_scene(sb, "s1", num_frames="many"),
     'scene s1: num_frames: must be a whole number, got "many"'),
    ("foreground background", lambda sb: edits.update_scene(sb, "s1", background="kitten"),
     "scene s1: background 'kitten' is a foreground entity"),
    ("not a plain field", lambda sb: edits.update_scene(sb, "s1", camera="static"),
     "scene s1: cannot set camera here"),
    ("empty event", lambda sb: edits.update_scene(sb, "s1", event=""), "scene s1: event: must not be empty"),
    ("new scene invalid", lambda sb: edits.add_scene(sb, num_frames=-3),
     "new scene: num_frames: must be at least 1, got -3"),
    ("add after unknown", lambda sb: edits.add_scene(sb, after="s9"), "no scene with id 's9'"),
    ("entity kind", lambda sb: edits.add_entity(sb, "dog", "middle"),
     'entity dog: kind: must be one of foreground, background, got "middle"'),
    ("duplicate entity id", lambda sb: edits.add_entity(sb, "Kitty", "foreground", entity_id="kitten"),
     "entity kitten: duplicate entity id"),
    ("empty entity name", lambda sb: edits.update_entity(sb, "kitten", name=""),
     "entity kitten: name: must not be empty"),
    ("entity kind change", lambda sb: edits.update_entity(sb, "kitten", kind="background"),
     "entity kitten: cannot set kind here"),
    ("remove unknown entity", lambda sb: edits.remove_entity(sb, "dog"), "no entity with id 'dog'"),
]


@pytest.mark.parametrize("edit, expected", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_edit_is_refused_precisely_and_changes_nothing(sample_storyboard, edit, expected):
    before = sample_storyboard.to_json()
    with pytest.raises(StoryboardError) as info:
        edit(sample_storyboard)
    assert info.value.problems == [expected]
    assert sample_storyboard.to_json() == before


def test_valid_edits_never_modify_their_input(sample_storyboard):
    before = sample_storyboard.to_json()
    edits.set_keyframe(sample_storyboard, "s1", "kitten", 3, (0.1, 0.1, 0.2, 0.2))
    edits.update_scene(sample_storyboard, "s1", num_frames=4)
    edits.remove_entity(sample_storyboard, "kitten")
    edits.move_scene(sample_storyboard, "s2", 0)
    assert sample_storyboard.to_json() == before


# -- undo / redo ---------------------------------------------------------------------------------------


def test_undo_and_redo_walk_back_and_forth(sample_storyboard):
    history = History()
    a = sample_storyboard
    history.record(a)
    b = edits.update_scene(a, "s1", title="B")
    history.record(b)
    c = edits.update_scene(b, "s1", title="C")
    assert history.undo(c) == b
    assert history.undo(b) == a
    assert history.undo(a) is None and not history.can_undo
    assert history.redo(a) == b
    assert history.redo(b) == c
    assert history.redo(c) is None and not history.can_redo


def test_a_new_edit_clears_redo(sample_storyboard):
    history = History()
    history.record(sample_storyboard)
    b = edits.update_scene(sample_storyboard, "s1", title="B")
    assert history.undo(b) == sample_storyboard and history.can_redo
    history.record(sample_storyboard)
    assert not history.can_redo


def test_history_keeps_only_the_last_limit_snapshots(sample_storyboard):
    history = History(limit=3)
    sb = sample_storyboard
    for n in range(6):
        history.record(sb)
        sb = edits.update_scene(sb, "s1", title=f"take {n}")
    titles = []
    while (prev := history.undo(sb)) is not None:
        titles.append(prev.scenes[0].title)
        sb = prev
    assert titles == ["take 4", "take 3", "take 2"]


def test_recording_the_same_state_twice_is_one_step(sample_storyboard):
    history = History()
    history.record(sample_storyboard)
    history.record(sample_storyboard)
    assert len(history.undo_stack) == 1


def test_history_survives_a_round_trip_through_plain_data(sample_storyboard):
    history = History(limit=5)
    history.record(sample_storyboard)
    b = edits.update_scene(sample_storyboard, "s1", title="B")
    copy = History.from_dict(history.to_dict())
    assert copy.limit == 5 and copy.undo(b) == sample_storyboard
    assert History.from_dict(None).limit == 100
