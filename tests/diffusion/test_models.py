"""Model roles load from settings once per process, and a missing model says what to change."""

from __future__ import annotations

import pytest
import torch

from flowdrafter.core.errors import FlowDrafterError, ModelUnavailableError
from flowdrafter.core.settings import Settings
from flowdrafter.generators.diffusion import models


def test_missing_local_folder_names_role_id_place_and_setting(tmp_path):
    from diffusers import StableVideoDiffusionPipeline

    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelUnavailableError) as err:
        models.from_pretrained(StableVideoDiffusionPipeline, models.I2V, Settings(i2v_model=str(missing)))
    msg = str(err.value)
    assert "image-to-video" in msg and str(missing) in msg
    assert "FLOWDRAFTER_I2V_MODEL" in msg and "i2v_model" in msg


def test_folder_without_the_model_files_is_the_same_clear_error(tmp_path):
    from diffusers import UNet2DConditionModel

    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailableError, match="text-to-image model .* FLOWDRAFTER_T2I_MODEL"):
        models.from_pretrained(UNet2DConditionModel, models.T2I, Settings(t2i_model=str(tmp_path / "empty")), subfolder="unet")


def test_hub_id_offline_and_not_cached_fails_fast_with_where_it_looked(monkeypatch, tmp_path):
    from diffusers import UNet2DConditionModel

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError) as err:
        models.from_pretrained(UNet2DConditionModel, models.T2I, Settings(t2i_model="flowdrafter-test/not-a-model"))
    msg = str(err.value)
    assert "huggingface.co/flowdrafter-test/not-a-model" in msg and "cache" in msg and "FLOWDRAFTER_T2I_MODEL" in msg


def test_device_dtype_and_offload_follow_the_settings():
    cpu_only = not torch.cuda.is_available() and not models._mps_available()
    if cpu_only:
        assert models.resolve_device(Settings(device="auto")).type == "cpu"
        with pytest.raises(FlowDrafterError, match="FLOWDRAFTER_DEVICE"):
            models.resolve_device(Settings(device="cuda"))
        assert models.effective_offload(Settings(device="cpu", offload="model")) == "none"
    assert models.resolve_dtype(Settings(device="cpu", dtype="auto")) == torch.float32
    assert models.resolve_dtype(Settings(device="cpu", dtype="bfloat16")) == torch.bfloat16


def test_loaded_weights_have_the_dtype_and_device_the_settings_ask_for(tiny_settings):
    from diffusers import StableDiffusionPipeline

    settings = tiny_settings.model_copy(update={"dtype": "bfloat16", "offload": "model"})
    pipe = models.place(models.from_pretrained(StableDiffusionPipeline, models.T2I, settings), settings)
    assert pipe.unet.dtype == torch.bfloat16 and pipe.text_encoder.dtype == torch.bfloat16
    assert pipe.unet.device.type == "cpu"  # offload needs an accelerator; on the cpu it stays put


def test_shared_loads_once_per_key_and_free_releases():
    calls = []

    def build():
        calls.append(1)
        return object()

    models.free("test-role")
    a = models.shared("test-role", ("k",), build)
    assert models.shared("test-role", ("k",), build) is a and len(calls) == 1
    b = models.shared("test-role", ("other",), build)  # settings changed: replaced, not added
    assert b is not a and len(calls) == 2 and models.loaded().count("test-role") == 1
    models.free("test-role")
    assert "test-role" not in models.loaded()


def test_hub_ids_and_folders_are_told_apart(tmp_path):
    assert not models.is_local("stabilityai/stable-video-diffusion-img2vid-xt")
    assert models.is_local(str(tmp_path)) and models.is_local("./models/sd") and models.is_local("~/sd")
