"""llama-cpp-python in process: a local `.gguf` file, or a hub spec `repo_id:filename-pattern` fetched once
into the data folder by `core.downloads` (progress per file, cancel, resume, a clear line for a gated
repository), then loaded from there like a local file.

The model's own chat template (from the GGUF metadata) formats the messages, and a grammar compiled from
the stage's JSON schema constrains sampling. One model stays loaded per process; calls are serialized
because a `Llama` is not thread-safe.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from flowdrafter.core.downloads import hub_download
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
def _load(path: str, n_ctx: int, stamp: float) -> Any:
    """The loaded model; `stamp` (the file's mtime) makes a rewritten file load again."""
    Llama = _import_llama()
    try:
        return Llama(model_path=path, n_ctx=n_ctx, verbose=False)
    except (ValueError, RuntimeError, OSError) as err:
        raise ModelUnavailableError(f"cannot load the LLM {path}: {err} (is it a complete .gguf file?)") from None


def fetch_hub_model(
    repo: str, pattern: str, settings: Settings, progress: Progress | None = None, is_cancelled: Callable[[], bool] | None = None
) -> Path:
    """The hub GGUF in the data folder, downloaded on first use; offline and missing models are one line
    that says how to pass a local file instead."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        folder = settings.data_dir / "models" / "hub" / repo.replace("/", "--") / "main"
        found = sorted(p for p in folder.glob("*.gguf") if fnmatch.fnmatch(p.name, pattern))
        if found:
            return found[0]
        raise ModelUnavailableError(
            f"cannot get the LLM '{repo}:{pattern}': offline mode is on (HF_HUB_OFFLINE) and it was never downloaded; "
            f"pass a .gguf file with --llm /path/to/model.gguf (or FLOWDRAFTER_LLM), or use a server with --llm-url"
        )
    try:
        return hub_download(
            repo, pattern, settings.data_dir / "models" / "hub", setting="llm (--llm, FLOWDRAFTER_LLM)",
            progress=(lambda p: progress(p.line())) if progress else None, is_cancelled=is_cancelled,
        )
    except ModelUnavailableError as err:
        if "permission" in str(err):
            raise
        raise ModelUnavailableError(
            f"cannot get the LLM '{repo}:{pattern}' ({err}); pass a .gguf file with --llm /path/to/model.gguf "
            f"(or FLOWDRAFTER_LLM), or use a server with --llm-url"
        ) from None


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
    def load(cls, settings: Settings, progress: Progress | None = None, is_cancelled: Callable[[], bool] | None = None) -> LlamaBackend:
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
            path, model_id = target, None
        else:
            if progress:
                progress(f"loading LLM {target[0]} ({target[1]}) from the model hub; the first use downloads it")
            path, model_id = fetch_hub_model(target[0], target[1], settings, progress, is_cancelled), f"hub:{target[0]}:{target[1]}"
        st = path.stat()
        model_id = model_id or f"gguf:{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
        with _LOCK:
            llama = _load(str(path), settings.llm_ctx, st.st_mtime)
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
