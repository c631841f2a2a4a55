"""Camera motion through AnimateDiff motion LoRAs: the scene's camera move picks the LoRA, its strength the weight.

The `guoyww/animatediff-motion-lora-*` repos (one per move) were trained on the v1-5-2 motion adapter (the
default `motion_adapter`); the repo (or local folder) is `settings.motion_lora_repo_prefix + suffix`, the
file in it `diffusion_pytorch_model.safetensors` (named, because diffusers cannot guess it offline). Every
key of the file must land on the motion modules: diffusers only warns about keys the adapter has no layer
for (the v1-5-3 adapter has no mid-block motion module, so the LoRAs' mid-block keys would be dropped), so a
LoRA that does not fit the adapter is an error here, naming a key. Each LoRA is loaded once per pipeline
under its own adapter name and then only switched on or off, so consecutive scenes with different camera
moves don't reload weights. The pipeline's LoRAs are ours: only camera LoRAs are ever loaded. A static
camera (or strength 0) runs with every motion LoRA off.
"""

from __future__ import annotations

import contextlib
import warnings

from flowdrafter.core.errors import ModelUnavailableError
from flowdrafter.core.settings import Settings
from flowdrafter.core.storyboard import Camera, CameraMotion

LORA_SUFFIXES: dict[CameraMotion, str] = {
    CameraMotion.zoom_in: "zoom-in",
    CameraMotion.zoom_out: "zoom-out",
    CameraMotion.pan_left: "pan-left",
    CameraMotion.pan_right: "pan-right",
    CameraMotion.tilt_up: "tilt-up",
    CameraMotion.tilt_down: "tilt-down",
}

ADAPTER_PREFIX = "camera-"
WEIGHT_NAME = "diffusion_pytorch_model.safetensors"  # the file in every guoyww/animatediff-motion-lora-* repo


def motion_lora_choice(camera: Camera, settings: Settings) -> tuple[str, str, float] | None:
    """(repo id or folder, adapter name, weight) for a camera, or None when the camera does not move."""
    suffix = LORA_SUFFIXES.get(camera.motion)
    if suffix is None or camera.strength <= 0.0:
        return None
    return f"{settings.motion_lora_repo_prefix}{suffix}", f"{ADAPTER_PREFIX}{suffix}", float(camera.strength)


def loaded_motion_loras(pipe) -> list[str]:
    return [n for n in pipe.get_list_adapters().get("unet", []) if n.startswith(ADAPTER_PREFIX)]


def apply_camera_motion(pipe, camera: Camera, settings: Settings) -> tuple[str, float] | None:
    """Activate exactly the motion LoRA this camera needs (loading it on first use) at its weight.

    Returns (adapter name, weight), or None when every LoRA is off (static camera).
    """
    choice = motion_lora_choice(camera, settings)
    if choice is None:
        if loaded_motion_loras(pipe):
            pipe.disable_lora()
        return None
    repo, name, weight = choice
    if name not in loaded_motion_loras(pipe):
        try:
            state = pipe.lora_state_dict(repo, weight_name=WEIGHT_NAME, use_safetensors=True)
            state = state[0] if isinstance(state, tuple) else state
            with _quiet():
                pipe.load_lora_weights(state, adapter_name=name)
        except (OSError, ValueError, KeyError) as err:
            raise ModelUnavailableError(
                f"camera motion LoRA for {camera.motion.value} could not be loaded from '{repo}' ({_short(err)}); "
                "set FLOWDRAFTER_MOTION_LORA_REPO_PREFIX to a folder prefix holding "
                f"'{LORA_SUFFIXES[camera.motion]}' LoRAs"
            ) from None
        dropped = _dropped_keys(pipe, state, name)
        if dropped:
            pipe.delete_adapters(name)
            raise ModelUnavailableError(
                f"camera motion LoRA '{repo}' does not fit the motion adapter '{settings.motion_adapter}': "
                f"{len(dropped)} of its {len(state)} weights have no layer there (e.g. {dropped[0]}); use the "
                "adapter the LoRAs were trained on (guoyww/animatediff-motion-adapter-v1-5-2)"
            )
    pipe.enable_lora()
    pipe.set_adapters([name], adapter_weights=[weight])
    return name, weight


def _dropped_keys(pipe, state: dict, adapter: str) -> list[str]:
    """Keys of a LoRA state dict (original or diffusers naming) that did not land on the UNet as `adapter`."""
    from diffusers.utils.state_dict_utils import convert_unet_state_dict_to_peft
    from peft.utils import get_peft_model_state_dict

    unet_keys = {k.removeprefix("unet."): v for k, v in state.items() if not k.startswith("text_encoder")}
    wanted = {k.replace(f".{adapter}", "") for k in convert_unet_state_dict_to_peft(unet_keys)}
    loaded = set(get_peft_model_state_dict(pipe.unet, adapter_name=adapter))
    return sorted(wanted - loaded)


@contextlib.contextmanager
def _quiet():
    """Loading a camera LoRA is not news: diffusers logs that it holds no text-encoder keys (camera LoRAs
    never do) and peft warns when a second adapter joins the first (one adapter per move is the design)."""
    from diffusers.utils import logging as diffusers_logging

    level = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute")
            yield
    finally:
        diffusers_logging.set_verbosity(level)


def _short(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__
