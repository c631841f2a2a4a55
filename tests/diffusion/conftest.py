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
