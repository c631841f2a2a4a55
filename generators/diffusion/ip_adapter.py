"""IP-Adapter weights for entity references: IP-Adapter Plus by default, plain IP-Adapter as the fallback.

Plus (`models/ip-adapter-plus_sd15.safetensors` in `h94/IP-Adapter`, 98 MB) turns each reference into 16
tokens resampled from the image encoder's patch features (its penultimate hidden states), so an entity's
shape and texture reach the UNet, where the plain adapter (`models/ip-adapter_sd15.safetensors`, 45 MB)
gives 4 tokens from the pooled embedding only. Both use the ViT-H encoder in `models/image_encoder`.
diffusers' `load_ip_adapter` picks the projection from the file's keys and the pipeline encodes the images
accordingly (hidden states for Plus), so the rest of the code does not care which one is loaded.

Cut-outs reach the image encoder through `cutout.composite`, one neutral backdrop for every path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flowdrafter.core.settings import Settings

from . import models


def weight_names(settings: Settings) -> list[str]:
    """The weight files to try, in order: `ip_adapter_weight`, then `ip_adapter_fallback_weight`."""
    names = [settings.ip_adapter_weight]
    fallback = settings.ip_adapter_fallback_weight
    if fallback and fallback not in names:
        names.append(fallback)
    return names


def load(pipe: Any, settings: Settings) -> str:
    """Load the first weight file of `weight_names` that exists into `pipe`; returns its name.

    The image encoder is loaded by the caller from its own setting (`image_encoder_folder=None`). A missing
    file moves on to the next name; nothing found is one `ModelUnavailableError` naming every file tried.
    """
    source = settings.ip_adapter
    local = models.is_local(source)
    subfolder = settings.ip_adapter_subfolder
    names = weight_names(settings)
    reason = ""
    for name in names:
        if local and not (Path(source).expanduser() / subfolder / name).is_file():
            reason = f"no {subfolder}/{' or '.join(names)} in it"
            continue
        try:
            pipe.load_ip_adapter(
                str(Path(source).expanduser()) if local else source,
                subfolder=subfolder,
                weight_name=name,
                image_encoder_folder=None,
                revision=settings.ip_adapter_revision,
            )
        except OSError as err:  # not in the repo (or unreachable): try the next file
            reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
            continue
        except (ValueError, KeyError) as err:  # a file that is not an SD-1.5 IP-Adapter
            raise models.unavailable(models.IP_ADAPTER, source, f"{subfolder}/{name}: {str(err).strip().splitlines()[0][:200]}") from None
        return name
    raise models.unavailable(models.IP_ADAPTER, source, reason)


def is_plus(unet: Any) -> bool:
    """True when the loaded adapter is IP-Adapter Plus (a resampler over patch tokens)."""
    from diffusers.models.embeddings import IPAdapterPlusImageProjection

    proj = getattr(unet, "encoder_hid_proj", None)
    layers = getattr(proj, "image_projection_layers", None) or []
    return any(isinstance(layer, IPAdapterPlusImageProjection) for layer in layers)


def key_problems(unet: Any, path: Path) -> list[str]:
    """What in the weight file at `path` does not match the adapter loaded into `unet`: missing or unexpected
    keys and wrong shapes, as short lines (empty when every weight found its place).

    diffusers loads with `low_cpu_mem_usage`, which does not check keys; this repeats the projection's load
    strictly and compares the attention weights one by one.
    """
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    image_proj = {k.removeprefix("image_proj."): v for k, v in tensors.items() if k.startswith("image_proj.")}
    adapter = {k.removeprefix("ip_adapter."): v for k, v in tensors.items() if k.startswith("ip_adapter.")}
    problems = [f"unexpected key {k}" for k in tensors if not k.startswith(("image_proj.", "ip_adapter."))]
    try:
        unet._convert_ip_adapter_image_proj_to_diffusers(image_proj, low_cpu_mem_usage=False)  # strict load
    except (RuntimeError, KeyError) as err:
        problems.append(f"image_proj: {' '.join(str(err).split())[:300]}")
    expected: dict[str, tuple[int, ...]] = {}
    key_id = 1
    for name, proc in unet.attn_processors.items():
        if name.endswith("attn1.processor") or "motion_modules" in name or name.startswith("encoder_hid_proj."):
            continue  # self-attention, motion modules and the Plus resampler's own attention take no weights here
        to_k, to_v = getattr(proc, "to_k_ip", None), getattr(proc, "to_v_ip", None)
        if to_k is None or to_v is None:
            problems.append(f"{name} has no IP-Adapter projections")
        else:
            expected[f"{key_id}.to_k_ip.weight"] = tuple(to_k[-1].weight.shape)
            expected[f"{key_id}.to_v_ip.weight"] = tuple(to_v[-1].weight.shape)
        key_id += 2
    problems += [f"missing key ip_adapter.{k}" for k in expected if k not in adapter]
    problems += [f"unexpected key ip_adapter.{k}" for k in adapter if k not in expected]
    problems += [
        f"ip_adapter.{k} has shape {tuple(adapter[k].shape)}, the UNet needs {shape}"
        for k, shape in expected.items()
        if k in adapter and tuple(adapter[k].shape) != shape
    ]
    return problems
