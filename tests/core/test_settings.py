"""Settings: FLOWDRAFTER_* environment variables, a TOML config file, and one clear message for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowdrafter.core.errors import FlowDrafterError
from flowdrafter.core.settings import Settings, get_settings, load_settings


@pytest.fixture(autouse=True)
def no_user_config(monkeypatch, tmp_path):
    """Never read the real ~/.config of whoever runs the tests."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FLOWDRAFTER_CONFIG", raising=False)
    for name in ("FLOWDRAFTER_MAX_IMAGE_BYTES", "FLOWDRAFTER_HISTORY_KEEP", "FLOWDRAFTER_DEVICE", "FLOWDRAFTER_PORT"):
        monkeypatch.delenv(name, raising=False)


def config(tmp_path: Path, monkeypatch, text: str) -> Path:
    path = tmp_path / "flowdrafter.toml"
    path.write_text(text)
    monkeypatch.setenv("FLOWDRAFTER_CONFIG", str(path))
    return path


def test_defaults():
    s = load_settings()
    assert (s.history_keep, s.max_image_bytes, s.host, s.device) == (10, 25 * 2**20, "127.0.0.1", "auto")


def test_environment_variables_with_prefix(monkeypatch):
    monkeypatch.setenv("FLOWDRAFTER_HISTORY_KEEP", "3")
    monkeypatch.setenv("FLOWDRAFTER_DEVICE", "cpu")
    monkeypatch.setenv("HISTORY_KEEP", "7")  # no prefix: not ours
    s = load_settings()
    assert (s.history_keep, s.device) == (3, "cpu")


def test_config_file_and_environment_wins(tmp_path, monkeypatch):
    config(tmp_path, monkeypatch, 'history_keep = 4\ndevice = "cpu"\nt2i_model = "/models/sd15"\n')
    s = load_settings()
    assert (s.history_keep, s.device, s.t2i_model) == (4, "cpu", "/models/sd15")
    monkeypatch.setenv("FLOWDRAFTER_HISTORY_KEEP", "6")
    assert load_settings().history_keep == 6
    assert load_settings(history_keep=8).history_keep == 8  # explicit overrides (CLI flags) win over both


def test_default_config_location_is_used_when_present(tmp_path, monkeypatch):
    path = tmp_path / "home" / ".config" / "flowdrafter" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text("history_keep = 2\n")
    assert load_settings().history_keep == 2


def test_get_settings_is_cached_until_cleared(monkeypatch):
    first = get_settings()
    monkeypatch.setenv("FLOWDRAFTER_HISTORY_KEEP", "5")
    assert get_settings() is first
    get_settings.cache_clear()
    assert get_settings().history_keep == 5


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("FLOWDRAFTER_MAX_IMAGE_BYTES", "lots",
         'setting max_image_bytes (FLOWDRAFTER_MAX_IMAGE_BYTES): must be a whole number, got "lots"'),
        ("FLOWDRAFTER_HISTORY_KEEP", "0", "setting history_keep (FLOWDRAFTER_HISTORY_KEEP): must be at least 1, got \"0\""),
        ("FLOWDRAFTER_DEVICE", "tpu",
         'setting device (FLOWDRAFTER_DEVICE): must be one of auto, cuda, mps, cpu, got "tpu"'),
        ("FLOWDRAFTER_PORT", "70000", "setting port (FLOWDRAFTER_PORT): must be at most 65535, got \"70000\""),
    ],
)
def test_bad_environment_value_is_one_clear_message(monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    with pytest.raises(FlowDrafterError) as info:
        load_settings()
    assert str(info.value) == expected


def test_bad_value_in_config_file_names_the_file(tmp_path, monkeypatch):
    path = config(tmp_path, monkeypatch, 'history_keep = "many"\n')
    with pytest.raises(FlowDrafterError) as info:
        load_settings()
    assert str(info.value) == f'setting history_keep (in {path}): must be a whole number, got "many"'


def test_bad_override_is_named_as_given():
    with pytest.raises(FlowDrafterError) as info:
        load_settings(port=-1)
    assert str(info.value) == "setting port (given): must be at least 0, got -1"


def test_malformed_config_file(tmp_path, monkeypatch):
    path = config(tmp_path, monkeypatch, "history_keep = \n")
    with pytest.raises(FlowDrafterError) as info:
        load_settings()
    assert str(info.value).startswith(f"config file {path}: ")
    assert "line 1" in str(info.value)


def test_unknown_key_in_config_file_is_a_typo_not_silence(tmp_path, monkeypatch):
    path = config(tmp_path, monkeypatch, "histroy_keep = 3\nport = 8000\n")
    with pytest.raises(FlowDrafterError) as info:
        load_settings()
    assert str(info.value) == f"config file {path}: unknown setting histroy_keep"


def test_missing_config_file(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWDRAFTER_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(FlowDrafterError) as info:
        load_settings()
    assert str(info.value) == f"config file {tmp_path / 'nope.toml'} does not exist (set by FLOWDRAFTER_CONFIG)"


def test_settings_can_be_built_directly_for_tests_and_tools():
    assert Settings(llm="/tmp/tiny.gguf").llm == "/tmp/tiny.gguf"
