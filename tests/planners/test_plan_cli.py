"""`flowdrafter plan` and `replan` as a person uses them: a project `check` accepts, progress on stderr,
one clear line and exit 2 for every mistake, re-planning one part without touching the rest."""

from __future__ import annotations

import json

import pytest

from flowdrafter.core.project import Project
from flowdrafter.ui.cli import main

from .conftest import CAT, KITTEN


@pytest.fixture
def data_env(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWDRAFTER_DATA_DIR", str(tmp_path / "data"))
    for var in ("FLOWDRAFTER_LLM", "FLOWDRAFTER_LLM_URL", "FLOWDRAFTER_CONFIG"):
        monkeypatch.delenv(var, raising=False)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_writes_a_project_that_check_accepts(replay_server, tmp_path, capsys, data_env):
    code, out, err = run(capsys, "plan", KITTEN, "-o", str(tmp_path / "p"), "--scenes", "3", "--llm-url", replay_server.url,
                         "--llm-model", "replay", "--seed", "5", "--fps", "12", "--size", "640x384")
    assert code == 0, err
    assert out.startswith(f"created {tmp_path / 'p'}: 'Kitten and the red ball', 3 scenes, 4 entities")
    assert "plan: script: writing 3 scenes" in err and "plan: layout s2:" in err and "tokens/s" in err
    assert run(capsys, "check", str(tmp_path / "p"))[0] == 0
    sb = Project.open(tmp_path / "p").load()
    assert (sb.fps, sb.width, sb.height, sb.seed) == (12, 640, 384, 5)
    assert sb.scene("s2").num_frames == 36  # 3 seconds at 12 fps
    assert replay_server.requests[0]["model"] == "replay"


def test_plan_in_another_language(replay_server, tmp_path, capsys, data_env):
    code, out, err = run(capsys, "plan", CAT, "-o", str(tmp_path / "p"), "--scenes", "2", "--llm-url", replay_server.url)
    assert code == 0, err
    assert "'The black cat and the moon', 2 scenes" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan", "", "--scenes", "2"], "the prompt is empty"),
        (["plan", "x" * 20000, "--scenes", "2"], "the prompt is 20,000 characters; keep it under 4,000"),
        (["plan", KITTEN, "--scenes", "0"], "scenes must be between 1 and 12, got 0"),
        (["plan", KITTEN, "--scenes", "500"], "scenes must be between 1 and 12, got 500"),
        (["plan", KITTEN, "--size", "100x100"], "width 100 must be a multiple of 8"),
    ],
)
def test_plan_bad_input_is_one_line_and_exit_2(replay_server, tmp_path, capsys, data_env, args, message):
    code, out, err = run(capsys, *args, "-o", str(tmp_path / "p"), "--llm-url", replay_server.url)
    assert code == 2
    assert err.count("\n") == 1 and message in err and err.startswith("flowdrafter: error: ")
    assert not (tmp_path / "p").exists() and replay_server.requests == []


def _error_line(err: str) -> str:
    """Progress lines may come first; the mistake itself is one line, and no traceback."""
    lines = err.strip().splitlines()
    assert "Traceback" not in err and sum(line.startswith("flowdrafter: error:") for line in lines) == 1
    assert all(line.startswith("plan: ") for line in lines[:-1])
    return lines[-1]


def test_plan_with_unreachable_server_or_missing_model(tmp_path, capsys, data_env):
    code, _, err = run(capsys, "plan", KITTEN, "-o", str(tmp_path / "p"), "--llm-url", "http://127.0.0.1:9")
    assert code == 2 and "cannot reach the LLM server at http://127.0.0.1:9/v1/chat/completions" in _error_line(err)
    code, _, err = run(capsys, "plan", KITTEN, "-o", str(tmp_path / "p"), "--llm", str(tmp_path / "missing.gguf"))
    assert code == 2 and "missing.gguf does not exist" in _error_line(err)
    assert not (tmp_path / "p").exists()


def test_plan_refuses_a_folder_that_is_not_empty_before_asking(replay_server, tmp_path, capsys, data_env):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "notes.txt").write_text("mine")
    code, _, err = run(capsys, "plan", KITTEN, "-o", str(tmp_path / "p"), "--llm-url", replay_server.url)
    assert code == 2 and "is not empty" in err and replay_server.requests == []
    assert (tmp_path / "p" / "notes.txt").read_text() == "mine"


@pytest.fixture
def planned(replay_server, tmp_path, capsys, data_env):
    code, _, err = run(capsys, "plan", KITTEN, "-o", str(tmp_path / "p"), "--scenes", "3", "--llm-url", replay_server.url)
    assert code == 0, err
    replay_server.requests.clear()
    return tmp_path / "p"


def _scenes(path) -> dict[str, dict]:
    return {s["id"]: s for s in json.loads((path / "storyboard.json").read_text())["scenes"]}


def test_replan_one_layout_leaves_the_rest_untouched(planned, replay_server, capsys):
    before = json.loads((planned / "storyboard.json").read_text())
    code, out, err = run(capsys, "replan", str(planned), "--scene", "s3", "--stage", "layout", "--llm-url", replay_server.url, "--seed", "9")
    assert code == 0, err
    assert out.strip() == f"replanned the layout of scene s3 in {planned.absolute()}"
    assert [t for t in replay_server.turns()] == [("layout", "first")]  # only scene s3 was asked about
    after = json.loads((planned / "storyboard.json").read_text())
    assert after["entities"] == before["entities"]
    assert [s for s in after["scenes"] if s["id"] != "s3"] == [s for s in before["scenes"] if s["id"] != "s3"]
    assert after["scenes"][2] == before["scenes"][2]  # the replayed model gave the same answer: nothing to save


def test_replan_entities_of_one_scene(planned, replay_server, capsys):
    before = Project.open(planned).load()
    code, _, err = run(capsys, "replan", str(planned), "--scene", "s3", "--stage", "entities", "--llm-url", replay_server.url)
    assert code == 0, err
    asked = replay_server.requests[0]["messages"][-1]["content"]
    assert "- kitten (foreground)" in asked and "- porch (background)" in asked and "red-ball" not in asked
    after = Project.open(planned).load()
    assert after.entity("red-ball") == before.entity("red-ball") and after.entity("garden") == before.entity("garden")
    assert [s.model_dump(exclude={"warnings"}) for s in after.scenes] == [s.model_dump(exclude={"warnings"}) for s in before.scenes]


def test_replan_script_of_one_scene(planned, replay_server, capsys):
    before = Project.open(planned).load()
    code, _, err = run(capsys, "replan", str(planned), "--scene", "s2", "--stage", "script", "--llm-url", replay_server.url)
    assert code == 0, err
    after = Project.open(planned).load()
    s2 = after.scene("s2")
    assert s2.event == "the kitten chases a yellow butterfly from right to left across the garden"
    assert {t.entity for t in s2.tracks} == {"kitten", "butterfly"} and s2.num_frames == 16
    assert after.entity("butterfly").description == "a small lemon-yellow butterfly with black-edged wings"
    assert after.entity("kitten") == before.entity("kitten")  # a known name keeps its id and description
    assert after.scene("s1") == before.scene("s1") and after.scene("s3") == before.scene("s3")
    assert s2.transition == before.scene("s2").transition and s2.warnings == []
    assert run(capsys, "check", str(planned))[0] == 0
    assert len(Project.open(planned).history()) == 1  # the previous version is kept


def test_replan_unknown_scene(planned, replay_server, capsys):
    code, _, err = run(capsys, "replan", str(planned), "--scene", "s9", "--llm-url", replay_server.url)
    assert code == 2 and err.strip() == "flowdrafter: error: no scene 's9' in this storyboard (scenes: s1, s2, s3)"
