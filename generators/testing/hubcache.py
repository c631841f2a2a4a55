"""Write Hugging Face cache snapshots (`hub/models--owner--name/snapshots/<rev>/...`, `refs/main`) of real
model architectures with random weights, so that unchanged hub ids load offline through `from_pretrained`.

A `Snapshot` is a plan first: small files (configs, tokenizers, model_index.json) as bytes, and weight files
as lists of (tensor name, shape, dtype). The plan's digest is the snapshot's revision, so a snapshot is
rebuilt exactly when its recipe (a config value, a file name, a shape) or this writer changes, and every
other snapshot is reused. Weights are filled tensor by tensor with a seeded normal draw (std 1/sqrt(fan_in),
norms at 1, biases at 0: activations stay finite at any depth) and streamed into the safetensors file, so
building a 6 GB UNet never holds more than its largest tensor in memory.

Builds take a file lock (one builder at a time per cache), happen in a private folder and are renamed into
place, and `refs/main` is replaced atomically: concurrent or interrupted builds never leave half a snapshot.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import shutil
import struct
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from flowdrafter.core.atomic import atomic_write_text

_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: torch.dtype
    kind: str  # "weight" (normal, std 1/sqrt(fan_in)), "ones", "zeros", "sinusoid" (a positional table)


@dataclass
class Snapshot:
    """The planned files of one hub repo; `write` makes them, `digest` names the plan."""

    repo: str
    files: dict[str, bytes] = field(default_factory=dict)
    weights: dict[str, list[TensorSpec]] = field(default_factory=dict)
    cuts: list[dict[str, Any]] = field(default_factory=list)  # depth cut to fit 24 GB: where, published, used

    # -- planning ---------------------------------------------------------------------------------------

    def json(self, path: str, obj: Any) -> None:
        self.files[path] = (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()

    def folder(self, path: str, write: Callable[[Path], None]) -> None:
        """Every file that `write(folder)` makes (e.g. a tokenizer's `save_pretrained`), under `path`."""
        with tempfile.TemporaryDirectory(prefix="realshape-") as tmp:
            write(Path(tmp))
            for file in sorted(Path(tmp).rglob("*")):
                if file.is_file():
                    self.files[f"{path}/{file.relative_to(tmp)}".lstrip("/")] = file.read_bytes()

    def tensors(self, path: str, specs: list[TensorSpec]) -> None:
        self.weights[path] = list(specs)

    def model(self, subfolder: str, model: torch.nn.Module, weight_file: str, dtype: torch.dtype) -> None:
        """A diffusers or transformers model built on the meta device: its config file and its weights."""
        prefix = f"{subfolder}/" if subfolder else ""
        if hasattr(model, "save_config"):  # diffusers
            self.folder(subfolder, model.save_config)
        else:
            self.folder(subfolder, model.config.save_pretrained)
        self.tensors(prefix + weight_file, specs_of(model, dtype))

    def cut(self, where: str, setting: str, published: int, used: int, why: str) -> None:
        self.cuts.append({"where": where, "setting": setting, "published": published, "used": used, "why": why})

    def digest(self) -> str:
        """40 hex digits over every planned byte and tensor spec, and this writer's source."""
        h = hashlib.sha1()
        h.update(Path(__file__).read_bytes() + self.repo.encode())
        h.update(json.dumps(self.cuts, sort_keys=True).encode())
        for path in sorted(self.files):
            h.update(path.encode() + b"\0" + self.files[path])
        for path in sorted(self.weights):
            h.update(path.encode())
            for s in self.weights[path]:
                h.update(f"{s.name}|{s.shape}|{s.dtype}|{s.kind}".encode())
        return h.hexdigest()

    # -- writing -----------------------------------------------------------------------------------------

    def write(self, folder: Path) -> None:
        for path, data in self.files.items():
            target = folder / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        for path, specs in self.weights.items():
            target = folder / path
            target.parent.mkdir(parents=True, exist_ok=True)
            write_safetensors(target, specs, seed=zlib.crc32(f"{self.repo}/{path}".encode()))
        if self.cuts:
            (folder / "REALSHAPE_CUTS.json").write_text(json.dumps(self.cuts, indent=2) + "\n", encoding="utf-8")

    def parameters(self) -> int:
        return sum(_numel(s.shape) for specs in self.weights.values() for s in specs)


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


# persistent buffers in released files: computed tables, or learned values (random like any weight)
_BUFFER_KINDS = {"SinusoidalPositionalEmbedding": "sinusoid", "CogVideoXPatchEmbed": "weight"}


def specs_of(model: torch.nn.Module, dtype: torch.dtype) -> list[TensorSpec]:
    """One spec per state-dict entry of a (meta) model: weights of rank >= 2 random, norms 1, biases 0,
    sinusoidal position tables (AnimateDiff's `pos_embed.pe` buffers) computed as the module computes them."""
    buffers = {n for n, _ in model.named_buffers()} & set(model.state_dict())
    specs = []
    for name, tensor in model.state_dict().items():
        shape = tuple(tensor.shape)
        if name in buffers:
            owner = type(model.get_submodule(name.rsplit(".", 1)[0])).__name__
            if owner not in _BUFFER_KINDS:
                raise ValueError(f"{type(model).__name__} has a persistent buffer this writer cannot fill: {name}")
            kind = _BUFFER_KINDS[owner]
        elif len(shape) >= 2:
            kind = "weight"
        elif name.endswith("bias"):
            kind = "zeros"
        else:
            kind = "ones"
        specs.append(TensorSpec(name, shape, dtype, kind))
    return specs


def meta(build: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    """`build()` on the meta device: shapes and names without memory or init time."""
    with torch.device("meta"):
        return build()


def _fill(spec: TensorSpec, generator: torch.Generator) -> torch.Tensor:
    if spec.kind == "zeros":
        t = torch.zeros(spec.shape)
    elif spec.kind == "ones":
        t = torch.ones(spec.shape)
    elif spec.kind == "sinusoid":  # diffusers.models.embeddings.SinusoidalPositionalEmbedding's table
        _, length, dim = spec.shape
        position = torch.arange(length).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
        t = torch.zeros(spec.shape)
        t[0, :, 0::2] = torch.sin(position * div_term)
        t[0, :, 1::2] = torch.cos(position * div_term)
    else:
        fan_in = _numel(spec.shape[1:]) or 1
        t = torch.empty(spec.shape).normal_(0.0, fan_in**-0.5, generator=generator)
    return t.to(spec.dtype)


def write_safetensors(path: Path, specs: list[TensorSpec], seed: int = 0) -> None:
    """Stream a safetensors file: header first (offsets from the shapes), then each tensor as it is drawn."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for s in specs:
        size = _numel(s.shape) * torch.empty((), dtype=s.dtype).element_size()
        header[s.name] = {"dtype": _DTYPES[s.dtype], "shape": list(s.shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    generator = torch.Generator().manual_seed(seed)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for s in specs:
            t = _fill(s, generator).contiguous()
            view = t.view(torch.int16) if t.dtype in (torch.float16, torch.bfloat16) else t
            f.write(memoryview(view.numpy()).cast("B"))


# -- the cache ------------------------------------------------------------------------------------------------


def repo_folder(hub: Path, repo: str) -> Path:
    return hub / f"models--{repo.replace('/', '--')}"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def current(hub: Path, snap: Snapshot) -> Path:
    return repo_folder(hub, snap.repo) / "snapshots" / snap.digest()


def ensure(hub: Path, snap: Snapshot, log: Callable[[str], None] | None = None) -> tuple[Path, bool]:
    """The snapshot folder for `snap`, built if missing; returns (folder, built now)."""
    rev = snap.digest()
    folder = repo_folder(hub, snap.repo)
    target = folder / "snapshots" / rev
    ref = folder / "refs" / "main"
    if target.is_dir() and ref.is_file() and ref.read_text().strip() == rev:
        return target, False
    built = False
    with _locked(hub / ".build.lock"):
        if not target.is_dir():
            tmp = folder / f".build-{os.getpid()}-{time.time_ns()}"
            tmp.mkdir(parents=True)
            try:
                start = time.perf_counter()
                snap.write(tmp)
                (folder / "snapshots").mkdir(exist_ok=True)
                os.rename(tmp, target)
                built = True
                if log:
                    gb = sum(f.stat().st_size for f in target.rglob("*") if f.is_file()) / 1e9
                    log(f"built {snap.repo}: {gb:.2f} GB in {time.perf_counter() - start:.0f} s")
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        ref.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(ref, rev)
        _prune(folder, keep=rev)
    return target, built


def _prune(folder: Path, keep: str) -> None:
    """Snapshots of older recipes, and build folders abandoned more than an hour ago."""
    for old in (folder / "snapshots").glob("*"):
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)
    for path in folder.glob(".build-*"):
        try:
            if time.time() - path.stat().st_mtime > 3600:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue
