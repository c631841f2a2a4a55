"""The generator contract: render one scene of a storyboard into frames.

A generator never writes video files itself. It pushes frames (H x W x 3 uint8 arrays at the storyboard's
size) into the `FrameSink` it is given; the render cache owns the sink, so every clip has the same codec
parameters (and the stitcher can stream-copy them) and is committed atomically only when complete.

Generators register by name with `@register`, declare a `version` (bump it when output changes) and
report the settings that affect their output in `cache_settings()`, which goes into the cache key.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from flowdrafter.core.errors import Cancelled, RenderError
from flowdrafter.core.project import Project
from flowdrafter.core.settings import Settings, get_settings
from flowdrafter.core.storyboard import Scene, Storyboard


class FrameSink(Protocol):
    def write(self, frame: np.ndarray) -> None:
        """Append one RGB frame (height x width x 3, uint8)."""


ProgressFn = Callable[[float, str], None]


def _no_progress(fraction: float, message: str) -> None:
    return None


@dataclass
class RenderContext:
    """Everything a generator may read while rendering one scene."""

    project: Project
    storyboard: Storyboard
    scene_id: str
    progress: ProgressFn = _no_progress  # fraction of this scene done (0..1), short message
    is_cancelled: Callable[[], bool] = lambda: False
    options: dict[str, Any] = field(default_factory=dict)  # per-call knobs that are part of the cache key

    @property
    def scene(self) -> Scene:
        scene = self.storyboard.scene(self.scene_id)
        if scene is None:
            raise RenderError(f"no scene with id '{self.scene_id}'")
        return scene

    @property
    def seed(self) -> int:
        """The scene's own seed, else the storyboard seed offset by the scene's position (stable per scene)."""
        scene = self.scene
        if scene.seed is not None:
            return scene.seed
        return (self.storyboard.seed + 1000 * self.storyboard.scene_index(self.scene_id)) % 2**32

    def check_cancelled(self) -> None:
        if self.is_cancelled():
            raise Cancelled("render cancelled")


class Generator(ABC):
    name: ClassVar[str]
    version: ClassVar[str]
    description: ClassVar[str] = ""
    needs_gpu: ClassVar[bool] = False  # advisory: runs on the CPU too, only slowly
    uses_seed: ClassVar[bool] = True  # False: the seed is left out of the cache key (deterministic output)
    uses_style: ClassVar[bool] = True  # False: storyboard style/negative prompt are left out of the cache key

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or get_settings()

    def cache_settings(self) -> dict[str, Any]:
        """Settings that change this generator's output (model ids, steps, ...); part of the cache key."""
        return {}

    def scene_inputs(self, ctx: RenderContext) -> dict[str, Any]:
        """The scene as this generator reads it, for the cache key: the scene's JSON by default. A generator
        may leave out what it ignores (its clips are then reused when only that changes) or add what it
        derives (e.g. the prompt it sends to a model)."""
        return ctx.scene.model_dump(mode="json", exclude={"warnings"})

    def prepare_render(
        self,
        project: Project,
        storyboard: Storyboard,
        scene_ids: list[str],
        *,
        progress: ProgressFn = _no_progress,
        is_cancelled: Callable[[], bool] = lambda: False,
    ) -> Storyboard:
        """Work before the scenes are keyed and rendered (check models, make missing inputs); returns the
        storyboard to render, the given one by default. `progress(0.0, message)` reports what it does."""
        return storyboard

    @abstractmethod
    def render_scene(self, ctx: RenderContext, sink: FrameSink) -> None:
        """Write exactly `ctx.scene.num_frames` frames of `ctx.storyboard.width` x `height` to `sink`."""

    def close(self) -> None:
        """Free models and memory; the next render loads them again."""


_REGISTRY: dict[str, type[Generator]] = {}


def register(cls: type[Generator]) -> type[Generator]:
    """Class decorator: make a generator available by its `name`."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls!r} has no generator name")
    _REGISTRY[name] = cls
    return cls


def _load_builtin() -> None:
    # Importing the modules registers their generators; missing optional parts simply don't register.
    import importlib

    for module in ("flowdrafter.generators.animatic", "flowdrafter.generators.diffusion.drafter", "flowdrafter.generators.diffusion.layout_video"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if not (err.name or "").startswith("generators."):
                raise


def available() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def get_generator(name: str, settings: Settings | None = None) -> Generator:
    cls = _REGISTRY.get(name)
    if cls is None:  # load the others only when needed: the diffusion modules import torch (seconds)
        _load_builtin()
        cls = _REGISTRY.get(name)
    if cls is None:
        raise RenderError(f"no generator named '{name}'; available: {', '.join(sorted(_REGISTRY)) or 'none'}")
    return cls(settings)
