"""All configuration in one place: `FLOWDRAFTER_*` environment variables, an optional TOML file, defaults.

Later layers add their fields here rather than reading the environment themselves. The config file is
`$FLOWDRAFTER_CONFIG`, else `~/.config/flowdrafter/config.toml` when it exists; environment variables win
over the file.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from .errors import FlowDrafterError


def _config_file() -> Path | None:
    explicit = os.environ.get("FLOWDRAFTER_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    default = Path.home() / ".config" / "flowdrafter" / "config.toml"
    return default if default.is_file() else None


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "flowdrafter"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOWDRAFTER_", extra="ignore", validate_default=True)

    # -- paths -----------------------------------------------------------------------------------------
    data_dir: Path = Field(default_factory=_default_data_dir, description="Caches: LLM replies, models, temp files.")

    # -- limits for untrusted input --------------------------------------------------------------------
    max_image_bytes: int = Field(default=25 * 1024 * 1024, ge=1024, description="Largest image file accepted.")
    max_image_pixels: int = Field(default=40_000_000, ge=64 * 64, description="Largest image (w*h) accepted.")
    history_keep: int = Field(default=10, ge=1, le=1000, description="Saved versions kept in .history/.")
    undo_limit: int = Field(default=100, ge=1, le=10000, description="Undo steps kept per editor session.")

    # -- LLM planner -----------------------------------------------------------------------------------
    llm: str = Field(
        default="bartowski/Qwen2.5-1.5B-Instruct-GGUF:*Q4_K_M.gguf",  # Apache-2.0, ~1 GB (the 3B is non-commercial)
        description="Local .gguf path, or hub 'repo_id:filename-pattern' for llama-cpp-python.",
    )
    llm_url: str | None = Field(default=None, description="Base URL of an OpenAI-compatible server; wins over llm.")
    llm_model: str = Field(default="local", description="Model name sent to the OpenAI-compatible server.")
    llm_api_key: str | None = Field(default=None, description="API key for the server, if it needs one.")
    llm_ctx: int = Field(default=8192, ge=512, le=131072)
    llm_max_tokens: int = Field(default=2048, ge=16, le=32768)
    llm_timeout: float = Field(default=120.0, gt=0)
    llm_temperature: float = Field(default=0.4, ge=0.0, le=2.0)
    llm_refine_rounds: int = Field(default=2, ge=0, le=10)

    # -- diffusion models and devices ----------------------------------------------------------------
    device: Literal["auto", "cuda", "mps", "cpu"] = "auto"
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = "auto"
    offload: Literal["none", "model", "sequential"] = "none"
    vae_slicing: bool = True
    vae_tiling: bool = False
    t2i_model: str = Field(default="stable-diffusion-v1-5/stable-diffusion-v1-5")
    t2i_revision: str | None = None
    i2v_model: str = Field(
        default="Wan-AI/Wan2.2-TI2V-5B-Diffusers",  # Apache-2.0; takes the scene's text too (SVD, the low-VRAM option, does not)
        description="Image-to-video model of `drafter`: a hub id or folder of a Wan image+text-to-video, SVD or CogVideoX image-to-video pipeline.",
    )
    i2v_revision: str | None = None
    motion_adapter: str = Field(default="guoyww/animatediff-motion-adapter-v1-5-2")  # the adapter the camera LoRAs were trained on
    motion_adapter_revision: str | None = None
    motion_lora_repo_prefix: str = Field(default="guoyww/animatediff-motion-lora-")
    motion_context_frames: int = Field(default=16, ge=4, le=64, description="Frames the motion module sees at once; layout-video renders longer scenes in overlapping windows of this many frames.")
    noise_shift_strength: float = Field(default=0.5, ge=0.0, le=1.0, description="layout-video: share of each frame's initial noise that follows the background motion.")
    layout_video_ip_scale: float = Field(default=0.6, ge=0.0, le=2.0, description="layout-video: weight of each entity's reference image (IP-Adapter) inside its box.")
    layout_video_max_side: int | None = Field(default=None, ge=16, le=2048, description="layout-video: render at most this many pixels on the longer side, then resize to the storyboard size; None = storyboard size.")
    layout_video_frame_chunk: int = Field(default=8, ge=0, le=1024, description="layout-video: batch rows (frames of each guidance half) the spatial layers process at once, so memory stays bounded on long scenes; 0 = all at once.")
    layout_video_cross_modulation: float = Field(default=3.0, ge=1.0, le=100.0, description="layout-video: in the modulated steps, how many times more an entity's text weighs inside its box (DenseDiffusion-style); 1 = off.")
    layout_video_self_modulation: float = Field(default=2.0, ge=1.0, le=100.0, description="layout-video: in the modulated steps, the odds (under uniform attention) that a position attends within its own box or the background rather than elsewhere; 1 = off.")
    layout_video_modulation_steps: float = Field(default=0.3, ge=0.0, le=1.0, description="layout-video: fraction of the denoising steps, from the first, that are modulated.")
    layout_video_cross_frame: Literal["auto", "off", "first", "first+previous"] = Field(default="auto", description="layout-video: spatial self-attention also attends to frame 0's (and the previous frame's) keys and values; auto = frame 0 when the scene is longer than motion_context_frames.")
    layout_video_box_guidance: float = Field(default=0.0, ge=0.0, le=1000.0, description="layout-video: box guidance step size (LMD's loss scale; LMD uses 30); 0 = off.")
    layout_video_box_guidance_steps: float = Field(default=0.2, ge=0.0, le=1.0, description="layout-video: fraction of the denoising steps, from the first, with box guidance.")
    layout_video_box_guidance_iterations: int = Field(default=1, ge=1, le=10, description="layout-video: gradient steps on the latents per guided denoising step.")
    ip_adapter: str = Field(default="h94/IP-Adapter")
    ip_adapter_weight: str = Field(
        default="ip-adapter-plus_sd15.safetensors", description="IP-Adapter weight file; Plus (16 patch tokens per image) by default."
    )
    ip_adapter_fallback_weight: str | None = Field(
        default="ip-adapter_sd15.safetensors", description="Weight file used when ip_adapter_weight is not there (plain IP-Adapter); None = no fallback."
    )
    ip_adapter_subfolder: str = Field(default="models", description="Folder of the weight file inside ip_adapter.")
    ip_adapter_revision: str | None = None
    ip_adapter_scale: float = Field(default=0.6, ge=0.0, le=2.0, description="drafter: weight of each foreground entity's reference image inside its box in the scene image.")
    ip_adapter_background_scale: float = Field(default=0.5, ge=0.0, le=2.0, description="drafter: weight of the background entity's reference image outside the foreground boxes.")
    image_encoder: str = Field(default="h94/IP-Adapter", description="Repo or folder of the CLIP image encoder.")
    image_encoder_subfolder: str = Field(default="models/image_encoder")
    image_encoder_revision: str | None = None
    cutout_model: str = Field(
        default="u2net", description="rembg session name (u2net, isnet-general-use, birefnet-general, ...) or a local U2-Net-style .onnx file."
    )
    i2v_pipeline: Literal["auto", "wan", "svd", "cogvideox"] = Field(
        default="auto", description="Image-to-video family of `drafter`; auto = from the pipeline class in i2v_model's model_index.json."
    )
    i2v_frames: int | None = Field(default=None, ge=2, le=241, description="Frames the I2V model makes per clip at most; None = its own maximum.")
    i2v_max_side: int | None = Field(default=None, ge=64, le=4096, description="drafter: generate video at most this many pixels on the longer side (models with a fixed size ignore it); None = the model's native size.")
    i2v_guidance_scale: float | None = Field(default=None, ge=1.0, le=30.0, description="Text guidance of I2V models that take text (Wan, CogVideoX); None = the model card's value.")
    i2v_motion_bucket: int = Field(default=127, ge=1, le=255, description="SVD motion_bucket_id: more = more motion.")
    camera_warp_start: float = Field(default=0.1, ge=0.0, le=1.0, description="drafter: share of the sampling steps done before the camera warp starts (the layout must exist before it can be moved).")
    camera_warp_steps: float = Field(default=0.3, ge=0.0, le=1.0, description="drafter: share of the sampling steps in which the latents are warped for camera motion, from camera_warp_start on.")
    auto_references: bool = Field(default=True, description="drafter: make a missing entity reference (text-to-image, cut out for foreground entities) before rendering.")
    keep_models: bool = Field(default=True, description="Keep diffusion pipelines loaded between renders; False frees them after each render.")
    forward_chunking: bool = Field(default=False, description="Chunk the UNet feed-forward layers (less VRAM, slower) where supported.")
    steps: int = Field(default=25, ge=1, le=200)
    guidance_scale: float = Field(default=7.5, ge=0.0, le=30.0)

    # -- animatic and exports ---------------------------------------------------------------------------
    animatic_captions: bool = Field(default=True, description="Scene title and frame description in the animatic.")

    # -- rendering on a Ray cluster (docs/cluster.md) --------------------------------------------------
    ray_address: str | None = Field(
        default=None,
        description="Render scenes as Ray tasks: 'local' starts a private Ray instance on 127.0.0.1; 'auto', 'host:port' "
        "or 'ray://host:port' joins a running cluster. None renders in this process.",
    )
    ray_retries: int = Field(default=2, ge=0, le=20, description="Ray: times a scene is retried when its worker dies.")
    ray_num_gpus: float = Field(default=1.0, ge=0.0, le=64.0, description="Ray: GPUs each diffusion scene requests (0 = render on CPUs).")
    ray_num_cpus: float = Field(default=1.0, gt=0.0, le=256.0, description="Ray: CPUs each scene requests.")
    ray_workers: int | None = Field(default=None, ge=1, le=4096, description="Ray: most workers per generator; None = as many as the cluster fits.")
    ray_local_cpus: int | None = Field(default=None, ge=1, le=4096, description="Ray: CPUs a 'local' instance may use; None = all.")
    ray_connect_timeout: float = Field(default=20.0, gt=0.0, le=120.0, description="Ray: seconds to wait for a cluster to answer.")

    # -- editor ------------------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=7860, ge=0, le=65535)
    max_upload_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    ui_auth: str | None = Field(default=None, description="'user:password' required by the editor; set it before binding beyond 127.0.0.1.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Settings from env and config file, with explicit overrides (CLI flags) on top.

    Any bad value, malformed or unreadable config file, or unknown key in it is one `FlowDrafterError`
    that names the setting and where it came from.
    """
    path = _config_file()
    if path is not None and not path.is_file():
        raise FlowDrafterError(f"config file {path} does not exist (set by FLOWDRAFTER_CONFIG)")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    try:
        if path is not None:
            unknown = sorted(set(_read_toml(path)) - set(Settings.model_fields))
            if unknown:
                raise FlowDrafterError(f"config file {path}: unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
        return Settings(**overrides)
    except ValidationError as err:
        from .storyboard import error_message

        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        env = f"FLOWDRAFTER_{field.upper()}"
        origin = "given" if field in overrides else env if env in os.environ else f"in {path}" if path else env
        raise FlowDrafterError(f"setting {field} ({origin}): {error_message(first)}") from None
    except (OSError, ValueError) as err:  # unreadable or malformed TOML
        raise FlowDrafterError(f"config file {path}: {getattr(err, 'strerror', None) or err}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    with open(path, "rb") as f:
        return tomllib.load(f)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once. Tests call `get_settings.cache_clear()` after changing the env."""
    return load_settings()
