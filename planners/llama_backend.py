"""llama-cpp-python in process: a local `.gguf` file, or a hub spec `repo_id:filename-pattern` fetched once
through `Llama.from_pretrained` (then served from the Hugging Face cache).

The model's own chat template (from the GGUF metadata) formats the messages, and a grammar compiled from
the stage's JSON schema constrains sampling. One model stays loaded per process; calls are serialized
because a `Llama` is not thread-safe.
"""

from __future__ import annotations

import json
import re
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from flowdrafter.core.errors import ModelUnavailableError, PlanningError
from flowdrafter.core.settings import Settings

from .llm import Completion, Progress, TokenProgress

_HUB_SPEC = re.compile(r"^(?P<repo>[\w.-]+/[\w.-]+):(?P<pattern>[^:]+)$")
_LOCK = threading.Lock()
REPORT_EVERY = 2.0  # seconds between progress reports during one generation


def parse_spec(spec: str) -> tuple[str, str] | Path:
    """A local file path, or (repo_id, filename pattern) for the hub."""
    spec = spec.strip()
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    m = _HUB_SPEC.match(spec)
    if m and not spec.startswith((".", "/", "~")):
        return (m.group("repo"), m.group("pattern"))
    return path


def _import_llama() -> Any:
    try:
        from llama_cpp import Llama
    except ImportError:
        raise ModelUnavailableError(
            "llama-cpp-python is not installed; `pip install llama-cpp-python`, or use a server with --llm-url"
        ) from None
    return Llama


@lru_cache(maxsize=1)
def _load(spec: str, n_ctx: int, stamp: float) -> Any:
    """The loaded model; `stamp` (the file's mtime) makes a rewritten file load again."""
    Llama = _import_llama()
    target = parse_spec(spec)
    if isinstance(target, Path):
        try:
            return Llama(model_path=str(target), n_ctx=n_ctx, verbose=False)
        except (ValueError, RuntimeError, OSError) as err:
            raise ModelUnavailableError(f"cannot load the LLM {target}: {err} (is it a complete .gguf file?)") from None
    repo, pattern = target
    try:
        return Llama.from_pretrained(repo_id=repo, filename=pattern, n_ctx=n_ctx, verbose=False)
    except Exception as err:  # huggingface_hub/httpx/requests report offline and missing files in many types
        raise ModelUnavailableError(
            f"cannot get the LLM '{repo}:{pattern}' from the Hugging Face hub ({_reason(err)}); "
            f"download a .gguf file and pass it with --llm /path/to/model.gguf (or FLOWDRAFTER_LLM), "
            f"or use a server with --llm-url"
        ) from None


def _reason(err: Exception) -> str:
    name = type(err).__name__
    text = " ".join(str(err).split())
    if "offline" in (name + text).lower():
        return "offline mode is on"
    if name in ("RepositoryNotFoundError", "GatedRepoError"):
        return "no such repository, or it needs a login"
    if name in ("EntryNotFoundError",) or (isinstance(err, ValueError) and "match" in text.lower()):
        return f"no file in the repository matches the pattern: {text[:160]}"
    if "connect" in (name + text).lower() or "resolve" in text.lower() or "network" in text.lower():
        return "no connection to the hub"
    return f"{name}: {text[:160]}"


@lru_cache(maxsize=64)
def _grammar(schema_json: str) -> Any:
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_json_schema(schema_json, verbose=False)


class LlamaBackend:
    def __init__(self, llama: Any, model_id: str, n_ctx: int):
        self.llama = llama
        self.model_id = model_id
        self.n_ctx = n_ctx

    @classmethod
    def load(cls, settings: Settings, progress: Progress | None = None) -> LlamaBackend:
        spec = settings.llm.strip()
        if not spec:
            raise ModelUnavailableError("no LLM configured; set --llm (a .gguf file or hub 'repo_id:pattern') or --llm-url")
        target = parse_spec(spec)
        if isinstance(target, Path):
            if not target.exists():
                raise ModelUnavailableError(
                    f"LLM model file {target} does not exist; pass a .gguf file with --llm (or FLOWDRAFTER_LLM)"
                )
            if not target.is_file():
                raise ModelUnavailableError(f"LLM model path {target} is not a file")
            st = target.stat()
            stamp, model_id = st.st_mtime, f"gguf:{target.resolve()}:{st.st_size}:{st.st_mtime_ns}"
        else:
            stamp, model_id = 0.0, f"hub:{target[0]}:{target[1]}"
            if progress:
                progress(f"loading LLM {target[0]} ({target[1]}) from the Hugging Face hub; the first use downloads it")
        with _LOCK:
            llama = _load(spec, settings.llm_ctx, stamp)
        return cls(llama, model_id, settings.llm_ctx)

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        schema: dict[str, Any],
        max_tokens: int,
        temperature: float,
        seed: int,
        on_tokens: TokenProgress | None = None,
    ) -> Completion:
        """One constrained reply. Not streamed: llama-cpp-python's streaming is far slower with a grammar;
        a pass-through logits processor reports progress per token instead."""
        from llama_cpp import LogitsProcessorList

        grammar = _grammar(json.dumps(schema, sort_keys=True))
        start = time.perf_counter()
        count = [0, 0.0, 0.0]  # sampling steps, time of the first one (prompt processed), time of the last report

        def report(input_ids: Any, scores: Any) -> Any:
            now = time.perf_counter()
            if count[0] == 0:
                count[1] = count[2] = now
            count[0] += 1
            if on_tokens and now - count[2] >= REPORT_EVERY:
                on_tokens(count[0], now - count[1])
                count[2] = now
            return scores

        with _LOCK:
            try:
                out = self.llama.create_chat_completion(
                    messages=messages,
                    grammar=grammar,
                    max_tokens=max_tokens,
                    temperature=temperature,
                    seed=seed,
                    logits_processor=LogitsProcessorList([report]) if on_tokens else None,
                )
            except ValueError as err:
                if "context window" in str(err):
                    raise PlanningError(
                        f"the prompt and reply need more than {self.n_ctx} tokens of context; raise FLOWDRAFTER_LLM_CTX"
                    ) from None
                raise PlanningError(f"the LLM failed: {err}") from None
            except RuntimeError as err:  # llama.cpp decode failures surface as RuntimeError
                raise PlanningError(f"the LLM failed: {err}") from None
        choice = out["choices"][0]
        text = choice["message"].get("content") or ""
        tokens = int(out.get("usage", {}).get("completion_tokens") or 0)
        return Completion(text, tokens, time.perf_counter() - start, choice.get("finish_reason") == "length")
