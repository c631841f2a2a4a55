"""The editor's handlers and session state: storyboard in, storyboard out, saved and undoable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from flowdrafter.core.errors import AssetError, FlowDrafterError, StoryboardError
from flowdrafter.core.project import Project
from flowdrafter.ui import handlers, state, views
from flowdrafter.ui.layout_editor import editor_value


def test_dragging_a_box_sets_a_keyframe_on_that_frame(sample_storyboard):
    # 512x320 frame: a box dragged to pixels (256, 160)-(384, 288) is the normalized box (.5, .5, .75, .9)
    sb = handlers.move_box(sample_storyboard, "s1", 7, "kitten", [256, 160, 384, 288])
    track = sb.scene("s1").track("kitten")
    assert [k.frame for k in track.keyframes] == [0, 7, 15]
    assert track.keyframes[1].box == pytest.approx((0.5, 0.5, 0.75, 0.9))
    assert sample_storyboard.scene("s1").track("kitten").keyframes[1].frame == 15  # input untouched


def test_a_box_dragged_past_the_edge_is_clamped_into_the_frame(sample_storyboard):
    sb = handlers.move_box(sample_storyboard, "s1", 0, "kitten", [-40, 300, 100, 400])
    x0, y0, x1, y1 = sb.scene("s1").track("kitten").keyframes[0].box
    assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1


def test_drawing_a_box_for_a_new_entity_adds_it_to_the_scene(sample_storyboard):
    sb, eid = handlers.draw_box(sample_storyboard, "s2", 3, "", "Blue Bird", [10, 10, 60, 50])
    assert eid == "blue-bird"
    assert sb.entity(eid).name == "Blue Bird" and sb.entity(eid).kind.value == "foreground"
    assert sb.scene("s2").track(eid).keyframes[0].frame == 3


def test_drawing_a_box_without_a_name_is_refused(sample_storyboard):
    with pytest.raises(StoryboardError, match="name"):
        handlers.draw_box(sample_storyboard, "s2", 3, "", "  ", [10, 10, 60, 50])


def test_background_entities_cannot_get_boxes(sample_storyboard):
    with pytest.raises(StoryboardError, match="background entity"):
        handlers.move_box(sample_storyboard, "s1", 0, "garden", [10, 10, 60, 50])


def test_deleting_a_keyframe_restores_the_interpolation(sample_storyboard):
    sb = handlers.move_box(sample_storyboard, "s1", 7, "kitten", [256, 160, 384, 288])
    sb = handlers.delete_keyframe(sb, "s1", 7, "kitten")
    assert sb.scene("s1").track("kitten") == sample_storyboard.scene("s1").track("kitten")


def test_frame_description_is_set_and_cleared(sample_storyboard):
    sb = handlers.set_frame_note(sample_storyboard, "s1", 8, "the ball bounces")
    assert views.frame_note(sb, "s1", 8)[0] == "the ball bounces"
    sb = handlers.set_frame_note(sb, "s1", 8, "")
    assert all(n.frame != 8 for n in sb.scene("s1").frames)


def test_scene_list_operations(sample_storyboard):
    sb, new_id = handlers.add_scene(sample_storyboard, "s1")
    assert [s.id for s in sb.scenes] == ["s1", new_id, "s2"]
    sb, copy_id = handlers.duplicate_scene(sb, "s2")
    assert sb.scene(copy_id).tracks == sb.scene("s2").tracks
    sb = handlers.move_scene(sb, copy_id, -1)
    assert [s.id for s in sb.scenes] == ["s1", new_id, copy_id, "s2"]
    sb, shown = handlers.delete_scene(sb, new_id)
    assert shown == copy_id and new_id not in {s.id for s in sb.scenes}


def test_scene_form_applies_every_field(sample_storyboard):
    sb = handlers.edit_scene(sample_storyboard, "s2", title="Sleep", event="the kitten sleeps", num_frames=20,
                             background="", camera_motion="pan_left", camera_strength=0.8, dx=0.02, dy=-0.01,
                             transition="cut", transition_frames=5)  # fmt: skip
    s = sb.scene("s2")
    assert (s.title, s.event, s.num_frames, s.background) == ("Sleep", "the kitten sleeps", 20, None)
    assert (s.camera.motion.value, s.camera.strength) == ("pan_left", 0.8)
    assert (s.background_motion.dx, s.background_motion.dy) == (0.02, -0.01)
    assert (s.transition.kind.value, s.transition.frames) == ("cut", 0)


def test_scene_form_refuses_an_empty_event(sample_storyboard):
    with pytest.raises(StoryboardError, match="event"):
        handlers.edit_scene(sample_storyboard, "s2", title="", event=" ", num_frames=12, background="garden",
                            camera_motion="static", camera_strength=0.5, dx=0, dy=0, transition="cut", transition_frames=0)  # fmt: skip


def _png(path: Path, size=(64, 48)) -> Path:
    Image.new("RGB", size, (200, 30, 30)).save(path)
    return path


def test_uploading_a_photo_makes_it_the_reference(project, tmp_path):
    sb = project.load()
    new = handlers.upload_reference(project, sb, "kitten", str(_png(tmp_path / "cat.png")))
    ref = new.entity("kitten").reference
    assert ref.source == "upload" and project.resolve_asset(ref.image).is_file()


@pytest.mark.parametrize("kind", ["truncated", "not-an-image", "bomb"])
def test_bad_uploads_are_refused_and_nothing_is_stored(project, tmp_path, kind):
    bad = tmp_path / "bad.png"
    if kind == "truncated":
        bad.write_bytes(_png(tmp_path / "ok.png", (300, 300)).read_bytes()[:200])
    elif kind == "not-an-image":
        bad.write_text("just some text, not pixels")
    else:
        Image.new("1", (20000, 20000)).save(bad)  # 400 megapixels, a few KB on disk
    sb = project.load()
    before = sorted(p.name for p in project.assets_dir.iterdir())
    with pytest.raises(AssetError):
        handlers.upload_reference(project, sb, "kitten", str(bad))
    assert sorted(p.name for p in project.assets_dir.iterdir()) == before


def test_commit_saves_and_undo_redo_walk_the_history(project):
    s = state.open_session(project.root)
    sb = state.storyboard(s)
    s = state.commit(s, handlers.move_box(sb, "s1", 7, "kitten", [256, 160, 384, 288]))
    saved = json.loads(project.storyboard_path.read_text())
    assert [k["frame"] for k in saved["scenes"][0]["tracks"][0]["keyframes"]] == [0, 7, 15]
    assert state.can_undo(s) and not state.can_redo(s)
    s, changed = state.undo(s)
    assert changed and Project(project.root).load() == sb
    assert state.can_redo(s)
    s, changed = state.redo(s)
    assert changed and 7 in [k.frame for k in Project(project.root).load().scene("s1").track("kitten").keyframes]


def test_sessions_are_plain_data_and_independent(project, tmp_path, sample_storyboard):
    other = Project.create(tmp_path / "other", sample_storyboard)
    a, b = state.open_session(project.root), state.open_session(other.root)
    a = state.commit(a, handlers.set_frame_note(state.storyboard(a), "s1", 3, "only in a"))
    json.dumps(a), json.dumps(b)  # a gr.State must hold plain data
    assert "only in a" in project.storyboard_path.read_text()
    assert "only in a" not in other.storyboard_path.read_text()


def test_no_project_is_a_clear_error():
    with pytest.raises(FlowDrafterError, match="no project is open"):
        state.storyboard(state.empty_session())


def test_editor_value_marks_keyframes_and_interpolated_boxes(sample_storyboard):
    v = editor_value(sample_storyboard, "s1", 7, Image.new("RGB", (512, 320)))
    boxes = {b["entity"]: b for b in v["boxes"]}
    assert not boxes["kitten"]["keyframe"]  # frame 7 lies between the kitten's keyframes 0 and 15
    assert {t["entity"]: t["frames"] for t in v["tracks"]} == {"kitten": [0, 15], "ball": [4]}
    assert v["image"].startswith("data:image/jpeg;base64,")
    assert v["notes"] == [0, 15] and v["addable"] == []  # both foreground entities are already on s1
    on_key = editor_value(sample_storyboard, "s1", 15)
    assert {b["entity"]: b["keyframe"] for b in on_key["boxes"]}["kitten"]


def test_scene_list_flags_scenes_with_planner_warnings(sample_doc):
    from flowdrafter.core.storyboard import parse_storyboard

    sample_doc["scenes"][1]["warnings"] = ["the kitten's box leaves the frame"]
    sb = parse_storyboard(sample_doc)
    labels = [label for label, _ in views.scene_choices(sb)]
    assert "⚠" in labels[1] and "⚠" not in labels[0]
    assert "leaves the frame" in views.scene_warnings(sb, "s2")


def test_an_event_with_a_stale_session_does_not_undo_the_previous_edit(project):
    # the browser can send the second event before the first one's new session has arrived
    stale = state.open_session(project.root)
    state.apply(stale, lambda sb: handlers.move_box(sb, "s1", 7, "kitten", [256, 160, 384, 288]))
    state.apply(stale, lambda sb: handlers.set_frame_note(sb, "s1", 3, "the ball wobbles"))
    saved = Project(project.root).load()
    assert 7 in [k.frame for k in saved.scene("s1").track("kitten").keyframes]
    assert "the ball wobbles" in [n.description for n in saved.scene("s1").frames]


def test_a_refused_edit_changes_nothing_on_disk(project):
    s = state.open_session(project.root)
    before = project.storyboard_path.read_text()
    with pytest.raises(StoryboardError):
        state.apply(s, lambda sb: handlers.move_box(sb, "s1", 99, "kitten", [0, 0, 10, 10]))  # frame 99 is past the end
    assert project.storyboard_path.read_text() == before and not state.can_undo(s)


def test_the_editors_release_adds_a_drawn_box_or_moves_one(sample_storyboard):
    sb, eid, added = handlers.released(sample_storyboard, "s2", 4, {"action": "add", "entity": "", "name": "Moth", "box": [10, 10, 60, 50]})
    assert (eid, added) == ("moth", True) and sb.scene("s2").track("moth").keyframes[0].frame == 4
    sb, eid, added = handlers.released(sb, "s2", 4, {"action": "move", "entity": "moth", "box": [100, 100, 160, 150]})
    assert (eid, added) == ("moth", False) and sb.scene("s2").track("moth").keyframes[0].box[0] == pytest.approx(100 / 512, abs=1e-5)
    with pytest.raises(StoryboardError, match="no box"):
        handlers.released(sb, "s2", 4, {"action": "move", "entity": "moth"})


def test_an_api_box_is_normalized_and_checked(sample_storyboard):
    sb = handlers.set_box(sample_storyboard, "s1", 3, "ball", [0.1, 0.2, 0.3, 0.4])
    assert sb.scene("s1").track("ball").keyframes[0].box == pytest.approx((0.1, 0.2, 0.3, 0.4))
    for box, frame, message in (([0.1, 0.2], 3, r"\[x0, y0, x1, y1\]"), (["a", 0, 1, 1], 3, r"\[x0, y0, x1, y1\]"),
                                ([0.5, 0.2, 0.3, 0.4], 3, "x0"), ([0.1, 0.2, 0.3, 0.4], 2.5, "whole number")):  # fmt: skip
        with pytest.raises(StoryboardError, match=message):
            handlers.set_box(sample_storyboard, "s1", frame, "ball", box)


def test_a_plan_goes_into_this_project_or_a_new_empty_folder(tmp_path):
    assert handlers.plan_target("this", "", has_project=True) is None
    assert handlers.plan_target("new", str(tmp_path / "fresh"), has_project=False) == tmp_path / "fresh"
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    for into, folder, has, message in (("new", "", True, "type a folder"), ("new", str(tmp_path / "full"), True, "not empty"),
                                       ("this", "", False, "no project is open")):  # fmt: skip
        with pytest.raises(FlowDrafterError, match=message):
            handlers.plan_target(into, folder, has)
    with pytest.raises(FlowDrafterError, match="describe the video"):
        handlers.plan_prompt("   ")
    assert handlers.replan_scene("layout", "s2") == "s2" and handlers.replan_scene("layout", "") is None
    assert handlers.replan_scene("script", "s2") is None


def test_gallery_and_candidate_clicks_pick_by_position(sample_storyboard):
    assert handlers.entity_at(sample_storyboard, 1, "kitten") == "ball"
    assert handlers.entity_at(sample_storyboard, 9, "kitten") == "kitten"
    assert handlers.candidate_at([("assets/a.png", 3), ("assets/b.png", 4)], 1) == ("assets/b.png", 4)
    with pytest.raises(FlowDrafterError, match="generate the candidates again"):
        handlers.candidate_at([], 0)
    with pytest.raises(FlowDrafterError, match="pick an entity first, then upload its photo"):
        handlers.upload_reference(None, sample_storyboard, "", "photo.png")


def test_the_absolute_paths_box_applies_to_timelines_only():
    from flowdrafter.generators.export import formats

    fmts = formats()
    assert handlers.export_options(fmts[".xml"].options, True) == {"absolute_paths": True}
    assert handlers.export_options(fmts[".xml"].options, False) == {}
    assert handlers.export_options(fmts[".mp4"].options, True) == {}
