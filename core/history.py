"""Bounded undo/redo over storyboard snapshots.

Snapshots are the document's JSON text, zlib-compressed and base64-encoded: immutable, cheap to compare,
plain data the editor keeps in its session state (so a history can be rebuilt from it), and about ten times
smaller than the text, which matters with a hundred steps per browser session.
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass, field

from .storyboard import Storyboard
from .upgrade import load_storyboard


@dataclass
class History:
    limit: int = 100
    undo_stack: list[str] = field(default_factory=list)
    redo_stack: list[str] = field(default_factory=list)

    def record(self, before: Storyboard) -> None:
        """Call with the document as it was before an edit."""
        snap = _pack(before.to_json())
        if self.undo_stack and self.undo_stack[-1] == snap:
            return
        self.undo_stack.append(snap)
        del self.undo_stack[: -self.limit]
        self.redo_stack.clear()

    def undo(self, current: Storyboard) -> Storyboard | None:
        if not self.undo_stack:
            return None
        self.redo_stack.append(_pack(current.to_json()))
        return _load(self.undo_stack.pop())

    def redo(self, current: Storyboard) -> Storyboard | None:
        if not self.redo_stack:
            return None
        self.undo_stack.append(_pack(current.to_json()))
        return _load(self.redo_stack.pop())

    @property
    def can_undo(self) -> bool:
        return bool(self.undo_stack)

    @property
    def can_redo(self) -> bool:
        return bool(self.redo_stack)

    def to_dict(self) -> dict:
        return {"limit": self.limit, "undo": list(self.undo_stack), "redo": list(self.redo_stack)}

    @classmethod
    def from_dict(cls, data: dict | None) -> History:
        data = data or {}
        return cls(limit=data.get("limit", 100), undo_stack=list(data.get("undo", [])), redo_stack=list(data.get("redo", [])))


def _pack(text: str) -> str:
    return base64.b64encode(zlib.compress(text.encode("utf-8"), 6)).decode("ascii")


def _load(snapshot: str) -> Storyboard:
    import json

    text = zlib.decompress(base64.b64decode(snapshot)).decode("utf-8")
    return load_storyboard(json.loads(text))
