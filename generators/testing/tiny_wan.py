"""A tiny Wan2.2-TI2V-5B-shaped image+text-to-video pipeline: the drafter's default image-to-video family.

The same component classes and the same structural settings as the published `Wan-AI/Wan2.2-TI2V-5B-Diffusers`
(a UMT5 text encoder, `WanTransformer3DModel` on 48 latent channels with (1, 2, 2) patches, the Wan2.2 VAE
with 2x2 pixel patches, 16x spatial and 4x temporal compression, a flow-matching UniPC scheduler, and
`expand_timesteps`: the reference frame's latent is the first latent frame at timestep 0), with every width
shrunk so it runs in a second on a CPU, and the VAE's latents normalized to unit variance as the real one's are. Loaded through `WanImageToVideoPipeline.from_pretrained` like the
real one.
"""

from __future__ import annotations

from pathlib import Path

import torch

MAX_SIDE = 64  # pixels on the longer side the tiny model renders (the real one: 1280 x 704)


def build(folder: Path) -> dict[str, str]:
    """Build the tiny pipeline into `folder`; return the Settings overrides that make it the drafter's I2V model."""
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanImageToVideoPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    from flowdrafter.generators.testing.tiny import t5_tokenizer

    tokenizer = t5_tokenizer()
    torch.manual_seed(0)
    text_encoder = UMT5EncoderModel(
        UMT5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4, relative_attention_num_buckets=8)
    )
    torch.manual_seed(0)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=48, out_channels=48,
        text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
    )  # fmt: skip
    torch.manual_seed(0)
    vae = AutoencoderKLWan(
        base_dim=8, z_dim=48, in_channels=12, out_channels=12, is_residual=True, patch_size=2,
        latents_mean=[0.0] * 48, latents_std=[1.0] * 48, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
        scale_factor_spatial=16, scale_factor_temporal=4, temperal_downsample=[False, True, True],
    )  # fmt: skip
    _normalize_latents(vae)
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0)
    pipe = WanImageToVideoPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler, transformer=transformer,
        transformer_2=None, image_encoder=None, image_processor=None, boundary_ratio=None, expand_timesteps=True,
    )  # fmt: skip
    pipe.save_pretrained(folder, safe_serialization=True)
    return {"i2v_model": str(folder), "i2v_max_side": str(MAX_SIDE)}


def _normalize_latents(vae) -> None:
    """Set `latents_mean` / `latents_std` so that encoded images have zero mean and unit variance per channel,
    as the published configs' values do for the real VAE (a random encoder's raw latents are far smaller)."""
    g = torch.Generator().manual_seed(0)
    images = torch.nn.functional.interpolate(torch.rand(8, 3, 8, 8, generator=g), size=(64, 64), mode="bicubic")
    with torch.no_grad():
        latents = vae.encode(images.clamp(0, 1)[:, :, None] * 2 - 1).latent_dist.mode()  # [8, 48, 1, 4, 4]
    per_channel = latents.transpose(0, 1).reshape(latents.shape[1], -1)
    vae.register_to_config(
        latents_mean=[round(float(v), 6) for v in per_channel.mean(1)],
        latents_std=[round(float(v), 6) for v in per_channel.std(1).clamp_min(1e-6)],
    )
