"""IP-Adapter Plus for entity references: loaded by default with every key in place, the plain adapter as the
fallback, each reference acting only inside its own mask, and one weight per entity kind."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from flowdrafter.core.errors import ModelUnavailableError
from flowdrafter.generators.diffusion import attention, ip_adapter, models
from flowdrafter.generators.diffusion.scene_image import load_scene_pipeline

LATENT = 32
BOX = (0.1, 0.2, 0.6, 0.7)


@pytest.fixture(scope="module")
def scene_pipe(tiny_settings):
    pipe, state = load_scene_pipeline(tiny_settings)
    yield pipe, state
    state.clear()


def _weights(tiny_settings, name):
    from pathlib import Path

    return Path(tiny_settings.ip_adapter) / tiny_settings.ip_adapter_subfolder / name


def test_plus_is_the_default_and_every_weight_of_the_file_finds_its_place(scene_pipe, tiny_settings):
    pipe, _ = scene_pipe
    assert tiny_settings.ip_adapter_weight == "ip-adapter-plus_sd15.safetensors"
    assert ip_adapter.is_plus(pipe.unet)
    assert ip_adapter.key_problems(pipe.unet, _weights(tiny_settings, tiny_settings.ip_adapter_weight)) == []


def test_the_key_check_names_a_missing_and_an_unexpected_weight(scene_pipe, tiny_settings, tmp_path):
    from safetensors.torch import load_file, save_file

    pipe, _ = scene_pipe
    tensors = load_file(str(_weights(tiny_settings, tiny_settings.ip_adapter_weight)))
    tensors.pop("ip_adapter.1.to_v_ip.weight")
    tensors["image_proj.layers.4.0.to_q.weight"] = torch.zeros(64, 64)  # a fifth resampler layer: not in the model
    save_file(tensors, str(tmp_path / "broken.safetensors"))
    problems = " | ".join(ip_adapter.key_problems(pipe.unet, tmp_path / "broken.safetensors"))
    assert "missing key ip_adapter.1.to_v_ip.weight" in problems
    assert "layers.4" in problems and "Unexpected" in problems


def test_without_the_plus_file_the_plain_adapter_is_loaded_and_without_either_one_error_names_both(tiny_settings, tmp_path):
    from diffusers import StableDiffusionPipeline

    folder = tmp_path / "ip"
    shutil.copytree(tiny_settings.ip_adapter, folder)
    (folder / "models" / tiny_settings.ip_adapter_weight).unlink()
    settings = tiny_settings.model_copy(update={"ip_adapter": str(folder)})
    pipe = StableDiffusionPipeline.from_pretrained(settings.t2i_model, use_safetensors=True, safety_checker=None)
    assert ip_adapter.load(pipe, settings) == "ip-adapter_sd15.safetensors"
    assert not ip_adapter.is_plus(pipe.unet)
    (folder / "models" / "ip-adapter_sd15.safetensors").unlink()
    with pytest.raises(ModelUnavailableError, match="ip-adapter-plus_sd15.safetensors or ip-adapter_sd15.safetensors"):
        ip_adapter.load(StableDiffusionPipeline.from_pretrained(settings.t2i_model, use_safetensors=True, safety_checker=None), settings)


def _picture(colour, shape="ellipse") -> Image.Image:
    img = Image.new("RGBA", (48, 48), (0, 0, 0, 0))
    getattr(ImageDraw.Draw(img), shape)((6, 6, 42, 42), fill=(*colour, 255))
    return img


def _outside(box, h, w) -> torch.Tensor:
    x0, y0, x1, y1 = box
    ys, xs = torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64)
    return (((ys + 1) / h <= y0) | (ys / h >= y1))[:, None] | (((xs + 1) / w <= x0) | (xs / w >= x1))[None, :]


def test_a_plus_reference_changes_nothing_outside_its_box_on_any_layer(scene_pipe):
    from flowdrafter.generators.diffusion.cutout import composite

    pipe, state = scene_pipe
    # two different references through the real Plus path: image encoder patch tokens -> resampler -> 16 tokens
    tokens = []
    for img in (_picture((200, 30, 30)), _picture((30, 30, 200), "rectangle")):
        embeds = pipe.prepare_ip_adapter_image_embeds([[composite(img)]], None, torch.device("cpu"), 1, False)
        with torch.no_grad():
            tokens.append(pipe.unet.encoder_hid_proj(embeds)[0])
    assert tokens[0].shape[-2] == 16  # Plus: 16 tokens per image (the plain adapter gives 4)
    state.set(attention.box_masks([[BOX]], LATENT, LATENT), None, [[0]])
    attention.set_ip_scale(pipe.unet, 1.0)
    modules = dict(pipe.unet.named_modules())
    try:
        for name, proc in pipe.unet.attn_processors.items():
            if not isinstance(proc, attention.RegionAttnProcessor):
                continue
            attn = modules[name.removesuffix(".processor")]
            size = 16  # the tiny UNet's cross-attention layers work at 16x16
            torch.manual_seed(0)
            hidden, text = torch.randn(1, size * size, attn.to_q.in_features), torch.randn(1, 77, 32)
            with torch.no_grad():
                out_a = attn(hidden, encoder_hidden_states=(text, [tokens[0]]))
                out_b = attn(hidden, encoder_hidden_states=(text, [tokens[1]]))
            diff = (out_a - out_b).abs().amax(dim=-1).reshape(size, size)
            outside = _outside(BOX, size, size)
            assert diff[outside].max() < 1e-6, name
            assert diff[~outside].max() > 1e-4, name
    finally:
        state.clear()


def test_the_background_reference_acts_outside_the_boxes_at_its_own_weight(tmp_path, tiny_settings):
    from flowdrafter.core.edits import set_reference
    from flowdrafter.core.images import store_image
    from flowdrafter.core.storyboard import Reference
    from flowdrafter.generators.diffusion.scene_image import make_scene_image, scene_layout
    from flowdrafter.generators.diffusion.selftest import make_project

    project = make_project(tmp_path / "p")
    sb = project.load()
    layout = scene_layout(project, sb, sb.scene("s1"), load_scene_pipeline(tiny_settings)[0].tokenizer)
    bare = np.asarray(make_scene_image(project, sb, "s1", 3, settings=tiny_settings), dtype=np.int16)

    rel = store_image(project, Image.new("RGB", (48, 48), (40, 160, 60)))
    sb = set_reference(sb, "garden", Reference(image=rel, source="upload"))
    with_bg = scene_layout(project, sb, sb.scene("s1"), load_scene_pipeline(tiny_settings)[0].tokenizer)
    masks = with_bg.region_masks(LATENT, LATENT)
    assert masks.shape[0] == len(layout.boxes) + 1
    torch.testing.assert_close(masks[-1], 1 - masks[:-1].amax(0))  # everything the foreground boxes leave
    assert with_bg.reference_scales(tiny_settings) == [tiny_settings.ip_adapter_scale] * 2 + [tiny_settings.ip_adapter_background_scale]

    off = tiny_settings.model_copy(update={"ip_adapter_background_scale": 0.0})
    at_zero = np.asarray(make_scene_image(project, sb, "s1", 3, settings=off), dtype=np.int16)
    on = tiny_settings.model_copy(update={"ip_adapter_background_scale": 1.5})
    at_weight = np.asarray(make_scene_image(project, sb, "s1", 3, settings=on), dtype=np.int16)
    models.free("scene")
    assert np.abs(at_zero - bare).max() <= 1  # weight 0: as if the background had no reference
    assert np.abs(at_weight - bare).max() > 5
