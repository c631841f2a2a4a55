"""Tiny random-weight models for every role, built locally, loaded through the real `from_pretrained` code.

This is how tests and `flowdrafter selftest` prove the model code without a GPU or a network: diffusers
components from small configs (as in diffusers' own tests), a CLIP tokenizer from a small local vocabulary,
IP-Adapter weights in the file layout `load_ip_adapter` expects, and a tiny U2-Net-shaped ONNX model for
the cut-out. Everything is made under `torch.manual_seed(0)`, saved with `save_pretrained(...,
safe_serialization=True)`, and `build_all` returns the Settings overrides that point at the folders.

Builds are cached under `root/tiny-<hash of the build recipe>`; a build happens in a private folder that
is renamed into place when complete (with its `done.json`), so concurrent or interrupted builds never
leave half a build, and tests build once per session.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import torch

from flowdrafter.core.atomic import atomic_write_text

RECIPE_VERSION = "1"
SIZE = 64  # pixels: the storyboard size the tiny models are meant for (latents are 32x32)


def _recipe_hash() -> str:
    parts = [RECIPE_VERSION, Path(__file__).read_text(encoding="utf-8")]
    for name in ("tiny_motion.py", "tiny_wan.py"):
        part = Path(__file__).with_name(name)
        if part.is_file():
            parts.append(part.read_text(encoding="utf-8"))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def build_all(root: Path) -> dict[str, str]:
    """Build (or reuse) tiny models for every role under `root`; return the Settings overrides for them."""
    root = Path(root).expanduser().absolute()
    final = root / f"tiny-{_recipe_hash()}"
    done = final / "done.json"
    if done.is_file():
        return json.loads(done.read_text(encoding="utf-8"))
    # build in a private folder and rename it into place, so concurrent builds never see half a build
    out = root / f".{final.name}-{os.getpid()}-{time.time_ns()}"
    out.mkdir(parents=True)
    try:
        overrides = _build_into(out)
        overrides = {k: v.replace(str(out), str(final)) for k, v in overrides.items()}
        atomic_write_text(out / "done.json", json.dumps(overrides, indent=2, sort_keys=True))
        if final.exists() and not done.is_file():
            shutil.rmtree(final, ignore_errors=True)  # an interrupted build from an older version
        try:
            os.rename(out, final)
        except OSError:  # another process finished first: use its build
            pass
    finally:
        shutil.rmtree(out, ignore_errors=True)
    _prune(root, keep=final)
    return json.loads(done.read_text(encoding="utf-8"))


def _prune(root: Path, keep: Path) -> None:
    """Remove builds of older recipes, and private build folders abandoned more than an hour ago."""
    for path in root.glob("tiny-*"):
        if path != keep and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
    for path in root.glob(".tiny-*"):
        try:
            stale = time.time() - path.stat().st_mtime > 3600
        except OSError:
            continue
        if stale:
            shutil.rmtree(path, ignore_errors=True)


def _build_into(out: Path) -> dict[str, str]:
    overrides: dict[str, str] = {}
    overrides.update(build_sd(out / "sd"))
    overrides.update(build_ip_adapter(out / "ip-adapter"))
    overrides.update(build_cutout(out / "cutout"))
    # -- the drafter's default image-to-video model (issue 11): Wan2.2-TI2V-5B-shaped, owned by tiny_wan.py --
    from flowdrafter.generators.testing import tiny_wan

    overrides.update(tiny_wan.build(out / "wan"))
    # -- layout-video (issue 6): the AnimateDiff motion adapter and motion LoRAs, owned by tiny_motion.py --
    from flowdrafter.generators.testing import tiny_motion

    overrides.update(tiny_motion.build(out / "motion", Path(overrides["t2i_model"])))
    # -- end of layout-video part ----------------------------------------------------------------------
    return overrides


# -- text: a CLIP tokenizer from a small local vocabulary, and a tiny CLIP text model --------------------


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


COMMON_WORDS = ["a", "the", "and", "of", "in", "on", "with", "cat", "kitten", "ball", "red", "garden", "dog", "tree"]


def write_tokenizer(folder: Path) -> None:
    """A real CLIP BPE tokenizer (vocab.json + merges.txt) over single characters and a few whole words."""
    from transformers import CLIPTokenizer

    chars = list(_bytes_to_unicode().values())
    vocab_list = chars + [c + "</w>" for c in chars]
    merges: list[str] = []
    for word in COMMON_WORDS:  # merge left to right: "k i", "ki t", ... so the word becomes one token
        symbols = list(word[:-1]) + [word[-1] + "</w>"]
        while len(symbols) > 1:
            merged = symbols[0] + symbols[1]
            rule = f"{symbols[0]} {symbols[1]}"
            if rule not in merges:
                merges.append(rule)
            if merged not in vocab_list:
                vocab_list.append(merged)
            symbols = [merged] + symbols[2:]
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab_list)}), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    tok = CLIPTokenizer(vocab=str(folder / "vocab.json"), merges=str(folder / "merges.txt"), model_max_length=77)
    tok.save_pretrained(folder)


def _vocab_size(folder: Path) -> int:
    return len(json.loads((folder / "vocab.json").read_text(encoding="utf-8")))


# -- Stable Diffusion 1.x shape (text-to-image, scene image) ------------------------------------------------


def build_sd(folder: Path) -> dict[str, str]:
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    write_tokenizer(folder / "tokenizer")
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=SIZE // 2,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=32,
    )
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        sample_size=SIZE,
    )
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=_vocab_size(folder / "tokenizer") - 2,
            eos_token_id=_vocab_size(folder / "tokenizer") - 1,
            hidden_size=32,
            intermediate_size=37,
            layer_norm_eps=1e-05,
            num_attention_heads=4,
            num_hidden_layers=5,
            pad_token_id=_vocab_size(folder / "tokenizer") - 1,
            vocab_size=_vocab_size(folder / "tokenizer"),
        )
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False,
        steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=CLIPTokenizer.from_pretrained(folder / "tokenizer"),
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return {"t2i_model": str(folder)}


# -- IP-Adapter (SD-1.5 layout of h94/IP-Adapter: models/<weight>, models/image_encoder) -------------------


def _clip_vision(image_size: int = 32, patch_size: int = 4):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    return CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32,
            projection_dim=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=image_size,
            intermediate_size=37,
            patch_size=patch_size,
        )
    )


def build_ip_adapter(folder: Path, weight_name: str = "ip-adapter_sd15.safetensors") -> dict[str, str]:
    """Weights for every cross-attention layer of the tiny SD UNet, keyed as in the released files: the plain
    adapter as `weight_name` and IP-Adapter Plus as `ip-adapter-plus_sd15.safetensors` next to it."""
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPImageProcessor

    sd_unet = UNet2DConditionModel.from_pretrained(folder.parent / "sd", subfolder="unet", use_safetensors=True)
    encoder = _clip_vision()
    encoder.save_pretrained(folder / "models" / "image_encoder", safe_serialization=True)
    CLIPImageProcessor(crop_size=32, size=32).save_pretrained(folder / "models" / "image_encoder")
    cross_dim = sd_unet.config.cross_attention_dim
    embed_dim = encoder.config.projection_dim
    torch.manual_seed(0)
    tensors = {
        "image_proj.proj.weight": torch.randn(cross_dim * 4, embed_dim) * 0.1,
        "image_proj.proj.bias": torch.zeros(cross_dim * 4),
        "image_proj.norm.weight": torch.ones(cross_dim),
        "image_proj.norm.bias": torch.zeros(cross_dim),
    }
    blocks = list(sd_unet.config.block_out_channels)
    key_id = 1
    for name in sd_unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        if name.startswith("mid_block"):
            hidden = blocks[-1]
        elif name.startswith("up_blocks"):
            hidden = list(reversed(blocks))[int(name[len("up_blocks.")])]
        else:
            hidden = blocks[int(name[len("down_blocks.")])]
        tensors[f"ip_adapter.{key_id}.to_k_ip.weight"] = torch.randn(hidden, cross_dim) * 0.2
        tensors[f"ip_adapter.{key_id}.to_v_ip.weight"] = torch.randn(hidden, cross_dim) * 0.2
        key_id += 2
    (folder / "models").mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "models" / weight_name))
    plus = {k: v for k, v in tensors.items() if k.startswith("ip_adapter.")}
    plus.update(plus_image_proj(encoder.config.hidden_size, cross_dim, hidden=64))
    save_file(plus, str(folder / "models" / PLUS_WEIGHT))
    return {
        "ip_adapter": str(folder),
        "ip_adapter_subfolder": "models",
        "ip_adapter_weight": PLUS_WEIGHT,
        "ip_adapter_fallback_weight": weight_name,
        "image_encoder": str(folder),
        "image_encoder_subfolder": "models/image_encoder",
    }


PLUS_WEIGHT = "ip-adapter-plus_sd15.safetensors"


def plus_image_proj(embed_dims: int, output_dims: int, hidden: int, queries: int = 16, depth: int = 4) -> dict[str, torch.Tensor]:
    """IP-Adapter Plus's resampler (`image_proj.*`) in the released files' key layout: `queries` latent tokens
    attending to the image encoder's patch features; heads of 64 channels, 4 layers (what diffusers builds)."""
    torch.manual_seed(1)
    inner = hidden  # heads * 64
    t = {
        "image_proj.latents": torch.randn(1, queries, hidden) / hidden**0.5,
        "image_proj.proj_in.weight": torch.randn(hidden, embed_dims) * 0.1,
        "image_proj.proj_in.bias": torch.zeros(hidden),
        "image_proj.proj_out.weight": torch.randn(output_dims, hidden) * 0.1,
        "image_proj.proj_out.bias": torch.zeros(output_dims),
        "image_proj.norm_out.weight": torch.ones(output_dims),
        "image_proj.norm_out.bias": torch.zeros(output_dims),
    }
    for i in range(depth):
        p = f"image_proj.layers.{i}"
        for norm in ("0.norm1", "0.norm2", "1.0"):
            t[f"{p}.{norm}.weight"], t[f"{p}.{norm}.bias"] = torch.ones(hidden), torch.zeros(hidden)
        t[f"{p}.0.to_q.weight"] = torch.randn(inner, hidden) * 0.1
        t[f"{p}.0.to_kv.weight"] = torch.randn(2 * inner, hidden) * 0.1
        t[f"{p}.0.to_out.weight"] = torch.randn(hidden, inner) * 0.1
        t[f"{p}.1.1.weight"] = torch.randn(4 * hidden, hidden) * 0.1
        t[f"{p}.1.3.weight"] = torch.randn(hidden, 4 * hidden) * 0.1
    return t


# -- Stable Video Diffusion shape (image-to-video) ------------------------------------------------------------


def build_svd(folder: Path) -> dict[str, str]:
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor

    torch.manual_seed(0)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=SIZE // 2,
        in_channels=8,
        out_channels=4,
        down_block_types=("DownBlockSpatioTemporal", "CrossAttnDownBlockSpatioTemporal"),  # attention at 16x16 only
        up_block_types=("CrossAttnUpBlockSpatioTemporal", "UpBlockSpatioTemporal"),
        cross_attention_dim=32,
        num_attention_heads=(2, 2),
        projection_class_embeddings_input_dim=96,
        addition_time_embed_dim=32,
        num_frames=8,
    )
    scheduler = EulerDiscreteScheduler(
        beta_schedule="scaled_linear",
        beta_start=0.00085,
        beta_end=0.012,
        interpolation_type="linear",
        num_train_timesteps=1000,
        prediction_type="v_prediction",
        sigma_max=700.0,
        sigma_min=0.002,
        steps_offset=1,
        timestep_spacing="leading",
        timestep_type="continuous",
        use_karras_sigmas=True,
    )
    torch.manual_seed(0)
    vae = AutoencoderKLTemporalDecoder(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        latent_channels=4,
    )
    pipe = StableVideoDiffusionPipeline(
        vae=vae,
        image_encoder=_clip_vision(224, 32),  # SVD resizes its input to 224 itself
        unet=unet,
        scheduler=scheduler,
        feature_extractor=CLIPImageProcessor(crop_size=224, size=224),
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return {"i2v_model": str(folder), "i2v_pipeline": "auto"}


def t5_tokenizer():
    """A T5 (Unigram) tokenizer over printable ASCII, single characters with and without a word start."""
    from transformers import T5Tokenizer

    chars = [chr(c) for c in range(32, 127)]
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    vocab += [(c, -3.0) for c in chars] + [("\u2581" + c, -2.5) for c in chars]
    return T5Tokenizer(vocab=vocab, extra_ids=0)


# -- CogVideoX image-to-video shape (the drafter's second I2V backend; not part of build_all) ----------------


def build_cogvideox(folder: Path) -> dict[str, str]:
    """A tiny `CogVideoXImageToVideoPipeline` (T5 text encoder with a local Unigram vocabulary); returns the
    overrides that select it as the drafter's image-to-video model. Renders 32x32, frame counts 4k + 1."""
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXImageToVideoPipeline, CogVideoXTransformer3DModel
    from transformers import T5Config, T5EncoderModel

    tokenizer = t5_tokenizer()
    torch.manual_seed(0)
    text_encoder = T5EncoderModel(
        T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4, relative_attention_num_buckets=8)
    )
    torch.manual_seed(0)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2, attention_head_dim=16, in_channels=8, out_channels=4, time_embed_dim=2, text_embed_dim=32,
        num_layers=1, sample_width=4, sample_height=4, sample_frames=9, patch_size=2, temporal_compression_ratio=4,
        max_text_seq_length=226, use_rotary_positional_embeddings=True, use_learned_positional_embeddings=True,
    )  # fmt: skip
    torch.manual_seed(0)
    vae = AutoencoderKLCogVideoX(
        in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8), latent_channels=4,
        layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4,
    )  # fmt: skip
    pipe = CogVideoXImageToVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        transformer=transformer,
        scheduler=CogVideoXDDIMScheduler(),
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return {"i2v_pipeline": "cogvideox", "i2v_model": str(folder)}


# -- cut-out: a U2-Net-shaped ONNX model (1x3x320x320 in, 1x1x320x320 mask out) -----------------------------


def build_cutout(folder: Path) -> dict[str, str]:
    """A two-layer conv net with U2-Net's input and output shapes, so rembg's `u2net_custom` session runs it."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = (rng.standard_normal((4, 3, 3, 3)) * 0.5).astype(np.float32)
    b1 = np.zeros(4, dtype=np.float32)
    w2 = (rng.standard_normal((1, 4, 3, 3)) * 0.5).astype(np.float32)
    b2 = np.zeros(1, dtype=np.float32)
    nodes = [
        helper.make_node("Conv", ["input.1", "w1", "b1"], ["h1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("Conv", ["h2", "w2", "b2"], ["h3"], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["h3"], ["mask"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_u2net",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, 320, 320])],
        [helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, 320, 320])],
        initializer=[numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny-u2net.onnx"
    onnx.save(model, str(path))
    return {"cutout_model": str(path)}
