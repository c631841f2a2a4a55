"""The OpenAI-compatible path end to end, against a real HTTP server on 127.0.0.1 replaying hand-written
replies (see conftest.py): clean plans, misbehaving models, a French prompt, errors and a timeout."""

from __future__ import annotations

import pytest

from flowdrafter.core.errors import FlowDrafterError, ModelUnavailableError, PlanningError
from flowdrafter.core.layout import box_center
from flowdrafter.core.storyboard import CameraMotion, Storyboard, TransitionKind
from flowdrafter.planners.pipeline import plan

from .conftest import BROKEN, CAT, KITTEN, NOT_JSON, ROBOT, SLOW


def test_clean_plan_has_scenes_entities_descriptions_and_layouts(server_settings, replay_server):
    messages: list[str] = []
    sb = plan(KITTEN, settings=server_settings, scenes=3, seed=7, progress=messages.append)

    assert isinstance(Storyboard.model_validate(sb.model_dump()), Storyboard)
    assert [s.id for s in sb.scenes] == ["s1", "s2", "s3"]
    assert sb.title == "Kitten and the red ball" and sb.seed == 7 and sb.fps == 8 and (sb.width, sb.height) == (512, 320)
    # the same character keeps one id across scenes, whatever the script called it ("the kitten", "Red ball")
    assert [e.id for e in sb.entities] == ["kitten", "red-ball", "garden", "porch"]
    assert all(e.description for e in sb.entities)
    assert sb.entity("kitten").description.startswith("a small grey tabby kitten")
    s1, s2, s3 = sb.scenes
    assert {t.entity for t in s2.tracks} == {"kitten", "red-ball"}
    assert s2.num_frames == 24 and s2.camera.motion is CameraMotion.static and s2.background_motion.dx == 0
    # "continues" became a hard cut into s2; s3 starts a new moment, so s2 crossfades into it
    assert s1.transition.kind is TransitionKind.cut and s2.transition.kind is TransitionKind.crossfade
    assert s3.background == "porch" and [n.description for n in s3.frames][-1] == "the kitten sleeps curled up"
    assert any("tokens/s" in m for m in messages) and any(m.startswith("layout s3") for m in messages)


def test_wrong_direction_is_sent_back_and_the_llm_fix_is_used(server_settings, replay_server):
    sb = plan(KITTEN, settings=server_settings, scenes=3)

    refine_requests = [b for b in replay_server.requests if "keyframes" in str(b["response_format"]) and b["messages"][-1]["content"].startswith("Checking your reply")]
    assert len(refine_requests) == 1
    feedback = refine_requests[0]["messages"][-1]["content"]
    assert "kitten: the event says it should move from left to right" in feedback
    assert "continues the previous action" in feedback  # it also started far from where s1 left it
    kitten = sb.scene("s2").track("kitten")
    assert box_center(kitten.keyframes[-1].box)[0] - box_center(kitten.keyframes[0].box)[0] > 0.3
    assert len(kitten.keyframes) == 3  # the LLM's corrected layout, not a deterministic fix
    assert sb.scene("s2").warnings == []


def test_without_refinement_rounds_the_direction_is_repaired_and_reported(server_settings):
    settings = server_settings.model_copy(update={"llm_refine_rounds": 0})
    sb = plan(KITTEN, settings=settings, scenes=3)

    kitten = sb.scene("s2").track("kitten")
    assert box_center(kitten.keyframes[-1].box)[0] > box_center(kitten.keyframes[0].box)[0] + 0.1
    assert any(w.startswith("layout s2: fixed automatically: kitten: the event says it should move from left to right") for w in sb.scene("s2").warnings)


def test_misbehaving_model_is_reasked_then_repaired(server_settings, replay_server):
    sb = plan(ROBOT, settings=server_settings, scenes=2)

    # script: fenced JSON with chatter and duration 7.7e98 -> re-asked, quoting the validator
    script_turns = replay_server.turns("script")
    assert script_turns == [("script", "first"), ("script", "reask")]
    reask = [b for b in replay_server.requests if b["messages"][-1]["content"].startswith("Your reply could not be used")][0]
    assert "scene #1: duration" in reask["messages"][-1]["content"] and "7.7e+98" in reask["messages"][-1]["content"]
    assert "\t" not in sb.scene("s1").event and "watering the pots" in sb.scene("s1").event
    # entities: an unknown id and a missing one, twice -> unknown dropped, missing filled from the name
    assert sb.entity("robot").description.startswith("a small round white robot")
    assert sb.entity("balcony").description == "balcony"
    assert sb.entity("robot-1") is None
    assert any("entities" in w and "repaired" in w for w in sb.scenes[0].warnings)
    # layout s1: cut-off JSON with NaN, then a refusal -> the cut-off reply is repaired (one keyframe: the
    # robot waits at the left while the pan follows it), so no refinement is needed
    s1 = sb.scene("s1")
    robot = s1.track("robot")
    assert abs(box_center(robot.keyframes[-1].box)[0] - box_center(robot.keyframes[0].box)[0]) <= 0.15  # the pan follows it
    assert s1.background_motion.dx == 0  # the repair's NaN became 0: the balcony does not move
    assert any(w.startswith("layout s1: the LLM's reply was repaired automatically") for w in s1.warnings)


def test_prompt_in_another_language_is_planned(server_settings):
    sb = plan(CAT, settings=server_settings, scenes=2)
    assert sb.prompt == CAT
    assert sb.title == "The black cat and the moon"
    assert [e.id for e in sb.entities] == ["black-cat", "rooftop-at-night"]
    cat = sb.scene("s1").track("black-cat")
    assert box_center(cat.keyframes[-1].box)[1] < box_center(cat.keyframes[0].box)[1]  # jumps up


def test_second_plan_comes_from_the_cache(server_settings, replay_server):
    first = plan(CAT, settings=server_settings, scenes=2)
    asked = len(replay_server.requests)
    second = plan(CAT, settings=server_settings, scenes=2)
    assert len(replay_server.requests) == asked
    assert second == first
    plan(CAT, settings=server_settings, scenes=2, use_cache=False)
    assert len(replay_server.requests) == 2 * asked
    assert (server_settings.data_dir / "llm-cache").is_dir()


def test_timeout_is_one_clear_error(server_settings):
    settings = server_settings.model_copy(update={"llm_timeout": 0.5})
    with pytest.raises(PlanningError, match=r"did not answer within 0.5 s .*FLOWDRAFTER_LLM_TIMEOUT"):
        plan(SLOW, settings=settings, scenes=3, use_cache=False)


def test_http_error_names_the_status_and_the_server_message(server_settings):
    with pytest.raises(PlanningError, match=r"answered HTTP 500: .*CUDA out of memory"):
        plan(BROKEN, settings=server_settings, scenes=2)


def test_reply_that_is_not_a_chat_completion(server_settings):
    with pytest.raises(PlanningError, match="not an OpenAI chat completion"):
        plan(NOT_JSON, settings=server_settings, scenes=2)


def test_unreachable_server(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from flowdrafter.core.settings import Settings

    settings = Settings(llm_url=f"http://127.0.0.1:{port}", data_dir=tmp_path)
    with pytest.raises(ModelUnavailableError, match=r"cannot reach the LLM server at http://127.0.0.1:\d+/v1/chat/completions"):
        plan("a fox runs", settings=settings)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompt": ""}, "the prompt is empty"),
        ({"prompt": " \n\t\x00 "}, "the prompt is empty"),
        ({"prompt": "word " * 4000}, "keep it under 4,000"),
        ({"scenes": 0}, "scenes must be between 1 and 12, got 0"),
        ({"scenes": 500}, "scenes must be between 1 and 12, got 500"),
        ({"size": "500x300"}, "width 500 must be a multiple of 8"),
        ({"size": "big"}, "size must look like 512x320"),
        ({"fps": 0}, "fps must be between 1 and 60"),
    ],
)
def test_bad_input_is_refused_before_asking(server_settings, replay_server, kwargs, message):
    args = {"prompt": KITTEN, **kwargs}
    with pytest.raises(FlowDrafterError, match=message):
        plan(args.pop("prompt"), settings=server_settings, **args)
    assert replay_server.requests == []


def test_replan_whole_script_keeps_settings_and_reference_images(server_settings):
    from flowdrafter.core.storyboard import Reference
    from flowdrafter.planners.pipeline import replan

    sb = plan(KITTEN, settings=server_settings, scenes=3, fps=12, size="640x384", seed=3)
    kitten = sb.entity("kitten").model_copy(update={"reference": Reference(image="assets/kitten.png", source="upload")})
    sb = sb.model_copy(update={"entities": [kitten if e.id == "kitten" else e for e in sb.entities], "negative_prompt": "text"})
    new = replan(sb, stage="script", settings=server_settings, seed=1)
    assert (new.fps, new.width, new.height, new.seed, new.negative_prompt) == (12, 640, 384, 3, "text")
    assert new.entity("kitten").reference == kitten.reference
    assert [s.id for s in new.scenes] == ["s1", "s2", "s3"]


def test_replan_refuses_unknown_stage_and_scene(server_settings):
    from flowdrafter.planners.pipeline import replan

    sb = plan(CAT, settings=server_settings, scenes=2)
    with pytest.raises(PlanningError, match="stage must be one of script, entities, layout"):
        replan(sb, stage="render", settings=server_settings)
    with pytest.raises(PlanningError, match="no scene 's7'"):
        replan(sb, stage="layout", scene_id="s7", settings=server_settings)


def test_server_without_json_schema_support_gets_the_schema_in_the_prompt(server_settings, replay_server):
    from .conftest import OLD_SERVER

    sb = plan(OLD_SERVER, settings=server_settings, scenes=1)
    assert sb.entity("dog").description == "a brown labrador with a red collar"
    formats = [b["response_format"]["type"] for b in replay_server.requests]
    assert formats == ["json_schema", "json_object", "json_object", "json_object", "json_object"]  # refused once, then remembered


def test_without_a_scene_count_the_llm_chooses(server_settings, replay_server):
    sb = plan(KITTEN, settings=server_settings)
    first = next(b for b in replay_server.requests if "scenes" in b["response_format"]["json_schema"]["schema"]["properties"])
    scenes = first["response_format"]["json_schema"]["schema"]["properties"]["scenes"]
    assert (scenes["minItems"], scenes["maxItems"]) == (1, 12)
    assert first["messages"][-1]["content"].endswith("Scenes: 2 to 6, your choice")
    assert len(sb.scenes) == 3
