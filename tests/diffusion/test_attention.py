"""Box-masked cross-attention and masked IP-Adapter on the tiny SD UNet (real diffusers layers, random weights)."""

from __future__ import annotations

import pytest
import torch

from flowdrafter.generators.diffusion import attention
from flowdrafter.generators.diffusion.scene_image import load_scene_pipeline

LATENT = 32  # the tiny models' latent side
PATCH_TOKENS = 65  # the tiny image encoder's hidden states (8x8 patches + CLS), what IP-Adapter Plus resamples
LEFT = (0.0, 0.0, 0.5, 1.0)
ODD = (0.1, 0.2, 0.6, 0.7)  # not aligned to any layer's grid


@pytest.fixture(scope="module")
def scene_pipe(tiny_settings):
    pipe, state = load_scene_pipeline(tiny_settings)
    yield pipe, state
    state.clear()
    state.record = None


def _outside(box, h, w) -> torch.Tensor:
    """Layer cells lying entirely outside a normalized box, computed from the geometry alone."""
    x0, y0, x1, y1 = box
    ys = torch.arange(h, dtype=torch.float64)
    xs = torch.arange(w, dtype=torch.float64)
    out_y = ((ys + 1) / h <= y0) | (ys / h >= y1)
    out_x = ((xs + 1) / w <= x0) | (xs / w >= x1)
    return out_y[:, None] | out_x[None, :]


def _cross_attention_modules(unet):
    return {name.removesuffix(".processor"): proc for name, proc in unet.attn_processors.items()
            if isinstance(proc, attention.RegionAttnProcessor)}  # fmt: skip


def test_install_covers_every_spatial_cross_attention_layer_and_keeps_ip_weights(scene_pipe):
    pipe, _ = scene_pipe
    procs = _cross_attention_modules(pipe.unet)
    assert procs and all(n.endswith("attn2") for n in procs)
    assert all(p.to_k_ip is not None for p in procs.values())  # the loaded IP-Adapter projections were taken over


def test_bound_tokens_attend_only_inside_their_box_per_row(scene_pipe):
    pipe, state = scene_pipe
    torch.manual_seed(0)
    latents = torch.randn(2, 4, LATENT, LATENT)
    text = torch.randn(2, 77, 32)
    embeds = [torch.randn(2, 1, PATCH_TOKENS, 32)]
    bound = [3, 4, 5]
    regions = torch.full((2, 77), -1)
    regions[:, bound] = 0
    boxes = [[ODD], [LEFT]]  # row 0 and row 1 (e.g. two frames) have different boxes
    state.set(attention.box_masks(boxes, LATENT, LATENT), regions, [[-1]])
    state.record = {}
    try:
        with torch.no_grad():
            pipe.unet(latents, 10, encoder_hidden_states=text, added_cond_kwargs={"image_embeds": embeds})
        records = dict(state.record)
    finally:
        state.record = None
        state.clear()
    assert len(records) == len(_cross_attention_modules(pipe.unet))
    for name, probs in records.items():  # [rows, queries, tokens]
        h, w = attention.layer_size(LATENT, LATENT, probs.shape[1])
        for row, (box,) in enumerate(boxes):
            p = probs[row].reshape(h, w, 77)
            outside = _outside(box, h, w)
            assert outside.any() and (~outside).any()
            assert p[outside][:, bound].max() < 1e-6, name
            assert p[~outside][:, bound].sum() > 1e-3, name  # inside, the words do get attention
            assert p[outside][:, 0].min() > 0  # free tokens are untouched outside


def test_masked_ip_adapter_changes_features_only_inside_its_box(scene_pipe):
    pipe, state = scene_pipe
    torch.manual_seed(1)
    boxes = [[LEFT], [ODD]]
    state.set(attention.box_masks(boxes, LATENT, LATENT), None, [[0]])
    attention.set_ip_scale(pipe.unet, 1.0)
    modules = dict(pipe.unet.named_modules())
    try:
        for name in _cross_attention_modules(pipe.unet):
            attn = modules[name]
            size = 16  # every cross-attention layer of the tiny UNet works at 16x16
            hidden = torch.randn(2, size * size, attn.to_q.in_features)
            text = torch.randn(2, 77, 32)
            ip_a, ip_b = torch.randn(2, 1, 4, 32), torch.randn(2, 1, 4, 32)
            with torch.no_grad():
                out_a = attn(hidden, encoder_hidden_states=(text, [ip_a]))
                out_b = attn(hidden, encoder_hidden_states=(text, [ip_b]))
            diff = (out_a - out_b).abs().amax(dim=-1).reshape(2, size, size)
            for row, (box,) in enumerate(boxes):
                outside = _outside(box, size, size)
                assert diff[row][outside].max() < 1e-6, name
                assert diff[row][~outside].max() > 1e-4, name
    finally:
        state.clear()


@pytest.mark.parametrize("weight", ["ip-adapter-plus_sd15.safetensors", "ip-adapter_sd15.safetensors"])
def test_without_masks_the_processor_matches_diffusers_ip_adapter(tiny_settings, weight):
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(tiny_settings.t2i_model, use_safetensors=True, safety_checker=None)
    pipe.load_ip_adapter(tiny_settings.ip_adapter, subfolder="models", weight_name=weight, image_encoder_folder=None)
    torch.manual_seed(2)
    shape = (2, 1, PATCH_TOKENS, 32) if "plus" in weight else (2, 1, 32)  # Plus reads patch tokens, plain the pooled one
    latents, text, embeds = torch.randn(2, 4, LATENT, LATENT), torch.randn(2, 77, 32), [torch.randn(*shape)]
    with torch.no_grad():
        expected = pipe.unet(latents, 10, encoder_hidden_states=text, added_cond_kwargs={"image_embeds": embeds}).sample
        attention.install(pipe.unet)
        got = pipe.unet(latents, 10, encoder_hidden_states=text, added_cond_kwargs={"image_embeds": embeds}).sample
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


def test_soft_edges_fade_attention_instead_of_cutting_it():
    mask = attention.box_mask(LEFT, 1, 40, feather=0.1)[0]
    assert mask[:20].eq(1).all()  # inside
    ramp = mask[20:24]
    assert (ramp[:-1] > ramp[1:]).all() and 0 < ramp[-1] < 1
    assert mask[-1] == 0


def test_bind_tokens_points_at_the_entity_words(scene_pipe):
    pipe, _ = scene_pipe
    tok = pipe.tokenizer
    prompt, regions = attention.bind_tokens(tok, [("kitten,", 0), ("ball,", 1), ("a kitten chases a ball", -1)])
    ids = tok(prompt, padding="max_length", max_length=77)["input_ids"]
    assert len(regions) == 77
    assert tok.decode([i for i, r in zip(ids, regions) if r == 0]).replace(" ", "") == "kitten,"
    assert tok.decode([i for i, r in zip(ids, regions) if r == 1]).replace(" ", "") == "ball,"
    assert regions[0] == -1  # the start token is never bound


def test_masks_that_do_not_fit_the_batch_are_refused():
    state = attention.RegionState()
    state.set(attention.box_masks([[LEFT]] * 3, LATENT, LATENT))
    with pytest.raises(ValueError, match="does not divide"):
        state.layer_masks(256, 2, torch.zeros(1))


def test_scene_layout_binds_each_foreground_entity_to_its_frame0_box_and_the_background_outside_them(tmp_path, scene_pipe):
    from PIL import Image

    from flowdrafter.core.edits import set_reference
    from flowdrafter.core.images import store_image
    from flowdrafter.core.storyboard import Reference
    from flowdrafter.generators.diffusion.scene_image import scene_layout
    from flowdrafter.generators.diffusion.selftest import make_project

    project = make_project(tmp_path / "p")
    sb = project.load()
    rel = store_image(project, Image.new("RGB", (32, 32), (20, 160, 40)))
    sb = set_reference(sb, "garden", Reference(image=rel, source="upload"))
    layout = scene_layout(project, sb, sb.scene("s1"), scene_pipe[0].tokenizer)
    assert layout.boxes == [tuple(sb.scene("s1").tracks[0].keyframes[0].box), tuple(sb.scene("s1").tracks[1].keyframes[0].box)]
    assert [region for region, _ in layout.references] == [0, 1, 2]  # kitten, ball in their boxes; garden outside them
    assert layout.background_region == 2
    assert set(layout.token_regions) == {-1, 0, 1}
