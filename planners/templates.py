"""Prompt templates: versioned text files under `planners/prompts/` (package data), kept apart from parsing and backends.

A template file is a chat: `=== system`, `=== user`, `=== assistant` headers start messages (the few-shot
examples are user/assistant pairs), lines starting with `#` before the first header are comments, and
`$name` placeholders are filled by `render`. The file name carries the version (`script.v1.txt`); the
version plus a hash of the text goes into the reply cache key, so editing a template never serves stale
replies.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from string import Template as _Subst

PROMPTS_DIR = files("flowdrafter.planners") / "prompts"  # package data: works from a checkout and a wheel

# The template version each stage uses; bump it (and add the new file) when a prompt changes meaning.
VERSIONS = {"cast": 1, "script": 2, "rescene": 2, "entities": 2, "layout": 2, "refine": 2, "reask": 1, "identity": 1}

_HEADER = re.compile(r"^=== (system|user|assistant)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Template:
    name: str
    version: str  # e.g. "script.v1+3f2a9c1d"
    messages: tuple[tuple[str, str], ...]

    def render(self, **values: object) -> list[dict[str, str]]:
        """Chat messages with `$name` placeholders filled; a missing value is a bug, so it raises KeyError."""
        return [{"role": role, "content": _Subst(text).substitute(values)} for role, text in self.messages]


@lru_cache(maxsize=None)
def load(name: str) -> Template:
    path = PROMPTS_DIR / f"{name}.v{VERSIONS[name]}.txt"
    text = path.read_text(encoding="utf-8")
    parts = _HEADER.split(text)
    messages = tuple((role, body.strip("\n")) for role, body in zip(parts[1::2], parts[2::2]))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return Template(name, f"{name}.v{VERSIONS[name]}+{digest}", messages)
