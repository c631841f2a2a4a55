"""Project folders: opening, reading bad files, atomic saves (also under SIGKILL), history, path confinement."""

from __future__ import annotations

import json
import os
import random
import signal
import multiprocessing
import time
from pathlib import Path

import pytest

from flowdrafter.core.errors import AssetError, ProjectError, StoryboardError
from flowdrafter.core.project import Project, is_project
from flowdrafter.core.settings import get_settings
from flowdrafter.core.storyboard import Reference, Storyboard
from flowdrafter.core.edits import set_reference, update_scene
from flowdrafter.core.upgrade import load_storyboard

# -- creating and opening ------------------------------------------------------------------------------


def test_create_makes_the_folder_layout(project, sample_storyboard):
    assert sorted(p.name for p in project.root.iterdir()) == ["assets", "exports", "renders", "storyboard.json"]
    assert project.load() == sample_storyboard
    assert is_project(project.root) and Project.open(project.root).root == project.root


def test_create_refuses_to_overwrite(project, sample_storyboard, tmp_path):
    with pytest.raises(ProjectError, match="already holds a project"):
        Project.create(project.root, sample_storyboard)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(ProjectError, match="is not empty; choose a new folder"):
        Project.create(busy, sample_storyboard)
    assert (busy / "notes.txt").read_text() == "mine" and not (busy / "storyboard.json").exists()
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(ProjectError, match="exists and is not a folder"):
        Project.create(afile, sample_storyboard)


def test_opening_something_that_is_not_a_project(tmp_path):
    with pytest.raises(ProjectError) as info:
        Project.open(tmp_path / "nope")
    assert str(info.value) == f"{tmp_path / 'nope'} does not exist"
    (tmp_path / "file.json").write_text("{}")
    with pytest.raises(ProjectError) as info:
        Project.open(tmp_path / "file.json")
    assert str(info.value) == f"{tmp_path / 'file.json'} is not a folder"
    with pytest.raises(ProjectError) as info:
        Project.open(tmp_path)
    assert str(info.value) == f"{tmp_path} is not a FlowDrafter project (no storyboard.json)"
    (tmp_path / "storyboard.json").mkdir()
    with pytest.raises(ProjectError, match="is not a FlowDrafter project"):
        Project.open(tmp_path)


# -- reading bad files ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, expected",
    [
        (b'{"schema_version": 1,\n  "title": "x",,}', "malformed JSON at line 2 column 16: Expecting property name enclosed in double quotes"),
        (b"", "the file is empty"),
        (b"  \n", "the file is empty"),
        (b'{"title": "caf\xe9"}', "not UTF-8 text (byte 14)"),
        (b"[" * 100_000 + b"]" * 100_000, "malformed JSON: nested too deeply"),
        (b'{"fps": ' + b"9" * 5000 + b"}", "malformed JSON: Exceeds the limit (4300 digits) for integer string conversion"),
        (b"[1, 2]", "a storyboard is a JSON object, got list"),
        (b"{}", "the storyboard is empty"),
    ],
)
def test_bad_files_give_one_precise_problem(project, content, expected):
    project.storyboard_path.write_bytes(content)
    with pytest.raises(StoryboardError) as info:
        project.load()
    assert info.value.problems == [expected]
    assert info.value.source == str(project.storyboard_path)


def test_utf8_bom_is_accepted(project, sample_storyboard):
    project.storyboard_path.write_bytes(b"\xef\xbb\xbf" + sample_storyboard.to_json().encode())
    assert project.load() == sample_storyboard


# -- saving and history --------------------------------------------------------------------------------


def test_save_keeps_the_previous_versions_newest_last(project, sample_storyboard):
    sb = sample_storyboard
    for n in range(1, 4):
        sb = update_scene(sb, "s1", title=f"take {n}")
        project.save(sb, keep=10)
    titles = [json.loads(p.read_text())["scenes"][0]["title"] for p in project.history()]
    assert titles == ["The chase", "take 1", "take 2"]
    assert project.load().scenes[0].title == "take 3"


def test_history_keeps_only_the_last_ten_by_default(project, sample_storyboard):
    sb = sample_storyboard
    for n in range(1, 15):
        sb = update_scene(sb, "s1", title=f"take {n}")
        project.save(sb)
    history = project.history()
    assert len(history) == 10
    titles = [json.loads(p.read_text())["scenes"][0]["title"] for p in history]
    assert titles == [f"take {n}" for n in range(4, 14)]  # 13 older versions made, oldest 3 pruned
    assert all(load_storyboard(json.loads(p.read_text())) for p in history)


def test_history_size_follows_the_setting(project, sample_storyboard, monkeypatch):
    monkeypatch.setenv("FLOWDRAFTER_HISTORY_KEEP", "2")
    get_settings.cache_clear()
    sb = sample_storyboard
    for n in range(5):
        sb = update_scene(sb, "s1", title=f"take {n}")
        project.save(sb)
    assert len(project.history()) == 2


def test_saving_the_same_document_adds_no_history(project, sample_storyboard):
    project.save(sample_storyboard)
    project.save(sample_storyboard)
    assert project.history() == []


def test_a_damaged_file_is_archived_not_lost_when_saving_over_it(project, sample_storyboard):
    project.storyboard_path.write_bytes(b'{"half a fi\xff\xfe')
    project.save(sample_storyboard)
    assert [p.read_bytes() for p in project.history()] == [b'{"half a fi\xff\xfe']  # byte for byte
    assert project.load() == sample_storyboard


def test_saved_file_is_an_ordinary_readable_file(project):
    assert project.storyboard_path.stat().st_mode & 0o777 == 0o644
    assert not list(project.root.glob(".storyboard.json.*"))  # no temp files left behind


def _save_forever(root: str, a: Storyboard, b: Storyboard, ready) -> None:
    """The child: save A and B in turn, forever, through the real `Project.save` (with history pruning)."""
    project = Project(root)
    project.save(a, keep=3)
    ready.set()
    while True:
        project.save(b, keep=3)
        project.save(a, keep=3)


def big_doc(sample_doc: dict, title: str) -> dict:
    """~200 scenes, so that one save takes long enough to be killed in the middle of it."""
    scenes = []
    for i in range(200):
        s = json.loads(json.dumps(sample_doc["scenes"][0]))
        s["id"] = f"s{i + 1}"
        s["transition"] = {"kind": "cut", "frames": 0}
        scenes.append(s)
    return {**sample_doc, "title": title, "scenes": scenes}


def test_save_killed_at_random_moments_leaves_the_old_or_the_new_file(tmp_path, sample_doc):
    a_doc, b_doc = big_doc(sample_doc, "version A"), big_doc(sample_doc, "version B")
    a, b = load_storyboard(a_doc), load_storyboard(b_doc)
    a_text, b_text = a.to_json(), b.to_json()
    root = tmp_path / "p"
    root.mkdir()
    fork = multiprocessing.get_context("fork")  # a real child process, without paying for a fresh interpreter
    rng = random.Random(1234)
    seen = set()
    for _ in range(30):
        ready = fork.Event()
        proc = fork.Process(target=_save_forever, args=(str(root), a, b, ready), daemon=True)
        proc.start()
        try:
            assert ready.wait(60), "the saving child did not start"
            time.sleep(rng.uniform(0.0, 0.1))
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.join()
        assert proc.exitcode == -signal.SIGKILL
        text = (root / "storyboard.json").read_text()
        intact = text in (a_text, b_text)  # (a streaming `json.dump` into the file fails this within a few kills)
        assert intact, f"storyboard.json is neither the old nor the new version ({len(text)} of {len(a_text)} chars)"
        seen.add(text == a_text)
        load_storyboard(json.loads(text))  # parses and validates
        for old in Project(root).history():  # history files are written the same way
            assert old.read_text() in (a_text, b_text), f"{old.name} is damaged"
    assert seen == {True, False}, "the kills never landed on both sides of a save; the test proved little"


# -- path confinement ----------------------------------------------------------------------------------


def test_resolve_asset_accepts_paths_inside_the_project(project):
    assert project.resolve_asset("assets/cat.png") == project.root.resolve() / "assets" / "cat.png"
    assert project.resolve_asset("assets\\cat.png") == project.root.resolve() / "assets" / "cat.png"


@pytest.mark.parametrize(
    "rel, expected",
    [
        ("/etc/passwd", "asset path '/etc/passwd' must be relative to the project folder"),
        ("C:/Windows/win.ini", "asset path 'C:/Windows/win.ini' must be relative to the project folder"),
        ("../other/cat.png", "asset path '../other/cat.png' must not contain '..'"),
        ("assets/../../cat.png", "asset path 'assets/../../cat.png' must not contain '..'"),
        ("assets\\..\\..\\cat.png", "asset path 'assets\\..\\..\\cat.png' must not contain '..'"),
    ],
)
def test_resolve_asset_refuses_paths_that_leave(project, rel, expected):
    with pytest.raises(AssetError) as info:
        project.resolve_asset(rel)
    assert str(info.value) == expected


def test_a_symlink_inside_assets_that_points_outside_is_refused(project, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not yours")
    (project.assets_dir / "cat.png").symlink_to(secret)
    (project.assets_dir / "elsewhere").symlink_to(tmp_path)
    with pytest.raises(AssetError) as info:
        project.resolve_asset("assets/cat.png")
    assert str(info.value) == "asset path 'assets/cat.png' leaves the project folder (through a symlink?)"
    with pytest.raises(AssetError, match="leaves the project folder"):
        project.resolve_asset("assets/elsewhere/secret.png")


def test_a_symlink_that_stays_inside_is_fine(project):
    (project.assets_dir / "real.png").write_bytes(b"x")
    (project.assets_dir / "alias.png").symlink_to(project.assets_dir / "real.png")
    assert project.resolve_asset("assets/alias.png") == (project.assets_dir / "real.png").resolve()


def test_relative_refuses_files_outside(project, tmp_path):
    inside = project.assets_dir / "x.png"
    inside.write_bytes(b"x")
    assert project.relative(inside) == "assets/x.png"
    with pytest.raises(AssetError, match="is outside the project folder"):
        project.relative(tmp_path / "x.png")


def test_missing_assets_names_every_bad_reference(project, sample_storyboard, tmp_path):
    (project.assets_dir / "ok.png").write_bytes(b"x")
    (project.assets_dir / "folder.png").mkdir()
    (project.assets_dir / "out.png").symlink_to(tmp_path / "x.png")
    sb = set_reference(sample_storyboard, "kitten", Reference(image="assets/ok.png"))
    sb = set_reference(sb, "ball", Reference(image="assets/gone.png"))
    sb = set_reference(sb, "garden", Reference(image="assets/out.png"))
    assert project.missing_assets(sb) == [
        "entity ball: reference.image: assets/gone.png does not exist",
        "entity garden: reference.image: asset path 'assets/out.png' leaves the project folder (through a symlink?)",
    ]
    sb = set_reference(sb, "ball", Reference(image="assets/folder.png"))
    assert project.missing_assets(sb)[0] == "entity ball: reference.image: assets/folder.png is not a file"


def test_a_save_that_cannot_be_written_is_a_project_error_and_loses_nothing(project, sample_storyboard):
    project.history_dir.write_text("a file where the history folder should be")
    with pytest.raises(ProjectError) as info:
        project.save(update_scene(sample_storyboard, "s1", title="new"))
    assert str(info.value).startswith(f"cannot save {project.storyboard_path}: ")
    assert project.load() == sample_storyboard
