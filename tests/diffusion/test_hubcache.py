"""The real-shape cache's writer, on small recipes: hub layout, streamed safetensors, reuse by recipe digest."""

from __future__ import annotations

import json
import os
import threading

import pytest
import torch
from safetensors import safe_open

from flowdrafter.generators.testing import hubcache, realshape
from flowdrafter.generators.testing.hubcache import Snapshot, TensorSpec


def small_unet_snapshot(cross_dim: int = 32) -> Snapshot:
    from diffusers import UNet2DConditionModel

    snap = Snapshot("owner/small-unet")
    snap.json("model_index.json", {"_class_name": "StableDiffusionPipeline"})
    unet = hubcache.meta(lambda: UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, cross_attention_dim=cross_dim, norm_num_groups=32,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    ))  # fmt: skip
    snap.model("unet", unet, "diffusion_pytorch_model.safetensors", torch.float16)
    return snap


def test_a_snapshot_loads_through_from_pretrained_with_every_weight_finite(tmp_path):
    from diffusers import UNet2DConditionModel

    hub = tmp_path / "hub"
    folder, built = hubcache.ensure(hub, small_unet_snapshot())
    assert built and folder.parent.parent == hub / "models--owner--small-unet"
    assert (hub / "models--owner--small-unet" / "refs" / "main").read_text() == folder.name
    unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", use_safetensors=True)
    assert unet.config.cross_attention_dim == 32
    with safe_open(str(folder / "unet" / "diffusion_pytorch_model.safetensors"), "pt") as f:
        assert f.get_tensor("conv_in.weight").dtype == torch.float16  # the dtype the recipe asked for
    params = dict(unet.named_parameters())
    assert all(torch.isfinite(p).all() for p in params.values())
    conv = params["conv_in.weight"].float()  # random, 1/sqrt(fan_in) wide
    assert 0.5 < conv.std().item() * (conv[0].numel() ** 0.5) < 1.5
    assert torch.all(params["conv_norm_out.weight"] == 1) and torch.all(params["conv_in.bias"] == 0)


def test_streamed_file_matches_its_header(tmp_path):
    specs = [TensorSpec("a", (3, 5), torch.float32, "weight"), TensorSpec("b", (7,), torch.bfloat16, "ones"),
             TensorSpec("pos.pe", (1, 4, 6), torch.float32, "sinusoid")]  # fmt: skip
    path = tmp_path / "x.safetensors"
    hubcache.write_safetensors(path, specs, seed=1)
    with safe_open(str(path), "pt") as f:
        assert f.get_tensor("a").shape == (3, 5) and f.get_tensor("b").dtype == torch.bfloat16
        assert torch.all(f.get_tensor("b") == 1)
        pe = f.get_tensor("pos.pe")
        assert pe[0, 0, 0] == 0 and pe[0, 0, 1] == 1  # sin(0), cos(0)


def test_a_changed_config_value_is_a_new_snapshot_and_the_old_one_goes(tmp_path):
    hub = tmp_path / "hub"
    first, _ = hubcache.ensure(hub, small_unet_snapshot(32))
    again, built = hubcache.ensure(hub, small_unet_snapshot(32))
    assert again == first and not built  # same recipe: reused
    changed, built = hubcache.ensure(hub, small_unet_snapshot(64))
    assert built and changed != first and not first.exists()
    config = json.loads((changed / "unet" / "config.json").read_text())
    assert config["cross_attention_dim"] == 64


def test_concurrent_builds_of_one_recipe_leave_one_complete_snapshot(tmp_path):
    hub = tmp_path / "hub"
    results, errors = [], []

    def build():
        try:
            results.append(hubcache.ensure(hub, small_unet_snapshot()))
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len({folder for folder, _ in results}) == 1
    assert sum(built for _, built in results) == 1
    repo = hub / "models--owner--small-unet"
    assert [p.name for p in (repo / "snapshots").iterdir()] == [results[0][0].name]
    assert not [p for p in os.listdir(repo) if p.startswith(".build-")]


def test_every_default_model_id_has_a_recipe():
    from flowdrafter.core.settings import Settings
    from flowdrafter.generators.diffusion.motion_lora import LORA_SUFFIXES

    s = Settings()
    wanted = {s.t2i_model, s.i2v_model, s.motion_adapter, s.ip_adapter, s.image_encoder, "THUDM/CogVideoX-5b-I2V"}
    wanted |= {f"{s.motion_lora_repo_prefix}{suffix}" for suffix in LORA_SUFFIXES.values()}
    assert wanted <= set(realshape.REPOS)


@pytest.mark.parametrize("repo_id", ["h94/IP-Adapter", "guoyww/animatediff-motion-lora-pan-left"])
def test_recipe_files_follow_the_real_repos(repo_id):
    snap = realshape.plan(repo_id)
    files = set(snap.files) | set(snap.weights)
    if repo_id == "h94/IP-Adapter":
        assert {"models/ip-adapter_sd15.safetensors", "models/ip-adapter-plus_sd15.safetensors",
                "models/image_encoder/config.json", "models/image_encoder/model.safetensors"} <= files  # fmt: skip
        sizes = {p: sum(int(torch.tensor(s.shape).prod()) * 2 for s in specs) for p, specs in snap.weights.items()}
        assert round(sizes["models/ip-adapter_sd15.safetensors"] / 1e6, 1) == 44.6  # the released file's size
        assert round(sizes["models/ip-adapter-plus_sd15.safetensors"] / 1e6, 1) == 98.2
    else:
        assert files == {"diffusion_pytorch_model.safetensors"}
        assert round(snap.parameters() * 4 / 1e6, 1) == 77.3  # rank 64, fp32: the released 77.4 MB
