"""Geometry and time: box interpolation, per-frame scene layout, format conversions, timeline placement."""

from __future__ import annotations

import pytest

from flowdrafter.core import layout
from flowdrafter.core.edits import set_transition
from flowdrafter.core.layout import (
    frame_description,
    frame_layout,
    interpolate_box,
    keyframe_frames,
    lmd_to_norm,
    norm_to_lmd,
    norm_to_pixels,
    pixels_to_norm,
    scene_layout,
)
from flowdrafter.core.storyboard import Easing, Keyframe, parse_storyboard
from flowdrafter.core.timeline import placements, scene_starts, timecode, total_frames

KFS = [Keyframe(frame=0, box=(0.0, 0.0, 0.2, 0.2)), Keyframe(frame=10, box=(0.5, 0.4, 0.9, 0.8))]


def approx_box(box):
    return pytest.approx(box, abs=1e-9)


def test_linear_interpolation_is_exact_on_keyframes_and_proportional_between():
    assert interpolate_box(KFS, 0) == (0.0, 0.0, 0.2, 0.2)
    assert interpolate_box(KFS, 10) == (0.5, 0.4, 0.9, 0.8)
    assert interpolate_box(KFS, 5) == approx_box((0.25, 0.2, 0.55, 0.5))
    assert interpolate_box(KFS, 2) == approx_box((0.1, 0.08, 0.34, 0.32))


def test_ease_in_out_starts_and_ends_slowly_and_meets_linear_in_the_middle():
    linear = [interpolate_box(KFS, f)[0] for f in range(11)]
    eased = [interpolate_box(KFS, f, Easing.ease_in_out)[0] for f in range(11)]
    assert eased[0] == 0.0 and eased[10] == 0.5
    assert eased[5] == pytest.approx(linear[5])
    assert eased[1] < linear[1] and eased[9] > linear[9]  # slow out of the first key, slow into the last
    assert all(a <= b for a, b in zip(eased, eased[1:]))  # never overshoots backwards


def test_box_is_held_before_the_first_and_after_the_last_keyframe():
    late = [Keyframe(frame=4, box=(0.1, 0.1, 0.3, 0.3)), Keyframe(frame=8, box=(0.5, 0.5, 0.7, 0.7))]
    assert interpolate_box(late, 0) == (0.1, 0.1, 0.3, 0.3)
    assert interpolate_box(late, 15) == (0.5, 0.5, 0.7, 0.7)
    single = [Keyframe(frame=3, box=(0.2, 0.2, 0.4, 0.4))]
    assert {interpolate_box(single, f) for f in range(10)} == {(0.2, 0.2, 0.4, 0.4)}


def test_three_keyframes_interpolate_piecewise():
    kfs = KFS + [Keyframe(frame=20, box=(0.0, 0.0, 0.2, 0.2))]
    assert interpolate_box(kfs, 15) == approx_box((0.25, 0.2, 0.55, 0.5))


def test_scene_layout_has_every_frame_and_every_track_in_order(sample_storyboard):
    scene = sample_storyboard.scenes[0]
    frames = scene_layout(scene)
    assert len(frames) == scene.num_frames == 16
    assert all(list(f) == ["kitten", "ball"] for f in frames)  # track order is drawing order
    assert frames[0]["kitten"] == (0.05, 0.45, 0.30, 0.90)
    assert frames[15]["kitten"] == (0.60, 0.40, 0.88, 0.88)
    assert frames[0]["ball"] == frames[15]["ball"] == (0.4, 0.7, 0.5, 0.85)  # one keyframe: held
    assert frame_layout(scene, 3) == frames[3]
    for f in frames:  # every interpolated box is itself valid
        for x0, y0, x1, y1 in f.values():
            assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1


def test_frame_descriptions_travel_between_notes(sample_storyboard):
    scene = sample_storyboard.scenes[0]
    assert frame_description(scene, 0) == ("the kitten crouches", "the kitten pounces on the ball", 0.0)
    assert frame_description(scene, 15)[::2] == ("the kitten pounces on the ball", 0.0)
    prev, nxt, w = frame_description(scene, 6)
    assert (prev, nxt) == ("the kitten crouches", "the kitten pounces on the ball") and w == pytest.approx(0.4)
    no_notes = sample_storyboard.scenes[1]
    assert frame_description(no_notes, 5) == (no_notes.event, no_notes.event, 0.0)
    assert keyframe_frames(scene) == [0, 4, 15]


# -- conversions at the edges --------------------------------------------------------------------------


def test_editor_pixels_round_trip_to_normalized():
    assert pixels_to_norm([128, 80, 384, 320], 512, 320) == (0.25, 0.25, 0.75, 1.0)
    assert norm_to_pixels((0.25, 0.25, 0.75, 1.0), 512, 320) == (128, 80, 384, 320)
    for box in [(0, 0, 512, 320), (10, 20, 30, 40), (255, 1, 511, 319)]:
        assert norm_to_pixels(pixels_to_norm(box, 512, 320), 512, 320) == box


def test_editor_pixels_outside_the_frame_or_flipped_are_clamped_into_a_valid_box():
    assert pixels_to_norm([-50, -10, 600, 400], 512, 320) == (0.0, 0.0, 1.0, 1.0)
    assert pixels_to_norm([384, 320, 128, 80], 512, 320) == (0.25, 0.25, 0.75, 1.0)  # dragged up-left
    x0, y0, x1, y1 = pixels_to_norm([100, 100, 100, 100], 512, 320)  # a click, no drag
    assert x1 - x0 == pytest.approx(0.01, abs=1e-5) and y1 - y0 == pytest.approx(0.01, abs=1e-5)
    assert x0 < 100 / 512 < x1


def test_lmd_xywh_on_512_canvas_round_trips():
    assert lmd_to_norm([128, 256, 256, 128]) == (0.25, 0.5, 0.75, 0.75)
    assert norm_to_lmd((0.25, 0.5, 0.75, 0.75)) == (128, 256, 256, 128)
    for box in [[0, 0, 512, 512], [10, 20, 30, 40], [300, 100, 150, 250]]:
        assert list(norm_to_lmd(lmd_to_norm(box))) == box
    assert lmd_to_norm([0, 0, 256, 256], canvas=(1024, 512)) == (0.0, 0.0, 0.25, 0.5)


def test_lmd_boxes_spilling_off_the_canvas_are_clamped():
    assert lmd_to_norm([400, 400, 300, 300]) == (0.78125, 0.78125, 1.0, 1.0)


def test_box_metrics():
    assert layout.box_area((0.0, 0.0, 0.5, 0.5)) == 0.25
    assert layout.box_center((0.2, 0.2, 0.4, 0.6)) == pytest.approx((0.3, 0.4))
    assert layout.box_iou((0.0, 0.0, 0.5, 0.5), (0.0, 0.0, 0.5, 0.5)) == 1.0
    assert layout.box_iou((0.0, 0.0, 0.5, 0.5), (0.5, 0.5, 1.0, 1.0)) == 0.0
    assert layout.box_iou((0.0, 0.0, 0.5, 0.5), (0.25, 0.0, 0.75, 0.5)) == pytest.approx(1 / 3)


# -- timeline ------------------------------------------------------------------------------------------


def three_scenes(sample_doc, t1, t2):
    s3 = {"id": "s3", "event": "the end", "num_frames": 10}
    sample_doc["scenes"].append(s3)
    sample_doc["scenes"][0]["transition"] = t1
    sample_doc["scenes"][1]["transition"] = t2
    return parse_storyboard(sample_doc)


def test_cuts_place_scenes_end_to_end(sample_doc):
    sb = three_scenes(sample_doc, {"kind": "cut"}, {"kind": "cut"})
    assert scene_starts(sb) == {"s1": 0, "s2": 16, "s3": 28}
    assert total_frames(sb) == 16 + 12 + 10


def test_crossfade_overlaps_and_shortens_fade_does_not(sample_doc):
    sb = three_scenes(sample_doc, {"kind": "crossfade", "frames": 4}, {"kind": "fade", "frames": 3})
    assert scene_starts(sb) == {"s1": 0, "s2": 12, "s3": 24}
    assert total_frames(sb) == 38 - 4
    p = placements(sb)
    assert [x.overlap_next for x in p] == [4, 0, 0]
    assert p[0].end == 16 and p[1].start == 12  # the last 4 frames of s1 lie under the first 4 of s2
    assert p[-1].end == total_frames(sb)


def test_transition_on_the_last_scene_does_not_change_the_length(sample_doc):
    sb = parse_storyboard(sample_doc)  # s2 ends with a 3-frame fade to black
    assert total_frames(sb) == 16 + 12 - 4
    sb2 = set_transition(sb, "s2", "crossfade", 5)  # nothing to cross into
    assert total_frames(sb2) == total_frames(sb)


def test_timecode_for_people():
    assert timecode(0, 8) == "00:00:00"
    assert timecode(8 * 61 + 3, 8) == "01:01:03"
