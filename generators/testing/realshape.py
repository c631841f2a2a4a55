"""Real model architectures with random weights, as hub snapshots, for every model id the default settings name.

`build(root)` writes (or reuses) `root/hub/models--owner--name/...` so that with `HF_HOME=root` and
`HF_HUB_OFFLINE=1` the unchanged default settings load through the normal `from_pretrained` path. Every
config value below is the published one, copied from the repo's own config.json (source in the comment
above each); file and folder names follow each repo's real file list. Weights are random (see hubcache).

Where a model does not fit 24 GB of RAM in float32 only its depth (repeated layers) is cut, never a width;
each cut is recorded with `snap.cut(...)` (and in the snapshot's REALSHAPE_CUTS.json) and listed in
docs/models.md.

Adding a repo is one function: decorate it with `@repo("owner/name")`, fill the `Snapshot` it is given
(`snap.json` for model_index.json and scheduler/processor configs, `snap.model` for a model built on the
meta device, `snap.folder` for a tokenizer's `save_pretrained`), and `build` picks it up; its snapshot is
keyed by the hash of its own plan, so the other repos are not rebuilt.

Not here: the cut-out model. rembg fetches `u2net` from GitHub releases into `~/.u2net`, not from the hub,
and checks its hash, so a random-weight copy cannot stand in for it; the real-shape run uses the
U2-Net-shaped ONNX from `tiny.build_cutout` (U2-Net's real input and output shapes). Nor the planner's
GGUF: it is a llama.cpp file, not a diffusers path, and random weights under a grammar prove nothing the
real-model planner tests (SmolLM2) do not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch

from .hubcache import Snapshot, TensorSpec, ensure, meta
from .tiny import _bytes_to_unicode

REPOS: dict[str, Callable[[Snapshot], None]] = {}

F32, F16, BF16 = torch.float32, torch.float16, torch.bfloat16


def repo(repo_id: str) -> Callable[[Callable[[Snapshot], None]], Callable[[Snapshot], None]]:
    def register(fn: Callable[[Snapshot], None]) -> Callable[[Snapshot], None]:
        REPOS[repo_id] = fn
        return fn

    return register


def plan(repo_id: str) -> Snapshot:
    snap = Snapshot(repo_id)
    REPOS[repo_id](snap)
    return snap


def build(root: Path, repos: list[str] | None = None, log: Callable[[str], None] | None = None) -> Path:
    """Build (or reuse) the snapshots under `root/hub`; returns `root`, the HF_HOME to load from."""
    root = Path(root).expanduser().absolute()
    for repo_id in repos or list(REPOS):
        ensure(root / "hub", plan(repo_id), log)
    return root


def env(root: Path) -> dict[str, str]:
    """Environment for a process that loads from the cache (set before huggingface_hub is imported)."""
    return {"HF_HOME": str(root), "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}


# -- shared pieces ----------------------------------------------------------------------------------------


def _diffusers(cls_name: str, config: dict) -> torch.nn.Module:
    import diffusers

    cls = getattr(diffusers, cls_name)
    return meta(lambda: cls.from_config(config))


def _transformers(cls_name: str, config) -> torch.nn.Module:
    import transformers

    cls = getattr(transformers, cls_name)
    model = meta(lambda: cls(config))
    model.config.architectures = [cls_name]
    return model


def _clip_image_processor(crop: int = 224) -> dict:
    # the preprocessor_config.json of SD-1.5's feature_extractor and SVD-XT's feature_extractor (OpenAI CLIP)
    return {
        "crop_size": {"height": crop, "width": crop}, "do_center_crop": True, "do_convert_rgb": True,
        "do_normalize": True, "do_rescale": True, "do_resize": True, "feature_extractor_type": "CLIPFeatureExtractor",
        "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_processor_type": "CLIPImageProcessor",
        "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "rescale_factor": 0.00392156862745098,
        "size": {"shortest_edge": crop},
    }  # fmt: skip


def _clip_vit_h(snap: Snapshot, subfolder: str) -> None:
    """OpenCLIP ViT-H/14 image encoder with projection, as in h94/IP-Adapter models/image_encoder/config.json
    and stabilityai/stable-video-diffusion-img2vid-xt image_encoder/config.json (632M params, fp32 file)."""
    from transformers import CLIPVisionConfig

    config = CLIPVisionConfig(
        hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=16, patch_size=14,
        image_size=224, projection_dim=1024, hidden_act="gelu", layer_norm_eps=1e-05, num_channels=3,
    )  # fmt: skip
    snap.model(subfolder, _transformers("CLIPVisionModelWithProjection", config), "model.safetensors", F32)


def _clip_tokenizer(folder: Path) -> None:
    """CLIP's BPE layout at its real size: 256 byte symbols, their end-of-word forms, 48,894 merges and the two
    special tokens = 49,408 entries; model_max_length 77; pad is <|endoftext|> (SD-1.5's tokenizer). The merges
    are synthetic (letter pairs, triples, then some 4-letter word ends), so words split into a few tokens."""
    from transformers import CLIPTokenizer

    chars = list(_bytes_to_unicode().values())
    vocab = chars + [c + "</w>" for c in chars]
    letters = "abcdefghijklmnopqrstuvwxyz"
    merges: list[str] = []
    for a in letters:
        for b in letters:
            merges += [f"{a} {b}", f"{a} {b}</w>"]
    for a in letters:
        for b in letters:
            for c in letters:
                merges += [f"{a}{b} {c}", f"{a}{b} {c}</w>"]
    for abc in (m.replace(" ", "") for m in merges[2 * 26 * 26 :: 2]):  # then 4-letter words, as many as fit
        if len(merges) >= 48894:
            break
        merges += [f"{abc} {d}</w>" for d in letters]
    merges = merges[:48894]
    vocab += [m.replace(" ", "") for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    assert len(vocab) == 49408 and len(set(vocab)) == len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    tok = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77, pad_token="<|endoftext|>")
    tok.save_pretrained(folder)


def _t5_tokenizer(folder: Path) -> None:
    """T5's SentencePiece Unigram layout at its real size: 32,000 pieces (pad, eos, unk first) plus 100
    <extra_id_*> tokens = 32,100; model_max_length 226 (CogVideoX's tokenizer_config.json)."""
    from transformers import T5Tokenizer

    letters = "abcdefghijklmnopqrstuvwxyz"
    pieces = ["<pad>", "</s>", "<unk>", "\u2581"] + [chr(c) for c in range(33, 127)]
    pieces += ["\u2581" + chr(c) for c in range(33, 127)]
    pieces += ["\u2581" + a + b for a in letters for b in letters] + [a + b for a in letters for b in letters]
    pieces += ["\u2581" + a + b + c for a in letters for b in letters for c in letters]
    pieces += [a + b + c for a in letters for b in letters for c in letters]
    pieces = list(dict.fromkeys(pieces))[:32000]
    vocab = [(p, 0.0 if i < 3 else -1.0 - 0.0001 * i) for i, p in enumerate(pieces)]
    assert len(vocab) == 32000
    tok = T5Tokenizer(vocab=vocab, extra_ids=100, model_max_length=226)
    tok.save_pretrained(folder)


# -- Stable Diffusion 1.5 (text-to-image, scene image, layout-video's spatial UNet) ---------------------------


@repo("stable-diffusion-v1-5/stable-diffusion-v1-5")
def sd15(snap: Snapshot) -> None:
    from transformers import CLIPConfig, CLIPTextConfig

    # model_index.json of stable-diffusion-v1-5/stable-diffusion-v1-5
    snap.json("model_index.json", {
        "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.6.0",
        "feature_extractor": ["transformers", "CLIPImageProcessor"],
        "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
        "scheduler": ["diffusers", "PNDMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    })  # fmt: skip
    # scheduler/scheduler_config.json
    snap.json("scheduler/scheduler_config.json", {
        "_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012,
        "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
        "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1, "trained_betas": None,
        "clip_sample": False,
    })  # fmt: skip
    snap.json("feature_extractor/preprocessor_config.json", _clip_image_processor())
    snap.folder("tokenizer", _clip_tokenizer)
    # text_encoder/config.json: CLIP ViT-L/14 text tower (123M)
    text = CLIPTextConfig(
        vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
        max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-05, projection_dim=768,
        bos_token_id=0, eos_token_id=2, pad_token_id=1,
    )  # fmt: skip
    snap.model("text_encoder", _transformers("CLIPTextModel", text), "model.safetensors", F32)
    # unet/config.json: 860M, 320/640/1280/1280, 8 heads, cross-attention 768, sample 64 (512 px)
    snap.model("unet", _diffusers("UNet2DConditionModel", {
        "act_fn": "silu", "attention_head_dim": 8, "block_out_channels": [320, 640, 1280, 1280],
        "center_input_sample": False, "cross_attention_dim": 768,
        "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
        "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4, "layers_per_block": 2,
        "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32, "out_channels": 4, "sample_size": 64,
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    }), "diffusion_pytorch_model.safetensors", F32)  # fmt: skip
    # vae/config.json: 83M, scale factor 8
    snap.model("vae", _diffusers("AutoencoderKL", {
        "act_fn": "silu", "block_out_channels": [128, 256, 512, 512],
        "down_block_types": ["DownEncoderBlock2D"] * 4, "in_channels": 3, "latent_channels": 4, "layers_per_block": 2,
        "norm_num_groups": 32, "out_channels": 3, "sample_size": 512, "up_block_types": ["UpDecoderBlock2D"] * 4,
    }), "diffusion_pytorch_model.safetensors", F32)  # fmt: skip
    # safety_checker/config.json: CLIP ViT-L/14 vision tower + projection 768 (304M)
    checker_config = CLIPConfig(
        projection_dim=768,
        text_config={"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12},
        vision_config={"hidden_size": 1024, "intermediate_size": 4096, "num_attention_heads": 16,
                       "num_hidden_layers": 24, "patch_size": 14},
    )  # fmt: skip
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker

    checker = meta(lambda: StableDiffusionSafetyChecker(checker_config))
    checker.config.architectures = ["StableDiffusionSafetyChecker"]
    snap.model("safety_checker", checker, "model.safetensors", F32)


# -- IP-Adapter (h94/IP-Adapter: models/image_encoder, models/ip-adapter_sd15, models/ip-adapter-plus_sd15) --

def _ip_layers(cross_dim: int = 768) -> list[TensorSpec]:
    """`ip_adapter.<n>.to_k_ip/to_v_ip` for every cross-attention layer, as in the released files."""
    # the original orders them as the UNet's attn_processors dict: down_blocks, up_blocks, mid_block
    channels = [320, 320, 640, 640, 1280, 1280] + [1280, 1280, 1280, 640, 640, 640, 320, 320, 320] + [1280]
    specs = []
    for i, c in enumerate(channels):
        n = 2 * i + 1
        specs += [TensorSpec(f"ip_adapter.{n}.to_k_ip.weight", (c, cross_dim), F16, "weight"),
                  TensorSpec(f"ip_adapter.{n}.to_v_ip.weight", (c, cross_dim), F16, "weight")]  # fmt: skip
    return specs


@repo("h94/IP-Adapter")
def ip_adapter(snap: Snapshot) -> None:
    _clip_vit_h(snap, "models/image_encoder")
    # models/ip-adapter_sd15.safetensors (44.6 MB, fp16): ImageProjModel to 4 tokens of 768
    plain = [
        TensorSpec("image_proj.proj.weight", (4 * 768, 1024), F16, "weight"),
        TensorSpec("image_proj.proj.bias", (4 * 768,), F16, "zeros"),
        TensorSpec("image_proj.norm.weight", (768,), F16, "ones"),
        TensorSpec("image_proj.norm.bias", (768,), F16, "zeros"),
    ]
    snap.tensors("models/ip-adapter_sd15.safetensors", plain + _ip_layers())
    # models/ip-adapter-plus_sd15.safetensors (98.2 MB, fp16): Resampler(dim=768, depth=4, dim_head=64,
    # heads=12, num_queries=16, embedding_dim=1280, output_dim=768, ff_mult=4) over ViT-H patch tokens
    plus = [
        TensorSpec("image_proj.latents", (1, 16, 768), F16, "weight"),
        TensorSpec("image_proj.proj_in.weight", (768, 1280), F16, "weight"),
        TensorSpec("image_proj.proj_in.bias", (768,), F16, "zeros"),
        TensorSpec("image_proj.proj_out.weight", (768, 768), F16, "weight"),
        TensorSpec("image_proj.proj_out.bias", (768,), F16, "zeros"),
        TensorSpec("image_proj.norm_out.weight", (768,), F16, "ones"),
        TensorSpec("image_proj.norm_out.bias", (768,), F16, "zeros"),
    ]
    for i in range(4):
        p = f"image_proj.layers.{i}"
        plus += [
            TensorSpec(f"{p}.0.norm1.weight", (768,), F16, "ones"), TensorSpec(f"{p}.0.norm1.bias", (768,), F16, "zeros"),
            TensorSpec(f"{p}.0.norm2.weight", (768,), F16, "ones"), TensorSpec(f"{p}.0.norm2.bias", (768,), F16, "zeros"),
            TensorSpec(f"{p}.0.to_q.weight", (768, 768), F16, "weight"),
            TensorSpec(f"{p}.0.to_kv.weight", (1536, 768), F16, "weight"),
            TensorSpec(f"{p}.0.to_out.weight", (768, 768), F16, "weight"),
            TensorSpec(f"{p}.1.0.weight", (768,), F16, "ones"), TensorSpec(f"{p}.1.0.bias", (768,), F16, "zeros"),
            TensorSpec(f"{p}.1.1.weight", (3072, 768), F16, "weight"),
            TensorSpec(f"{p}.1.3.weight", (768, 3072), F16, "weight"),
        ]  # fmt: skip
    snap.tensors("models/ip-adapter-plus_sd15.safetensors", plus + _ip_layers())


# -- AnimateDiff motion adapter and camera motion LoRAs ----------------------------------------------------


MOTION_ADAPTER_V152 = {
    # guoyww/animatediff-motion-adapter-v1-5-2/config.json (453M, fp32 file of 1.82 GB), less three keys
    # today's MotionAdapter no longer takes (motion_activation_fn geglu, motion_attention_bias false,
    # motion_cross_attention_dim null: its fixed behaviour), which it would only warn about
    "block_out_channels": [320, 640, 1280, 1280], "motion_layers_per_block": 2, "motion_max_seq_length": 32,
    "motion_mid_block_layers_per_block": 1, "motion_norm_num_groups": 32, "motion_num_attention_heads": 8,
    "use_motion_mid_block": True,
}  # fmt: skip


@repo("guoyww/animatediff-motion-adapter-v1-5-2")
def motion_adapter_v152(snap: Snapshot) -> None:
    snap.model("", _diffusers("MotionAdapter", MOTION_ADAPTER_V152), "diffusion_pytorch_model.safetensors", F32)


def _motion_lora(snap: Snapshot) -> None:
    """guoyww/animatediff-motion-lora-*: diffusion_pytorch_model.safetensors (77.4 MB, fp32), rank 64 on
    to_q/to_k/to_v/to_out of both temporal attentions of every motion module of the v1-5-2 adapter (mid block
    included), keys as diffusers' convert_animatediff_motion_lora_to_diffusers.py writes them:
    `unet.down_blocks.0.motion_modules.0.transformer_blocks.0.attn1.processor.to_q_lora.down.weight`."""
    rank = 64
    modules: list[tuple[str, int]] = []
    channels = MOTION_ADAPTER_V152["block_out_channels"]
    for b, c in enumerate(channels):
        modules += [(f"down_blocks.{b}.motion_modules.{m}", c) for m in range(2)]
    for b, c in enumerate(reversed(channels)):
        modules += [(f"up_blocks.{b}.motion_modules.{m}", c) for m in range(3)]
    modules.append(("mid_block.motion_modules.0", channels[-1]))
    specs = []
    for module, c in modules:
        for attn in ("attn1", "attn2"):
            for proj in ("to_q", "to_k", "to_v", "to_out"):
                key = f"unet.{module}.transformer_blocks.0.{attn}.processor.{proj}_lora"
                specs += [TensorSpec(f"{key}.down.weight", (rank, c), F32, "weight"),
                          TensorSpec(f"{key}.up.weight", (c, rank), F32, "weight")]  # fmt: skip
    snap.tensors("diffusion_pytorch_model.safetensors", specs)


for _move in ("zoom-in", "zoom-out", "pan-left", "pan-right", "tilt-up", "tilt-down"):
    repo(f"guoyww/animatediff-motion-lora-{_move}")(_motion_lora)


# -- Stable Video Diffusion XT (drafter's default image-to-video) ------------------------------------------


@repo("stabilityai/stable-video-diffusion-img2vid-xt")
def svd_xt(snap: Snapshot) -> None:
    # model_index.json of stabilityai/stable-video-diffusion-img2vid-xt
    snap.json("model_index.json", {
        "_class_name": "StableVideoDiffusionPipeline", "_diffusers_version": "0.24.0.dev0",
        "feature_extractor": ["transformers", "CLIPImageProcessor"],
        "image_encoder": ["transformers", "CLIPVisionModelWithProjection"],
        "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        "unet": ["diffusers", "UNetSpatioTemporalConditionModel"], "vae": ["diffusers", "AutoencoderKLTemporalDecoder"],
    })  # fmt: skip
    # scheduler/scheduler_config.json
    snap.json("scheduler/scheduler_config.json", {
        "_class_name": "EulerDiscreteScheduler", "_diffusers_version": "0.24.0.dev0", "beta_end": 0.012,
        "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": False, "interpolation_type": "linear",
        "num_train_timesteps": 1000, "prediction_type": "v_prediction", "set_alpha_to_one": False, "sigma_max": 700.0,
        "sigma_min": 0.002, "skip_prk_steps": True, "steps_offset": 1, "timestep_spacing": "leading",
        "timestep_type": "continuous", "trained_betas": None, "use_karras_sigmas": True,
    })  # fmt: skip
    snap.json("feature_extractor/preprocessor_config.json", _clip_image_processor())
    _clip_vit_h(snap, "image_encoder")
    # unet/config.json: 1.52B, 320/640/1280/1280, heads 5/10/20/20, cross-attention 1024, sample 96 (768 px), 25 frames
    snap.model("unet", _diffusers("UNetSpatioTemporalConditionModel", {
        "addition_time_embed_dim": 256, "block_out_channels": [320, 640, 1280, 1280], "cross_attention_dim": 1024,
        "down_block_types": ["CrossAttnDownBlockSpatioTemporal"] * 3 + ["DownBlockSpatioTemporal"],
        "in_channels": 8, "layers_per_block": 2, "num_attention_heads": [5, 10, 20, 20], "num_frames": 25,
        "out_channels": 4, "projection_class_embeddings_input_dim": 768, "sample_size": 96,
        "transformer_layers_per_block": 1,
        "up_block_types": ["UpBlockSpatioTemporal"] + ["CrossAttnUpBlockSpatioTemporal"] * 3,
    }), "diffusion_pytorch_model.safetensors", F32)  # fmt: skip
    # vae/config.json
    snap.model("vae", _diffusers("AutoencoderKLTemporalDecoder", {
        "block_out_channels": [128, 256, 512, 512], "down_block_types": ["DownEncoderBlock2D"] * 4,
        "force_upcast": True, "in_channels": 3, "latent_channels": 4, "layers_per_block": 2, "out_channels": 3,
        "sample_size": 768, "scaling_factor": 0.18215,
    }), "diffusion_pytorch_model.safetensors", F32)  # fmt: skip


# -- CogVideoX-5b image-to-video (drafter's second backend) --------------------------------------------------


@repo("THUDM/CogVideoX-5b-I2V")
def cogvideox_5b_i2v(snap: Snapshot) -> None:
    from transformers import T5Config

    # model_index.json of THUDM/CogVideoX-5b-I2V
    snap.json("model_index.json", {
        "_class_name": "CogVideoXImageToVideoPipeline", "_diffusers_version": "0.31.0.dev0",
        "scheduler": ["diffusers", "CogVideoXDDIMScheduler"], "text_encoder": ["transformers", "T5EncoderModel"],
        "tokenizer": ["transformers", "T5Tokenizer"], "transformer": ["diffusers", "CogVideoXTransformer3DModel"],
        "vae": ["diffusers", "AutoencoderKLCogVideoX"],
    })  # fmt: skip
    # scheduler/scheduler_config.json (CogVideoX-5b family)
    snap.json("scheduler/scheduler_config.json", {
        "_class_name": "CogVideoXDDIMScheduler", "_diffusers_version": "0.31.0.dev0", "beta_end": 0.012,
        "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": False, "clip_sample_range": 1.0,
        "num_train_timesteps": 1000, "prediction_type": "v_prediction", "rescale_betas_zero_snr": True,
        "sample_max_value": 1.0, "set_alpha_to_one": True, "snr_shift_scale": 1.0, "steps_offset": 0,
        "timestep_spacing": "trailing", "trained_betas": None,
    })  # fmt: skip
    snap.folder("tokenizer", _t5_tokenizer)
    # text_encoder/config.json: google/t5-v1_1-xxl encoder (4.76B, bf16 in two shards), 24 layers
    layers_t5 = 2
    snap.cut("text_encoder", "num_layers", 24, layers_t5, "T5-XXL encoder is 19 GB in float32")
    t5 = T5Config(
        vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=layers_t5, num_decoder_layers=24, num_heads=64,
        relative_attention_num_buckets=32, relative_attention_max_distance=128, dropout_rate=0.1,
        layer_norm_epsilon=1e-06, feed_forward_proj="gated-gelu", is_encoder_decoder=True, pad_token_id=0,
        eos_token_id=1, decoder_start_token_id=0, tie_word_embeddings=False,
    )  # fmt: skip
    snap.model("text_encoder", _transformers("T5EncoderModel", t5), "model.safetensors", BF16)
    # transformer/config.json (CogVideoX-5b-I2V): 48 heads x 64, 42 layers, in 32 (noise + image latents),
    # learned positional embeddings for 720x480 / 49 frames, rotary too
    layers = 2
    snap.cut("transformer", "num_layers", 42, layers, "the 5.6B transformer is 22 GB in float32")
    snap.model("transformer", _diffusers("CogVideoXTransformer3DModel", {
        "activation_fn": "gelu-approximate", "attention_bias": True, "attention_head_dim": 64, "dropout": 0.0,
        "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 32, "max_text_seq_length": 226,
        "norm_elementwise_affine": True, "norm_eps": 1e-05, "num_attention_heads": 48, "num_layers": layers,
        "out_channels": 16, "patch_size": 2, "sample_frames": 49, "sample_height": 60, "sample_width": 90,
        "spatial_interpolation_scale": 1.875, "temporal_compression_ratio": 4, "temporal_interpolation_scale": 1.0,
        "text_embed_dim": 4096, "time_embed_dim": 512, "timestep_activation_fn": "silu",
        "use_learned_positional_embeddings": True, "use_rotary_positional_embeddings": True,
    }), "diffusion_pytorch_model.safetensors", BF16)  # fmt: skip
    # vae/config.json (fp32 upload): 3D causal VAE, 8x spatial and 4x temporal compression, 16 latent channels.
    # Its size is fixed at 720x480 (learned positions), so the CPU run cannot lower the resolution as it does
    # for SVD; at full depth one 5-frame clip took ~12 minutes to encode and decode on 2 cores. Cut for CPU
    # time, not memory: resnets per block 3 -> 1, every width, the latent layout and the tiling kept.
    layers_vae = 1
    snap.cut("vae", "layers_per_block", 3, layers_vae, "decoding one 720x480 clip at full depth takes ~12 min on 2 cores")
    snap.model("vae", _diffusers("AutoencoderKLCogVideoX", {
        "act_fn": "silu", "block_out_channels": [128, 256, 256, 512], "down_block_types": ["CogVideoXDownBlock3D"] * 4,
        "force_upcast": True, "in_channels": 3, "invert_scale_latents": False, "latent_channels": 16,
        "latents_mean": None, "latents_std": None, "layers_per_block": layers_vae, "norm_eps": 1e-06, "norm_num_groups": 32,
        "out_channels": 3, "sample_height": 480, "sample_width": 720, "scaling_factor": 0.7, "shift_factor": None,
        "temporal_compression_ratio": 4, "up_block_types": ["CogVideoXUpBlock3D"] * 4, "use_post_quant_conv": False,
        "use_quant_conv": False,
    }), "diffusion_pytorch_model.safetensors", F32)  # fmt: skip


# -- Wan2.2-TI2V-5B (drafter's default image+text-to-video) --------------------------------------------------


def _umt5_tokenizer(folder: Path) -> None:
    """google/umt5-xxl's layout at its real size: a 256,000-piece SentencePiece Unigram vocabulary (pad, eos,
    unk first) plus 300 <extra_id_*> tokens = 256,300 (the encoder's embedding has 256,384 rows, padded);
    model_max_length 512, what the Wan pipelines encode prompts to."""
    from transformers import T5TokenizerFast

    letters = "abcdefghijklmnopqrstuvwxyz"
    pieces = ["<pad>", "</s>", "<unk>", "\u2581"] + [chr(c) for c in range(33, 127)]
    pieces += ["\u2581" + chr(c) for c in range(33, 127)]
    pieces += ["\u2581" + a + b for a in letters for b in letters] + [a + b for a in letters for b in letters]
    pieces += ["\u2581" + a + b + c for a in letters for b in letters for c in letters]
    pieces += [a + b + c for a in letters for b in letters for c in letters]
    pieces += ["\u2581" + a + b + c + d for a in letters for b in letters for c in letters for d in letters]
    pieces = list(dict.fromkeys(pieces))[:256000]
    assert len(pieces) == 256000
    vocab = [(p, 0.0 if i < 3 else -1.0 - 0.00001 * i) for i, p in enumerate(pieces)]
    tok = T5TokenizerFast(vocab=vocab, extra_ids=300, model_max_length=512)
    tok.save_pretrained(folder)


@repo("Wan-AI/Wan2.2-TI2V-5B-Diffusers")
def wan22_ti2v_5b(snap: Snapshot) -> None:
    from transformers import UMT5Config

    # model_index.json of Wan-AI/Wan2.2-TI2V-5B-Diffusers: published as WanPipeline (one checkpoint for text-
    # and image-to-video); expand_timesteps makes the image's latent the first latent frame at timestep 0
    snap.json("model_index.json", {
        "_class_name": "WanPipeline", "_diffusers_version": "0.35.0.dev0", "boundary_ratio": None,
        "expand_timesteps": True, "scheduler": ["diffusers", "UniPCMultistepScheduler"],
        "text_encoder": ["transformers", "UMT5EncoderModel"], "tokenizer": ["transformers", "T5TokenizerFast"],
        "transformer": ["diffusers", "WanTransformer3DModel"], "transformer_2": [None, None],
        "vae": ["diffusers", "AutoencoderKLWan"],
    })  # fmt: skip
    # scheduler/scheduler_config.json: UniPC on flow sigmas, shift 5.0 (the card's sample_shift)
    snap.json("scheduler/scheduler_config.json", {
        "_class_name": "UniPCMultistepScheduler", "_diffusers_version": "0.35.0.dev0", "beta_end": 0.02,
        "beta_schedule": "linear", "beta_start": 0.0001, "disable_corrector": [], "dynamic_thresholding_ratio": 0.995,
        "final_sigmas_type": "zero", "flow_shift": 5.0, "lower_order_final": True, "num_train_timesteps": 1000,
        "predict_x0": True, "prediction_type": "flow_prediction", "rescale_betas_zero_snr": False,
        "sample_max_value": 1.0, "solver_order": 2, "solver_p": None, "solver_type": "bh2", "steps_offset": 0,
        "thresholding": False, "timestep_spacing": "linspace", "trained_betas": None, "use_beta_sigmas": False,
        "use_exponential_sigmas": False, "use_flow_sigmas": True, "use_karras_sigmas": False,
    })  # fmt: skip
    snap.folder("tokenizer", _umt5_tokenizer)
    # text_encoder/config.json: google/umt5-xxl encoder (5.7B, bf16 in three shards of 11.4 GB), 24 layers
    layers_t5 = 2
    snap.cut("text_encoder", "num_layers", 24, layers_t5, "the UMT5-XXL encoder is 23 GB in float32 (4.2 GB of it the 256,384 x 4096 embedding)")
    umt5 = UMT5Config(
        vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=layers_t5, num_decoder_layers=24,
        num_heads=64, relative_attention_num_buckets=32, relative_attention_max_distance=128, dropout_rate=0.1,
        layer_norm_epsilon=1e-06, feed_forward_proj="gated-gelu", is_encoder_decoder=True, pad_token_id=0,
        eos_token_id=1, decoder_start_token_id=0, tie_word_embeddings=False, scalable_attention=True,
    )  # fmt: skip
    snap.model("text_encoder", _transformers("UMT5EncoderModel", umt5), "model.safetensors", BF16)
    # save_pretrained writes a tied weight once: the encoder's token embedding is `shared.weight` (1.05B
    # parameters, 4.2 GB in float32; a second copy would double it)
    path = "text_encoder/model.safetensors"
    snap.weights[path] = [s for s in snap.weights[path] if s.name != "encoder.embed_tokens.weight"]
    # transformer/config.json: 3072 wide (24 heads x 128), FFN 14336, 30 layers, 48 latent channels in and out,
    # (1, 2, 2) patches, 4096-wide text; no image embedding (TI2V conditions on the first latent frame instead)
    layers = 2
    snap.cut("transformer", "num_layers", 30, layers, "the 5B transformer is 20 GB in float32")
    snap.model("transformer", _diffusers("WanTransformer3DModel", {
        "added_kv_proj_dim": None, "attention_head_dim": 128, "cross_attn_norm": True, "eps": 1e-06, "ffn_dim": 14336,
        "freq_dim": 256, "image_dim": None, "in_channels": 48, "num_attention_heads": 24, "num_layers": layers,
        "out_channels": 48, "patch_size": [1, 2, 2], "pos_embed_seq_len": None, "qk_norm": "rms_norm_across_heads",
        "rope_max_seq_len": 1024, "text_dim": 4096,
    }), "diffusion_pytorch_model.safetensors", F32)  # fmt: skip
    # vae/config.json: the Wan2.2 VAE (2.8 GB fp32 file): 2x2 pixel patches in, 16x spatial and 4x temporal
    # compression to 48 channels, a wider decoder (256), per-channel latent mean and std
    snap.model("vae", _diffusers("AutoencoderKLWan", {
        "attn_scales": [], "base_dim": 160, "decoder_base_dim": 256, "dim_mult": [1, 2, 4, 4], "dropout": 0.0,
        "in_channels": 12, "is_residual": True, "num_res_blocks": 2, "out_channels": 12, "patch_size": 2,
        "scale_factor_spatial": 16, "scale_factor_temporal": 4, "temperal_downsample": [False, True, True], "z_dim": 48,
        "latents_mean": [
            -0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174, 0.1838, 0.1557, -0.1382, 0.0542, 0.2813, 0.0891,
            0.157, -0.0098, 0.0375, -0.1825, -0.2246, -0.1207, -0.0698, 0.5109, 0.2665, -0.2108, -0.2158, 0.2502,
            -0.2055, -0.0322, 0.1109, 0.1567, -0.0729, 0.0899, -0.2799, -0.123, -0.0313, -0.1649, 0.0117, 0.0723,
            -0.2839, -0.2083, -0.052, 0.3748, 0.0152, 0.1957, 0.1433, -0.2944, 0.3573, -0.0548, -0.1681, -0.0667,
        ],
        "latents_std": [
            0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.499, 0.4818, 0.5013, 0.8158, 1.0344, 0.5894, 1.0901,
            0.6885, 0.6165, 0.8454, 0.4978, 0.5759, 0.3523, 0.7135, 0.6804, 0.5833, 1.4146, 0.8986, 0.5659,
            0.7069, 0.5338, 0.4889, 0.4917, 0.4069, 0.4999, 0.6866, 0.4093, 0.5709, 0.6065, 0.6415, 0.4944,
            0.5726, 1.2042, 0.5458, 1.6887, 0.3971, 1.06, 0.3943, 0.5537, 0.5444, 0.4089, 0.7468, 0.7744,
        ],
    }), "diffusion_pytorch_model.safetensors", F32)  # fmt: skip
