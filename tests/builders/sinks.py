"""A frame sink for tests that call a generator's `render_scene` directly: it keeps the frames."""

from __future__ import annotations

import numpy as np


class ListSink:
    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []

    def write(self, frame: np.ndarray) -> None:
        self.frames.append(np.array(frame, copy=True))
