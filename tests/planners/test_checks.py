"""One test per refinement check, with realistic layouts: the check names the problem in words the LLM
(and the person in the editor) can act on, and the deterministic fix removes it."""

from __future__ import annotations

import pytest

from flowdrafter.core.examples import example_path
from flowdrafter.core.layout import box_area, box_center, box_iou
from flowdrafter.core.project import Project
from flowdrafter.core.storyboard import CameraMotion, Scene
from flowdrafter.planners.checks import SceneContext, check_layout, event_directions, tracks_of
from flowdrafter.planners.fixes import fix_layout
from flowdrafter.planners.schemas import LayoutReply


def layout(keyframes: dict[int, dict[str, list[float]]], dx: float = 0.0, dy: float = 0.0) -> LayoutReply:
    return LayoutReply.model_validate({
        "background_motion": {"dx": dx, "dy": dy},
        "keyframes": [
            {"frame": f, "description": f"frame {f}", "boxes": [{"entity": e, "box": b} for e, b in boxes.items()]}
            for f, boxes in sorted(keyframes.items())
        ],
    })


def ctx(event: str, entities: dict[str, str] | None = None, camera: CameraMotion = CameraMotion.static, frames: int = 16, **kw) -> SceneContext:
    return SceneContext(scene_id="s1", event=event, num_frames=frames, camera=camera, entities=entities or {"fox": "fox"}, **kw)


def kinds(problems) -> list[str]:
    return [p.kind for p in problems]


def fixed_ok(lay: LayoutReply, c: SceneContext, kind: str) -> LayoutReply:
    problems = check_layout(lay, c)
    assert kind in kinds(problems), problems
    fixed = fix_layout(lay, c, problems)
    assert kind not in kinds(check_layout(fixed, c)), check_layout(fixed, c)
    return fixed


def centre_x(lay: LayoutReply, entity: str, which: int) -> float:
    return box_center(tracks_of(lay)[entity][which][1])[0]


def test_box_outside_the_frame():
    lay = layout({0: {"fox": [0.7, 0.4, 1.3, 0.9]}, 15: {"fox": [0.7, 0.4, 7.7e98, 0.9]}})
    problems = check_layout(lay, ctx("a fox sits in the snow"))
    assert problems[0].kind == "outside" and "fox at frame 0: box [0.70, 0.40, 1.30, 0.90] is not inside the frame" in problems[0].message
    fixed = fixed_ok(lay, ctx("a fox sits in the snow"), "outside")
    assert all(0 <= c <= 1 for _, b in tracks_of(fixed)["fox"] for c in b)


def test_box_too_small_and_too_large():
    c = ctx("a fox and a hare rest", {"fox": "fox", "hare": "hare"})
    lay = layout({0: {"fox": [0.5, 0.5, 0.51, 0.52], "hare": [0.0, 0.0, 1.0, 0.95]}})
    problems = check_layout(lay, c)
    assert ("small", "fox") in [(p.kind, p.entity) for p in problems]
    assert ("large", "hare") in [(p.kind, p.entity) for p in problems]
    fixed = fix_layout(lay, c, problems)
    assert not {"small", "large"} & set(kinds(check_layout(fixed, c)))
    fox = tracks_of(fixed)["fox"][0][1]
    assert abs(box_center(fox)[0] - 0.505) < 0.02  # grown around its centre, not moved


def test_entity_of_the_scene_without_a_track():
    c = ctx("the fox greets the hare", {"fox": "fox", "hare": "hare"})
    lay = layout({0: {"fox": [0.1, 0.45, 0.35, 0.9]}, 15: {"fox": [0.12, 0.45, 0.37, 0.9]}})
    problems = check_layout(lay, c)
    assert any(p.kind == "missing" and p.message.startswith("hare (hare) is in this scene but has no box") for p in problems)
    fixed = fixed_ok(lay, c, "missing")
    hare, fox = tracks_of(fixed)["hare"][0][1], tracks_of(fixed)["fox"][0][1]
    assert box_iou(hare, fox) == 0.0  # placed in a free slot


def test_left_to_right_event_moving_right_to_left():
    c = ctx("the fox runs from left to right across the snowy field", camera=CameraMotion.static)
    lay = layout({0: {"fox": [0.7, 0.5, 0.9, 0.8]}, 15: {"fox": [0.1, 0.5, 0.3, 0.8]}})
    problems = check_layout(lay, c)
    assert kinds(problems) == ["direction"]
    assert "should move from left to right" in problems[0].message and "[0.70, 0.50, 0.90, 0.80] at frame 0" in problems[0].message
    fixed = fixed_ok(lay, c, "direction")
    assert centre_x(fixed, "fox", -1) > centre_x(fixed, "fox", 0) + 0.3


def test_a_following_pan_holds_the_subject_and_a_static_camera_moves_it():
    """One rule for prompts, checks and fixes: a pan the way the subject moves follows it (box stays)."""
    event = "the fox runs from left to right across the snowy field"
    crossing = layout({0: {"fox": [0.05, 0.5, 0.25, 0.8]}, 15: {"fox": [0.7, 0.5, 0.9, 0.8]}})
    held = layout({0: {"fox": [0.35, 0.5, 0.55, 0.8]}, 15: {"fox": [0.4, 0.5, 0.6, 0.8]}})
    pan = ctx(event, camera=CameraMotion.pan_right)
    assert check_layout(held, pan) == [] and check_layout(crossing, ctx(event)) == []
    problems = check_layout(crossing, pan)
    assert kinds(problems) == ["follow"] and "the camera (pan_right) follows it, so its box stays near the same place" in problems[0].message
    fixed = fixed_ok(crossing, pan, "follow")
    assert abs(centre_x(fixed, "fox", -1) - centre_x(fixed, "fox", 0)) <= 0.15
    assert kinds(check_layout(held, ctx(event))) == ["direction"]  # static camera: the box must travel
    # a pan the other way does not follow: the box must still cross the frame
    assert kinds(check_layout(held, ctx(event, camera=CameraMotion.pan_left))) == ["direction"]


@pytest.mark.parametrize(
    ("event", "start", "end", "check"),
    [
        ("the horse gallops towards the camera", [0.4, 0.4, 0.6, 0.7], [0.45, 0.45, 0.55, 0.6], lambda a, b: box_area(b) > box_area(a) * 1.3),
        ("the balloon floats away from the camera", [0.3, 0.3, 0.7, 0.8], [0.3, 0.3, 0.7, 0.8], lambda a, b: box_area(a) > box_area(b) * 1.3),
        ("an apple falls from the branch", [0.45, 0.1, 0.55, 0.25], [0.45, 0.1, 0.55, 0.25], lambda a, b: box_center(b)[1] > box_center(a)[1] + 0.1),
        ("the rocket rises into the sky", [0.45, 0.6, 0.55, 0.9], [0.45, 0.65, 0.55, 0.95], lambda a, b: box_center(b)[1] < box_center(a)[1] - 0.1),
    ],
)
def test_motion_contradicting_direction_words(event, start, end, check):
    c = ctx(event, {"it": "horse" if "horse" in event else "it"})
    lay = layout({0: {"it": start}, 15: {"it": end}})
    fixed = fixed_ok(lay, c, "direction")
    track = tracks_of(fixed)["it"]
    assert check(track[0][1], track[-1][1])


def test_direction_words_that_are_not_motion():
    assert event_directions("the tired kitten falls asleep on the porch") == []
    assert event_directions("the cat jumps up and falls back into the snow") == []  # an arc, not a line
    assert event_directions("a red ball rolls in from the left") == ["right"]


def test_jump_between_keyframes():
    c = ctx("a fox sits, then suddenly appears on the other side", frames=16)
    lay = layout({0: {"fox": [0.05, 0.5, 0.25, 0.8]}, 2: {"fox": [0.75, 0.5, 0.95, 0.8]}, 15: {"fox": [0.75, 0.5, 0.95, 0.8]}})
    problems = check_layout(lay, c)
    assert [p.message for p in problems if p.kind == "jump"] == [
        "fox: jumps 0.70 of the frame between frames 0 and 2; move at most 0.15 per frame or add frames between"
    ]
    fixed_ok(lay, c, "jump")


def test_implausible_overlap_and_contact_words():
    people = {"girl": "girl", "boy": "boy"}
    lay = layout({0: {"girl": [0.3, 0.3, 0.55, 0.9], "boy": [0.32, 0.32, 0.56, 0.9]}})
    c = ctx("a girl and a boy wave at the train", people)
    assert "overlap" in kinds(check_layout(lay, c))
    fixed = fixed_ok(lay, c, "overlap")
    t = tracks_of(fixed)
    assert box_iou(t["girl"][0][1], t["boy"][0][1]) < 0.6
    assert "overlap" not in kinds(check_layout(lay, ctx("the girl carries the boy on her back", people)))


@pytest.mark.parametrize("camera", [CameraMotion.static, CameraMotion.zoom_in, CameraMotion.pan_right])
def test_background_motion_is_the_backgrounds_own_not_the_cameras(camera):
    """A river may flow past a static or zooming camera; a still field does not move because the camera pans."""
    river = ctx("a fox watches the river flow past", camera=camera, background="river bank with fast water")
    flowing = layout({0: {"fox": [0.4, 0.4, 0.6, 0.9]}}, dx=0.02)
    assert check_layout(flowing, river) == []
    still = ctx("a fox sits in the snow", camera=camera, background="snowy field")
    problems = check_layout(flowing, still)
    assert kinds(problems) == ["background"] and "nothing in it moves" in problems[0].message
    fixed = fixed_ok(flowing, still, "background")
    assert (fixed.background_motion.dx, fixed.background_motion.dy) == (0.0, 0.0)
    assert check_layout(layout({0: {"fox": [0.4, 0.4, 0.6, 0.9]}}), still) == []  # a pan needs no background motion


def test_a_keyframe_that_retells_the_whole_story():
    story = "a fox chases a hare across the snowy field, then sleeps under a pine tree"
    lay = LayoutReply.model_validate({"background_motion": {"dx": 0, "dy": 0}, "keyframes": [
        {"frame": 0, "description": "a fox chases a hare across the snowy field, then sleeps under a pine", "boxes": {"fox": [0.4, 0.4, 0.6, 0.9]}},
        {"frame": 15, "description": "the fox curls up", "boxes": {"fox": [0.4, 0.5, 0.6, 0.9]}}]})
    c = ctx("the fox curls up under the pine tree", prompt=story)
    problems = check_layout(lay, c)
    assert kinds(problems) == ["copy"] and problems[0].message.startswith("keyframe 0: its description repeats the whole story")
    fixed = fixed_ok(lay, c, "copy")
    assert fixed.keyframes[0].description == "the fox curls up under the pine tree"


def test_continuity_across_a_cut():
    prev = {"fox": (0.7, 0.5, 0.9, 0.8)}
    lay = layout({0: {"fox": [0.05, 0.5, 0.25, 0.8]}, 15: {"fox": [0.1, 0.5, 0.3, 0.8]}})
    c = ctx("the fox keeps sniffing the snow", previous=prev, continues=True)
    problems = check_layout(lay, c)
    assert kinds(problems) == ["continuity"] and "previous scene ended with it at [0.70, 0.50, 0.90, 0.80]" in problems[0].message
    fixed = fixed_ok(lay, c, "continuity")
    assert abs(centre_x(fixed, "fox", 0) - 0.8) < 0.01
    assert check_layout(lay, ctx("the fox keeps sniffing the snow", previous=prev, continues=False)) == []


def _as_layout(scene: Scene) -> LayoutReply:
    frames = sorted({k.frame for t in scene.tracks for k in t.keyframes} | {n.frame for n in scene.frames})
    return layout(
        {f: {t.entity: list(k.box) for t in scene.tracks for k in t.keyframes if k.frame == f} for f in frames},
        scene.background_motion.dx,
        scene.background_motion.dy,
    )


def test_the_bundled_example_passes_every_check():
    sb = Project.open(example_path("kitten-garden")).load()
    names = {e.id: e.name for e in sb.entities}
    for scene in sb.scenes:
        c = SceneContext(scene.id, scene.event, scene.num_frames, scene.camera.motion, {t.entity: names[t.entity] for t in scene.tracks})
        assert check_layout(_as_layout(scene), c) == [], scene.id
