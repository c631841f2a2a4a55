"""Tiny random-weight AnimateDiff parts for tests and `flowdrafter selftest`: a MotionAdapter that fits the
tiny SD-1.5 UNet, and camera-motion LoRAs for it, saved as safetensors and loaded through the same
`from_pretrained` / `load_lora_weights` calls as the real `guoyww/` checkpoints.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from flowdrafter.generators.diffusion.motion_lora import LORA_SUFFIXES, WEIGHT_NAME

TINY_CONTEXT = 16  # frames the tiny motion module attends over (its positional table is twice that)


def build_tiny_motion_adapter(out_dir: Path, t2i_dir: Path, *, seed: int = 0, mid_block: bool = True) -> Path:
    """A MotionAdapter matching the UNet saved in `t2i_dir/unet` (same block widths and layers); with a
    mid-block motion module like v1-5-2, or without one like v1-5-3."""
    from diffusers import MotionAdapter

    unet_cfg = json.loads((Path(t2i_dir) / "unet" / "config.json").read_text())
    channels = tuple(unet_cfg["block_out_channels"])
    groups = int(unet_cfg.get("norm_num_groups") or 32)
    heads = 2 if all(c % 2 == 0 for c in channels) else 1
    torch.manual_seed(seed)
    adapter = MotionAdapter(
        block_out_channels=channels,
        motion_layers_per_block=unet_cfg["layers_per_block"],
        motion_norm_num_groups=groups,
        motion_num_attention_heads=heads,
        motion_max_seq_length=2 * TINY_CONTEXT,
        use_motion_mid_block=mid_block,
    )
    out_dir = Path(out_dir)
    adapter.save_pretrained(out_dir, safe_serialization=True)
    return out_dir


def build_tiny_motion_lora(out_dir: Path, unet, *, seed: int = 0, rank: int = 2) -> Path:
    """A random LoRA on the motion modules' attention of `unet` (a UNetMotionModel), saved like the
    `guoyww/animatediff-motion-lora-*` repos. `unet` is left without the adapter."""
    from diffusers import AnimateDiffPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    config = LoraConfig(
        r=rank,
        lora_alpha=rank,
        init_lora_weights=False,  # random A and B: the LoRA really changes the output
        target_modules=r".*motion_modules.*\.(to_q|to_k|to_v|to_out\.0)",
    )
    name = f"tiny-{seed}"
    torch.manual_seed(seed)
    unet.add_adapter(config, adapter_name=name)
    try:
        layers = get_peft_model_state_dict(unet, adapter_name=name)
        # B scaled up so that one LoRA visibly moves a tiny model's output
        layers = {k: v * 10.0 if ".lora_B." in k else v for k, v in layers.items()}
        # under the file name of the real repos (motion_lora.WEIGHT_NAME)
        AnimateDiffPipeline.save_lora_weights(out_dir, unet_lora_layers=layers, safe_serialization=True, weight_name=WEIGHT_NAME)
    finally:
        unet.delete_adapters(name)
    return Path(out_dir)


def build(folder: Path, t2i_dir: Path | None = None) -> dict[str, str]:
    """The tiny adapter (`folder/adapter`) and one tiny LoRA per camera motion (`folder/lora-<move>`), made for
    the tiny SD UNet in `t2i_dir` (default: the `sd` folder that `tiny.build_all` writes next to `folder`).

    Returns the Settings overrides pointing at them. The tiny models are meant for 64-pixel frames, so the
    overrides also cap layout-video's render size there (the storyboard size is restored by resizing).
    """
    from diffusers import MotionAdapter, UNet2DConditionModel, UNetMotionModel

    folder = Path(folder)
    t2i_dir = Path(t2i_dir) if t2i_dir is not None else folder.parent / "sd"
    adapter_dir = build_tiny_motion_adapter(folder / "adapter", t2i_dir)
    unet = UNetMotionModel.from_unet2d(
        UNet2DConditionModel.from_pretrained(t2i_dir, subfolder="unet", use_safetensors=True),
        MotionAdapter.from_pretrained(adapter_dir, use_safetensors=True),
    )
    prefix = f"{folder / 'lora-'}"
    for i, suffix in enumerate(sorted(set(LORA_SUFFIXES.values()))):
        build_tiny_motion_lora(Path(f"{prefix}{suffix}"), unet, seed=100 + i)
    return {"motion_adapter": str(adapter_dir), "motion_lora_repo_prefix": prefix, "layout_video_max_side": "64"}
