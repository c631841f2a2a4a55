"""The LLM as the planner sees it: chat messages and a JSON schema in, text out.

Two backends implement `LLM`: llama-cpp-python in process (`planners.llama_backend`) and any
OpenAI-compatible server (`planners.openai_backend`). `open_llm` picks one from settings: `llm_url`, when
set, wins over `llm`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from flowdrafter.core.settings import Settings

Progress = Callable[[str], None]
TokenProgress = Callable[[int, float], None]  # (tokens so far, seconds so far), called every few seconds


@dataclass(frozen=True)
class Completion:
    text: str
    tokens: int  # generated tokens, as the backend counts them
    seconds: float
    truncated: bool = False  # stopped by max_tokens


class LLM(Protocol):
    model_id: str  # goes into the reply cache key

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        schema: dict[str, Any],
        max_tokens: int,
        temperature: float,
        seed: int,
        on_tokens: TokenProgress | None = None,
    ) -> Completion: ...


def open_llm(settings: Settings, progress: Progress | None = None, is_cancelled: Callable[[], bool] | None = None) -> LLM:
    """The backend the settings ask for; raises `ModelUnavailableError`/`PlanningError` with a fix to try.
    A hub model is downloaded on first use, reporting progress; `is_cancelled()` stops the download."""
    if settings.llm_url:
        from .openai_backend import OpenAIBackend

        return OpenAIBackend(settings)
    from .llama_backend import LlamaBackend

    return LlamaBackend.load(settings, progress, is_cancelled)
