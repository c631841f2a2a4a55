"""Any OpenAI-compatible server (llama.cpp server, Ollama, vLLM, LM Studio) by base URL and model name.

Replies are constrained with `response_format: {"type": "json_schema", ...}`. A server that rejects that
(HTTP 400 naming `response_format`) is asked once more with `{"type": "json_object"}`, the schema then
being only in the prompt. Every failure becomes one line a person can act on.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from flowdrafter.core.errors import ModelUnavailableError, PlanningError
from flowdrafter.core.settings import Settings

from .llm import Completion, TokenProgress


def chat_url(base: str) -> str:
    """`http://host:8080`, `.../v1` and `.../v1/chat/completions` all mean the same endpoint."""
    base = base.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    if base.endswith("/v1"):
        return base + "/chat/completions"
    return base + "/v1/chat/completions"


class OpenAIBackend:
    def __init__(self, settings: Settings):
        if not settings.llm_url or not settings.llm_url.startswith(("http://", "https://")):
            raise PlanningError(f"LLM server URL must start with http:// or https://, got '{settings.llm_url}'")
        self.url = chat_url(settings.llm_url)
        self.model = settings.llm_model
        self.timeout = settings.llm_timeout
        self.model_id = f"openai:{self.url}:{self.model}"
        self.json_schema_ok = True
        self.headers = {"Content-Type": "application/json"}
        if settings.llm_api_key:
            self.headers["Authorization"] = f"Bearer {settings.llm_api_key}"

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        schema: dict[str, Any],
        max_tokens: int,
        temperature: float,
        seed: int,
        on_tokens: TokenProgress | None = None,  # not streamed: the server's reply arrives whole
    ) -> Completion:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "seed": seed,
            "stream": False,
            "response_format": {"type": "json_schema", "json_schema": {"name": "reply", "strict": True, "schema": schema}},
        }
        start = time.perf_counter()
        fallback = {
            **body,
            "messages": [{"role": "system", "content": "Reply with JSON matching this schema: " + json.dumps(schema)}, *messages],
            "response_format": {"type": "json_object"},
        }
        if self.json_schema_ok:
            response = self._post(body)
            if response.status_code == 400 and "response_format" in response.text:
                self.json_schema_ok = False  # remembered for the rest of this plan
                response = self._post(fallback)
        else:
            response = self._post(fallback)
        if response.status_code >= 400:
            raise PlanningError(f"LLM server {self.url} answered HTTP {response.status_code}: {_short(response.text)}")
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise PlanningError(f"LLM server {self.url} sent a reply that is not an OpenAI chat completion: {_short(response.text)}") from None
        if not isinstance(text, str):
            raise PlanningError(f"LLM server {self.url} sent no message content")
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        tokens = usage.get("completion_tokens")
        if not isinstance(tokens, int):
            tokens = max(1, len(text) // 4)  # the server did not count; a rough figure for progress only
        return Completion(text, tokens, time.perf_counter() - start, choice.get("finish_reason") == "length")

    def _post(self, body: dict[str, Any]) -> httpx.Response:
        try:
            return httpx.post(self.url, json=body, headers=self.headers, timeout=self.timeout)
        except httpx.TimeoutException:
            raise PlanningError(
                f"LLM server {self.url} did not answer within {self.timeout:g} s (raise FLOWDRAFTER_LLM_TIMEOUT for slow models)"
            ) from None
        except httpx.ConnectError:
            raise ModelUnavailableError(
                f"cannot reach the LLM server at {self.url}; start it or fix --llm-url / FLOWDRAFTER_LLM_URL"
            ) from None
        except (httpx.HTTPError, httpx.InvalidURL) as err:
            raise PlanningError(f"LLM server {self.url}: {type(err).__name__}: {err}") from None


def _short(text: str, n: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n] + "..."
