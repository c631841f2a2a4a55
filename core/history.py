"""Bounded undo/redo over storyboard snapshots.

Snapshots are the document's JSON text: immutable, cheap to compare, and the same thing the editor keeps
in its session state, so a history can be rebuilt from plain data.
"""

from __future__ import annotations

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
        snap = before.to_json()
        if self.undo_stack and self.undo_stack[-1] == snap:
            return
        self.undo_stack.append(snap)
        del self.undo_stack[: -self.limit]
        self.redo_stack.clear()

    def undo(self, current: Storyboard) -> Storyboard | None:
        if not self.undo_stack:
            return None
        self.redo_stack.append(current.to_json())
        return _load(self.undo_stack.pop())

    def redo(self, current: Storyboard) -> Storyboard | None:
        if not self.redo_stack:
            return None
        self.undo_stack.append(current.to_json())
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


def _load(text: str) -> Storyboard:
    import json

    return load_storyboard(json.loads(text))
