"""Tiny random-weight models for every role, built once and cached by recipe hash in pytest's cache dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowdrafter.core.settings import Settings
from flowdrafter.generators.testing import tiny


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Tiny models gain nothing from threads; on a shared 2-core machine one thread is 2-3x faster."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_overrides(request: pytest.FixtureRequest) -> dict[str, str]:
    root = Path(request.config.cache.mkdir("flowdrafter-tiny-models"))
    return tiny.build_all(root)


@pytest.fixture(scope="session")
def tiny_settings(tiny_overrides: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings pointing every role at the tiny models; CPU, float32, two sampling steps."""
    return Settings(
        **tiny_overrides,
        data_dir=tmp_path_factory.mktemp("data"),
        device="cpu",
        dtype="float32",
        offload="none",
        steps=2,
    )


@pytest.fixture
def tiny_env(monkeypatch, tiny_overrides, tmp_path):
    """The environment of a person using the CLI with the tiny models (FLOWDRAFTER_* variables)."""
    from flowdrafter.core.settings import get_settings

    for key, value in tiny_overrides.items():
        monkeypatch.setenv(f"FLOWDRAFTER_{key.upper()}", value)
    monkeypatch.setenv("FLOWDRAFTER_STEPS", "2")
    monkeypatch.setenv("FLOWDRAFTER_DEVICE", "cpu")
    monkeypatch.setenv("FLOWDRAFTER_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()  # fixtures that ran earlier (project) may have read the settings already
    yield
    get_settings.cache_clear()
