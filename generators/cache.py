"""The render cache: a scene's clip is keyed by a hash of everything that determines it (as in ComfyUI).

The key covers the scene's JSON (without planner warnings), the entities it shows and the bytes of their
reference images, the generator's name, version and output-affecting settings, the encoder parameters,
fps, size, and (when the generator uses them) the seed and the storyboard style. A clip lives at
`renders/<generator>/<scene id>-<key>.mp4`, is written atomically, and carries a small sidecar
(`.json`) recording what was verified; a clip whose file changed since then is decoded again and redone
if it is damaged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowdrafter.core.atomic import atomic_path, atomic_write_text
from flowdrafter.core.errors import AssetError, RenderError
from flowdrafter.core.project import Project
from flowdrafter.core.storyboard import Storyboard

from .base import Generator, RenderContext
from .video import ENCODER_VERSION, probe

KEY_LENGTH = 20

_REF_HASHES: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    """sha256 of a file, remembered per (path, mtime, size) so unchanged references are hashed once."""
    st = path.stat()
    ident = (str(path), st.st_mtime_ns, st.st_size)
    digest = _REF_HASHES.get(ident)
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        digest = h.hexdigest()
        _REF_HASHES[ident] = digest
    return digest


def reference_digest(project: Project, rel: str) -> str:
    try:
        path = project.resolve_asset(rel)
        return file_digest(path)
    except AssetError as err:
        return f"unusable: {err}"
    except OSError:
        return "missing"


def key_payload(ctx: RenderContext, generator: Generator) -> dict[str, Any]:
    """Everything that determines one scene's clip, as plain JSON data."""
    sb, scene = ctx.storyboard, ctx.scene
    used = {t.entity for t in scene.tracks} | ({scene.background} if scene.background else set())
    entities = sorted((e for e in sb.entities if e.id in used), key=lambda e: e.id)
    payload: dict[str, Any] = {
        "scene": scene.model_dump(mode="json", exclude={"warnings"}),
        "entities": [e.model_dump(mode="json") for e in entities],
        "references": {e.id: reference_digest(ctx.project, e.reference.image) for e in entities if e.reference},
        "generator": {"name": generator.name, "version": generator.version, "settings": generator.cache_settings()},
        "encoder": ENCODER_VERSION,
        "fps": sb.fps,
        "size": [sb.width, sb.height],
        "options": ctx.options,
    }
    if generator.uses_seed:
        payload["seed"] = ctx.seed
    if generator.uses_style:
        payload["style"] = [sb.style, sb.negative_prompt]
    return payload


def scene_key(ctx: RenderContext, generator: Generator) -> str:
    text = json.dumps(key_payload(ctx, generator), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:KEY_LENGTH]


def generator_dir(project: Project, generator_name: str) -> Path:
    return project.renders_dir / generator_name


def clip_path(project: Project, generator_name: str, scene_id: str, key: str) -> Path:
    return generator_dir(project, generator_name) / f"{scene_id}-{key}.mp4"


@dataclass(frozen=True)
class Expected:
    frames: int
    width: int
    height: int


@dataclass(frozen=True)
class SceneJob:
    """A scene to render and its place in the cache: the key, the clip's path, what the clip must be."""

    scene_id: str
    key: str
    clip: Path
    expected: Expected


def _sidecar(clip: Path) -> Path:
    return clip.with_name(clip.name + ".json")


def _stat(clip: Path) -> list[int]:
    st = clip.stat()
    return [st.st_size, st.st_mtime_ns]


def verify_clip(clip: Path, expected: Expected, *, decode: bool = True) -> str | None:
    """None if the clip decodes to the expected frames and size, else what is wrong with it.
    `decode=False` only counts packets (for a clip ffmpeg has just written and reported success on)."""
    try:
        info = probe(clip, decode=decode)
    except RenderError as err:
        return str(err)
    if info.frames != expected.frames:
        return f"{clip.name} has {info.frames} frames, expected {expected.frames}"
    if (info.width, info.height) != (expected.width, expected.height):
        return f"{clip.name} is {info.width}x{info.height}, expected {expected.width}x{expected.height}"
    if info.codec != "h264" or info.pix_fmt != "yuv420p":
        return f"{clip.name} is {info.codec}/{info.pix_fmt}, expected h264/yuv420p"
    return None


def mark_verified(clip: Path, expected: Expected) -> None:
    data = {"frames": expected.frames, "width": expected.width, "height": expected.height, "stat": _stat(clip)}
    atomic_write_text(_sidecar(clip), json.dumps(data) + "\n")


def cached_clip_ok(clip: Path, expected: Expected) -> tuple[bool, str | None]:
    """(usable, problem). Trusts the sidecar when the file is unchanged since it was verified;
    otherwise decodes the clip fully and records the result."""
    if not clip.is_file():
        return False, None
    side = _sidecar(clip)
    try:
        data = json.loads(side.read_text())
        if data.get("stat") == _stat(clip) and [data.get("frames"), data.get("width"), data.get("height")] == [
            expected.frames, expected.width, expected.height,
        ]:  # fmt: skip
            return True, None
    except (OSError, ValueError, AttributeError):
        pass
    problem = verify_clip(clip, expected)
    if problem is not None:
        return False, problem
    try:
        mark_verified(clip, expected)
    except OSError:
        pass  # read-only renders folder: the clip is still good
    return True, None


def store_clip(clip: Path, expected: Expected, write: Callable[[Path], None], scene_id: str) -> None:
    """Commit a clip under its key: `write(tmp)` fills a temporary file next to it, which is checked and
    renamed into place only when whole (a local render encodes into it; a cluster render copies bytes)."""
    try:
        with atomic_path(clip) as tmp:
            write(tmp)
            problem = verify_clip(tmp, expected, decode=False)
            if problem:
                raise RenderError(f"scene {scene_id}: the rendered clip is wrong: {problem}")
    except OSError as err:
        raise RenderError(f"cannot write {clip}: {err.strerror or err}") from None
    mark_verified(clip, expected)


def discard(clip: Path) -> None:
    clip.unlink(missing_ok=True)
    _sidecar(clip).unlink(missing_ok=True)


def expected_for(sb: Storyboard, scene_id: str) -> Expected:
    scene = sb.scene(scene_id)
    if scene is None:
        raise RenderError(f"no scene with id '{scene_id}'")
    return Expected(scene.num_frames, sb.width, sb.height)
