"""Reply cache on disk: the raw text of each LLM reply, keyed by everything that determines it.

The key covers the model id, the template version, the stage and the full input (messages, schema,
sampling settings), so re-planning the same prompt is instant and tests are deterministic; a changed
template or model never serves an old reply. Files live under `settings.data_dir / "llm-cache"`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from flowdrafter.core.atomic import atomic_write_text


def reply_key(*, model_id: str, template: str, stage: str, request: dict[str, Any]) -> str:
    """Keys are not sorted: the order of a schema's properties is the order the model writes them in."""
    blob = json.dumps({"model": model_id, "template": template, "stage": stage, "request": request}, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ReplyCache:
    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            entry = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # missing or damaged: ask the LLM again
        return entry if isinstance(entry, dict) and isinstance(entry.get("text"), str) else None

    def put(self, key: str, entry: dict[str, Any]) -> None:
        try:
            atomic_write_text(self._path(key), json.dumps(entry, ensure_ascii=False))
        except OSError:
            pass  # a cache that cannot be written only costs time
