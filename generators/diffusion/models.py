"""Model management: every diffusion model role loads from settings, once per process, and frees on request.

A role is a name a person can act on ("text-to-image", "image-to-video", ...) tied to the setting that
points at it. Every load goes through `from_pretrained(model_id_or_folder, revision=..., torch_dtype=...,
use_safetensors=True)` (spelled `dtype=` where the library renamed it), the same call for a hub id and for
a local folder (the tiny test models are local folders), and every failure to find a model becomes one
`ModelUnavailableError` naming the role, the id, where it looked and the setting to change. A hub id's
files are fetched first (`generators/diffusion/fetch.py`): progress per file in the job's log, cancel,
resume, and one line for a gated repository.

Other generators (layout-video) use the same pieces: `from_pretrained(cls, role, settings)` to load,
`place(pipe, settings)` for device/offload/memory options, `shared(name, settings_key(...), build)` to
load once per process, `free(name)` to release.

Device, dtype and offload (documented in docs/models.md):

- `device=auto` picks cuda, then mps, then cpu; asking for a device that is not there is an error.
- `dtype=auto` is float16 on cuda and mps, float32 on cpu.
- `offload=model|sequential` uses accelerate's CPU offload on cuda; on cpu there is nothing to offload to,
  so the pipeline simply stays on the cpu.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch

from flowdrafter.core.downloads import HubUnreachable
from flowdrafter.core.errors import FlowDrafterError, ModelUnavailableError
from flowdrafter.core.settings import Settings

from . import fetch

T = TypeVar("T")


@dataclass(frozen=True)
class Role:
    """A model role: what it is for, and the settings that name its model and revision."""

    name: str
    setting: str
    revision_setting: str | None = None

    def model_id(self, settings: Settings) -> str:
        return str(getattr(settings, self.setting))

    def revision(self, settings: Settings) -> str | None:
        return getattr(settings, self.revision_setting) if self.revision_setting else None


T2I = Role("text-to-image", "t2i_model", "t2i_revision")
I2V = Role("image-to-video", "i2v_model", "i2v_revision")
IP_ADAPTER = Role("ip-adapter", "ip_adapter", "ip_adapter_revision")
IMAGE_ENCODER = Role("image encoder", "image_encoder", "image_encoder_revision")
MOTION_ADAPTER = Role("motion adapter", "motion_adapter", "motion_adapter_revision")
CUTOUT = Role("cut-out", "cutout_model")

ROLES = {r.setting: r for r in (T2I, I2V, IP_ADAPTER, IMAGE_ENCODER, MOTION_ADAPTER, CUTOUT)}


# -- device and dtype -------------------------------------------------------------------------------------


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(settings: Settings) -> torch.device:
    """The device the settings ask for; `auto` prefers cuda, then mps, then cpu."""
    want = settings.device
    if want == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if want == "cuda" and not torch.cuda.is_available():
        raise FlowDrafterError("device 'cuda' is set (FLOWDRAFTER_DEVICE) but no CUDA device is available; use auto or cpu")
    if want == "mps" and not _mps_available():
        raise FlowDrafterError("device 'mps' is set (FLOWDRAFTER_DEVICE) but Metal is not available; use auto or cpu")
    return torch.device(want)


def resolve_dtype(settings: Settings, device: torch.device | None = None) -> torch.dtype:
    """The weights' dtype; `auto` is float16 on GPUs and float32 on the cpu (half precision is slow there)."""
    if settings.dtype != "auto":
        return getattr(torch, settings.dtype)
    device = device or resolve_device(settings)
    return torch.float16 if device.type in ("cuda", "mps") else torch.float32


def effective_offload(settings: Settings, device: torch.device | None = None) -> str:
    """The offload mode actually used: offloading needs an accelerator to offload from."""
    device = device or resolve_device(settings)
    return settings.offload if device.type != "cpu" else "none"


# -- loading ------------------------------------------------------------------------------------------------


def is_local(model_id: str) -> bool:
    """A folder path (absolute, relative or ~), as opposed to a hub id like 'owner/name'."""
    return model_id.startswith(("/", ".", "~")) or os.sep in model_id.replace("/", "", 1) or Path(model_id).is_dir()


def hub_cache() -> str:
    """huggingface_hub's cache folder (HF_HUB_CACHE), where every hub model is fetched to and read from."""
    try:
        from huggingface_hub.constants import HF_HUB_CACHE

        return str(HF_HUB_CACHE)
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency of diffusers
        return "~/.cache/huggingface/hub"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _in_hub_cache(model_id: str) -> bool:
    return (Path(hub_cache()) / f"models--{model_id.replace('/', '--')}").is_dir()


def unavailable(role: Role, model_id: str, reason: str = "") -> ModelUnavailableError:
    """The one error for a model that cannot be loaded: role, id, where we looked, the setting to change."""
    env = f"FLOWDRAFTER_{role.setting.upper()}"
    if is_local(model_id):
        where = f"in the folder {Path(model_id).expanduser()}"
    else:
        where = f"in the Hugging Face cache ({hub_cache()}) and on the hub (https://huggingface.co/{model_id})"
    why = f" ({reason})" if reason else ""
    return ModelUnavailableError(
        f"{role.name} model '{model_id}' could not be loaded: looked {where}{why}; "
        f"download it once, then point {env} (setting {role.setting}) at a local folder"
    )


def _short_reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text[:200]


def from_pretrained(
    cls: Any,
    role: Role,
    settings: Settings,
    *,
    model_id: str | None = None,
    subfolder: str | None = None,
    dtype: torch.dtype | None = None,
    **kwargs: Any,
) -> Any:
    """`cls.from_pretrained(id, revision=..., torch_dtype=..., use_safetensors=True)` with the one clear error.

    Works for diffusers pipelines and models and for transformers models alike; `model_id` defaults to the
    role's setting. Local folders that do not exist fail here, before any hub lookup.
    """
    _quiet_libraries()
    model_id = model_id or role.model_id(settings)
    if is_local(model_id) and not Path(model_id).expanduser().is_dir():
        raise unavailable(role, model_id, "no such folder")
    if not is_local(model_id) and _offline() and not _in_hub_cache(model_id):
        raise unavailable(role, model_id, "offline (HF_HUB_OFFLINE) and not in the cache")
    dtype = dtype or resolve_dtype(settings)
    args: dict[str, Any] = {"revision": role.revision(settings), "use_safetensors": True, **kwargs}
    if subfolder:
        args["subfolder"] = subfolder
    # transformers 5 and diffusers 0.42 renamed torch_dtype to dtype; older diffusers only know torch_dtype
    args["dtype" if cls.__module__.startswith("transformers") or _diffusers_takes_dtype() else "torch_dtype"] = dtype
    if not is_local(model_id) and not _offline() and _fetched(role, model_id, settings, subfolder, set(kwargs)):
        args["cache_dir"] = hub_cache()
        with contextlib.suppress(OSError, ValueError):  # a file the fetch list missed: the library gets it below
            return cls.from_pretrained(model_id, local_files_only=True, **args)
    try:
        return cls.from_pretrained(str(Path(model_id).expanduser()) if is_local(model_id) else model_id, **args)
    except (OSError, ValueError, EnvironmentError) as err:
        raise unavailable(role, model_id, _short_reason(err)) from None
    except Exception as err:  # huggingface_hub's HTTP / offline errors do not share a base we can name here
        if type(err).__module__.startswith(("huggingface_hub", "requests", "httpx")):
            raise unavailable(role, model_id, _short_reason(err)) from None
        raise


@functools.cache
def _quiet_libraries() -> None:
    """No loading bars or library notices in what a person reads: loads and steps are reported through the
    generators' own progress lines, and real problems arrive as exceptions."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    for lib in (diffusers_logging, transformers_logging):
        lib.disable_progress_bar()
        lib.set_verbosity_error()


def _fetched(role: Role, model_id: str, settings: Settings, subfolder: str | None, passed: set[str]) -> bool:
    """Fetch the hub files this load reads, with progress; False when the hub cannot be reached (a model
    cached before still loads then). Gated and unknown repositories are one line naming the setting."""
    setting = f"{role.setting} (FLOWDRAFTER_{role.setting.upper()})"
    try:
        fetch.fetch(model_id, role.revision(settings), subfolder=subfolder, skip=passed, cache=Path(hub_cache()), setting=setting)
    except HubUnreachable:
        return False
    except ModelUnavailableError as err:
        raise ModelUnavailableError(f"{role.name} model: {err}") from None
    return True


def _diffusers_takes_dtype() -> bool:
    import diffusers

    major, minor = (int(p) for p in diffusers.__version__.split(".")[:2])
    return (major, minor) >= (0, 42)


def place(pipe: Any, settings: Settings) -> Any:
    """Move a loaded pipeline to the device (or set up offload) and apply the memory options."""
    device = resolve_device(settings)
    offload = effective_offload(settings, device)
    if offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        pipe.to(device)
    vae = getattr(pipe, "vae", None)
    if vae is not None:
        for wanted, method in ((settings.vae_slicing, "enable_slicing"), (settings.vae_tiling, "enable_tiling")):
            if wanted and hasattr(vae, method):
                with contextlib.suppress(NotImplementedError):  # e.g. SVD's temporal decoder has no slicing
                    getattr(vae, method)()
    unet = getattr(pipe, "unet", None)
    if settings.forward_chunking and unet is not None and hasattr(unet, "enable_forward_chunking"):
        unet.enable_forward_chunking()
    pipe.set_progress_bar_config(disable=True)  # generators report steps through their own progress lines
    return pipe


def execution_device(pipe: Any) -> torch.device:
    """Where a pipeline computes (the accelerator when offloaded); generators are made for this device."""
    return getattr(pipe, "_execution_device", None) or pipe.device


# -- the process-wide cache ---------------------------------------------------------------------------------

_lock = threading.RLock()
_loaded: dict[str, tuple[tuple[Any, ...], Any]] = {}


def settings_key(settings: Settings, *fields: str) -> tuple[Any, ...]:
    """The values of the settings a loaded object depends on (device/dtype/offload always included)."""
    device = resolve_device(settings)
    base = (str(device), str(resolve_dtype(settings, device)), effective_offload(settings, device))
    extra = ("vae_slicing", "vae_tiling", "forward_chunking")
    return base + tuple(getattr(settings, f) for f in (*fields, *extra))


def shared(name: str, key: tuple[Any, ...], build: Callable[[], T]) -> T:
    """The object loaded under `name` for `key`, building it at most once per process.

    A different key (the settings changed) replaces the old object, so memory holds one per name.
    """
    with _lock:
        hit = _loaded.get(name)
        if hit is not None and hit[0] == key:
            return hit[1]
        if hit is not None:
            del _loaded[name]
            _collect()
        obj = build()
        _loaded[name] = (key, obj)
        return obj


def loaded() -> list[str]:
    with _lock:
        return sorted(_loaded)


def free(name: str | None = None) -> None:
    """Drop one loaded object (or all of them) and give the memory back to the device."""
    with _lock:
        if name is None:
            _loaded.clear()
        else:
            _loaded.pop(name, None)
        _collect()


def _collect() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if _mps_available() and hasattr(torch, "mps"):
        torch.mps.empty_cache()
