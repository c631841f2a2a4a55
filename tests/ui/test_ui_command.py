"""`flowdrafter ui`: which project it opens, and its safety defaults."""

from __future__ import annotations

import json

import pytest

from flowdrafter.core.errors import FlowDrafterError, ProjectError
from flowdrafter.ui.app import exposure_warning, start_session
from flowdrafter.ui.cli import build_parser
from flowdrafter.ui.cli.ui_cmds import parse_auth


def test_a_new_folder_gets_a_copy_of_the_example(tmp_path):
    s = start_session(tmp_path / "mine", "kitten-garden")
    assert (tmp_path / "mine" / "storyboard.json").is_file()
    assert s["storyboard"]["title"] == json.loads((tmp_path / "mine" / "storyboard.json").read_text())["title"]


def test_an_existing_project_is_opened_not_overwritten(tmp_path, project):
    project.save(project.load().model_copy(update={"title": "Mine"}))
    assert start_session(project.root)["storyboard"]["title"] == "Mine"


def test_a_non_empty_folder_that_is_not_a_project_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ProjectError, match="not a FlowDrafter project"):
        start_session(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_without_a_folder_the_example_lands_in_the_data_folder_once(tmp_path):
    first = start_session(None, "kitten-garden", data_dir=tmp_path)
    again = start_session(None, "kitten-garden", data_dir=tmp_path)
    assert first["project"] == again["project"] and first["project"].startswith(str(tmp_path))


def test_loopback_is_quiet_and_exposed_without_password_is_loud():
    assert exposure_warning("127.0.0.1", None) is None
    assert exposure_warning("0.0.0.0", ("me", "secret")) is None
    warning = exposure_warning("0.0.0.0", None)
    assert "WARNING" in warning and "WITHOUT a password" in warning


def test_auth_setting_must_be_user_colon_password():
    assert parse_auth("me:pa:ss") == ("me", "pa:ss")
    assert parse_auth(None) is None
    with pytest.raises(FlowDrafterError, match="user:password"):
        parse_auth("nopassword")


def test_ui_command_defaults_to_loopback_and_is_the_default_command(monkeypatch):
    parser, commands = build_parser()
    assert "ui" in commands
    args = parser.parse_args(["ui", "some/dir", "--port", "7999"])
    assert (str(args.dir), args.port, args.host) == ("some/dir", 7999, None)
    from flowdrafter.core.settings import get_settings

    assert get_settings().host == "127.0.0.1"


def test_a_busy_port_is_one_clear_line_not_a_traceback(tmp_path, capsys):
    import socket

    from flowdrafter.ui.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["ui", str(tmp_path / "p"), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "Traceback" not in err
