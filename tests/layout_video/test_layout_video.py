"""The layout-video generator on tiny real models: boxes, references, per-frame prompts, camera LoRAs, clips."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from flowdrafter.core.errors import Cancelled, ModelUnavailableError
from flowdrafter.core.storyboard import Camera
from flowdrafter.generators.diffusion.attention import layer_size
from flowdrafter.generators.diffusion.layout_video import LayoutVideoGenerator, frame_masks
from flowdrafter.generators.diffusion.motion_lora import apply_camera_motion
from flowdrafter.generators.testing.tiny_motion import build_tiny_motion_lora

from .conftest import FRAMES, context, lv_settings, make_doc

CAT, BALL = 0, 1  # attention regions, in track order


@pytest.fixture(scope="session")
def gen(tiny_overrides) -> LayoutVideoGenerator:
    return LayoutVideoGenerator(lv_settings(tiny_overrides))


def first_cross_attention(unet):
    """The first spatial cross-attention module the UNet runs (the first with box-bound processing)."""
    name = next(n for n in unet.attn_processors if n.endswith("attn2.processor") and "motion_modules" not in n)
    return unet.get_submodule(name.removesuffix(".processor"))


@pytest.fixture(scope="session")
def recorded(gen, lv_project):
    """One full render of the cat scene, recording attention probabilities and what reached the UNet."""
    lv = gen.pipeline()
    seen = {}

    def grab(module, args, kwargs):
        seen.setdefault("context", kwargs["encoder_hidden_states"])

    hook = first_cross_attention(lv.pipe.unet).register_forward_pre_hook(grab, with_kwargs=True)
    lv.state.record = {}
    try:
        frames = gen.generate(context(lv_project))
        record = lv.state.record
    finally:
        lv.state.record = None
        hook.remove()
    return {"frames": frames, "record": record, "context": seen["context"]}


def entity_mass(probs: torch.Tensor, span: tuple[int, int]) -> torch.Tensor:
    """[rows, queries]: attention probability on an entity's tokens."""
    return probs[:, :, span[0] : span[1]].sum(-1)


def layer_masks(ctx, entities, lat_h, lat_w, queries) -> torch.Tensor:
    """[frames, regions, queries]: the boxes pooled to a layer's resolution (as the processor sees them)."""
    h, w = layer_size(lat_h, lat_w, queries)
    masks = frame_masks(ctx.scene, entities, lat_h, lat_w)
    return F.adaptive_avg_pool2d(masks, (h, w)).flatten(2)


def unet_once(gen, inputs, record: bool = True):
    """One UNet evaluation on a scene's prepared inputs at the first timestep; returns recorded probs."""
    lv = gen.pipeline()
    pipe = lv.pipe
    pipe.scheduler.set_timesteps(1)
    t = pipe.scheduler.timesteps[0]
    gen.bind(inputs)
    lv.state.record = {} if record else None
    try:
        with torch.no_grad():
            latents = torch.cat([inputs.latents] * 2)
            pipe.unet(latents, t, encoder_hidden_states=inputs.embeds, added_cond_kwargs={"image_embeds": inputs.image_embeds})
        return lv.state.record
    finally:
        lv.state.record = None
        lv.state.clear()


# -- box-bound attention --------------------------------------------------------------------------------------


def test_entity_words_attend_only_inside_their_box_on_every_frame(gen, lv_project, recorded):
    ctx = context(lv_project)
    inputs = gen.prepare(ctx)
    lat_h, lat_w = inputs.latents.shape[-2:]
    assert len(recorded["record"]) >= 3  # every spatial cross-attention layer was box-bound
    for name, probs in recorded["record"].items():
        masks = layer_masks(ctx, inputs.entities, lat_h, lat_w, probs.shape[1])
        for region, eid in enumerate(inputs.entities):
            mass = entity_mass(probs[FRAMES:], inputs.plan.entity_spans[eid])  # prompt rows, one per frame
            outside = masks[:, region] == 0
            assert outside.any() and (~outside).any()
            assert mass[outside].max() < 1e-6, f"{name}: {eid} attends outside its box"
            assert mass[~outside].max() > 1e-3, f"{name}: {eid} has no attention at all inside its box"


def test_without_boxes_attention_is_plain_and_spreads_over_the_frame(gen, lv_project):
    ctx = context(lv_project)
    inputs = gen.prepare(ctx)
    attn = first_cross_attention(gen.pipeline().pipe.unet)
    seen = {}

    def grab(module, args, kwargs):  # the layer runs on chunks of rows: collect them all
        seen.setdefault("x", []).append(args[0])

    hook = attn.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        free = unet_once(gen, dataclasses.replace(inputs, masks=None, tokens=None))
    finally:
        hook.remove()
    name = next(iter(free))
    # plain softmax(q k^T / sqrt(d)) from the layer's own weights: nothing changed without boxes
    q, k = attn.to_q(torch.cat(seen["x"])), attn.to_k(inputs.embeds)
    heads = attn.heads
    q = q.unflatten(-1, (heads, -1)).transpose(1, 2)
    k = k.unflatten(-1, (heads, -1)).transpose(1, 2)
    plain = ((q @ k.transpose(-1, -2)) * attn.scale).softmax(-1).mean(1)
    assert torch.allclose(free[name], plain, atol=1e-5)
    lat_h, lat_w = inputs.latents.shape[-2:]
    masks = layer_masks(ctx, inputs.entities, lat_h, lat_w, plain.shape[1])
    mass = entity_mass(free[name][FRAMES:], inputs.plan.entity_spans["cat"])
    assert mass[masks[:, CAT] == 0].max() > 0.01  # unbound, the cat's words reach everywhere


def test_moving_the_box_on_frame_8_moves_the_attention_on_frame_8_only(gen, lv_project):
    ctx_a = context(lv_project)
    moved = make_doc()
    keys = moved["scenes"][0]["tracks"][0]["keyframes"]
    next(k for k in keys if k["frame"] == 8)["box"] = [0.05, 0.55, 0.45, 0.95]  # bottom left instead of top middle
    ctx_b = context(lv_project, moved)
    a_in, b_in = gen.prepare(ctx_a), gen.prepare(ctx_b)
    rec_a, rec_b = unet_once(gen, a_in), unet_once(gen, b_in)
    name = next(iter(rec_a))  # the first box-bound layer: its input does not depend on the boxes yet
    pa, pb = rec_a[name][FRAMES:], rec_b[name][FRAMES:]
    for f in range(FRAMES):
        if f != 8:
            assert torch.equal(pa[f], pb[f]), f"frame {f} changed"
    lat_h, lat_w = a_in.latents.shape[-2:]
    span = a_in.plan.entity_spans["cat"]
    old = layer_masks(ctx_a, a_in.entities, lat_h, lat_w, pa.shape[1])[8, CAT]
    new = layer_masks(ctx_b, b_in.entities, lat_h, lat_w, pa.shape[1])[8, CAT]
    mass_a, mass_b = entity_mass(pa[8:9], span)[0], entity_mass(pb[8:9], span)[0]
    only_old, only_new = (old > 0) & (new == 0), (new > 0) & (old == 0)
    assert mass_a[only_old].sum() > 1e-3 and mass_a[only_new].max() < 1e-6
    assert mass_b[only_new].sum() > 1e-3 and mass_b[only_old].max() < 1e-6


# -- entity references ----------------------------------------------------------------------------------------


def test_reference_image_acts_only_inside_the_entity_box_on_each_frame(gen, lv_project):
    ctx = context(lv_project)
    inputs = gen.prepare(ctx)
    assert inputs.ip_regions == [[CAT]] and inputs.ip_scale > 0  # the cat has a reference, the ball none
    attn = first_cross_attention(gen.pipeline().pipe.unet)
    outs = []
    hook = attn.register_forward_hook(lambda m, a, out: outs.append(out))
    try:
        unet_once(gen, inputs, record=False)
        unet_once(gen, dataclasses.replace(inputs, ip_scale=0.0))
    finally:
        hook.remove()
    first_a, first_b = outs[0], outs[len(outs) // 2]  # the first layer's output in each run
    diff = (first_a - first_b)[FRAMES:].abs().sum(-1)  # [frames, queries]: what the reference added
    lat_h, lat_w = inputs.latents.shape[-2:]
    masks = layer_masks(ctx, inputs.entities, lat_h, lat_w, diff.shape[1])
    for f in range(FRAMES):
        cat = masks[f, CAT]
        assert diff[f][cat == 0].max() < 1e-5, f"frame {f}: the reference leaks outside the cat's box"
        assert diff[f][cat > 0.99].min() > 1e-4, f"frame {f}: the reference does nothing inside the box"


# -- per-frame prompts ----------------------------------------------------------------------------------------


def test_each_frame_gets_its_keyframe_description_blended_in_between(gen, lv_project, recorded):
    pipe = gen.pipeline().pipe
    inputs = gen.prepare(context(lv_project))
    plan = inputs.plan
    assert "the cat sits" in plan.frame_text(0) and "the dog runs" in plan.frame_text(11)
    first, last = gen._encode(pipe, [plan.frame_text(0)], pipe.device), gen._encode(pipe, [plan.frame_text(11)], pipe.device)
    negative = gen._encode(pipe, ["blurry"], pipe.device)
    text = recorded["context"][0] if isinstance(recorded["context"], tuple) else recorded["context"]
    assert text.shape[0] == 2 * FRAMES
    prompt = text[FRAMES:]
    assert torch.allclose(prompt[0], first[0], atol=1e-6)
    assert torch.allclose(prompt[11], last[0], atol=1e-6)
    assert torch.allclose(prompt[5], first[0] * 6 / 11 + last[0] * 5 / 11, atol=1e-5)
    assert torch.allclose(text[:FRAMES], negative.expand(FRAMES, -1, -1), atol=1e-6)  # negative rows untouched
    assert not torch.allclose(prompt[5], prompt[6])


# -- camera motion --------------------------------------------------------------------------------------------


def lora_layer(unet):
    return next(m for n, m in unet.named_modules() if "motion_modules" in n and hasattr(m, "lora_A") and m.lora_A)


def test_the_scene_camera_loads_its_motion_lora_at_its_strength(gen, recorded, tiny_overrides):
    pipe = gen.pipeline().pipe
    assert pipe.get_active_adapters() == ["camera-zoom-in"]
    layer = lora_layer(pipe.unet)
    assert layer.scaling["camera-zoom-in"] == pytest.approx(0.6)
    saved = load_file(f"{tiny_overrides['motion_lora_repo_prefix']}zoom-in/diffusion_pytorch_model.safetensors")
    a_keys = [k for k in saved if "lora_A" in k]
    loaded = {n: p for n, p in pipe.unet.named_parameters() if "camera-zoom-in" in n and "lora_A" in n}
    assert len(loaded) == len(a_keys)
    some = a_keys[0].removeprefix("unet.").replace("lora_A.weight", "lora_A.camera-zoom-in.weight")
    assert torch.equal(loaded[some], saved[a_keys[0]])


def test_a_lora_built_here_is_loaded_for_its_move_with_its_weight_and_static_turns_it_off(gen, tmp_path, tiny_overrides):
    from diffusers import MotionAdapter, UNet2DConditionModel, UNetMotionModel

    pipe = gen.pipeline().pipe
    fresh = UNetMotionModel.from_unet2d(
        UNet2DConditionModel.from_pretrained(tiny_overrides["t2i_model"], subfolder="unet"),
        MotionAdapter.from_pretrained(tiny_overrides["motion_adapter"]),
    )
    build_tiny_motion_lora(tmp_path / "mine-tilt-down", fresh, seed=42)
    settings = lv_settings({}, motion_lora_repo_prefix=str(tmp_path / "mine-"))
    pipe.enable_free_noise(context_length=4, context_stride=1)  # as the generator does for a 4-frame scene
    x = torch.randn(2, 4, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    emb = torch.randn(8, 77, pipe.text_encoder.config.hidden_size, generator=torch.Generator().manual_seed(1))
    zero = gen._image_embeds(pipe, [], torch.device("cpu"), True)  # what a scene without references gets

    def run():
        with torch.no_grad():
            return pipe.unet(x, 500, encoder_hidden_states=emb, added_cond_kwargs={"image_embeds": zero}).sample

    try:
        assert apply_camera_motion(pipe, Camera(motion="static"), settings) is None
        base = run()
        assert apply_camera_motion(pipe, Camera(motion="tilt_down", strength=0.25), settings) == ("camera-tilt-down", 0.25)
        assert pipe.get_active_adapters() == ["camera-tilt-down"]
        tilted = run()
        assert lora_layer(pipe.unet).scaling["camera-tilt-down"] == pytest.approx(0.25)
        assert (tilted - base).abs().max() > 1e-4  # the LoRA acts on the motion modules
        apply_camera_motion(pipe, Camera(motion="static", strength=0.9), settings)
        assert torch.allclose(run(), base, atol=1e-6)  # static: every motion LoRA off
        with pytest.raises(ModelUnavailableError, match="FLOWDRAFTER_MOTION_LORA_REPO_PREFIX"):
            apply_camera_motion(pipe, Camera(motion="pan_right", strength=0.5), lv_settings({}, motion_lora_repo_prefix=str(tmp_path / "none-")))
    finally:
        pipe.delete_adapters("camera-tilt-down")


# -- end to end -----------------------------------------------------------------------------------------------


def test_frames_have_the_scene_length_and_storyboard_size_and_a_seed_repeats_them(gen, lv_project, recorded):
    frames = recorded["frames"]
    assert frames.shape == (FRAMES, 64, 96, 3) and frames.dtype == np.uint8
    assert frames.std() > 1.0  # a picture, not a constant
    assert np.array_equal(gen.generate(context(lv_project)), frames)
    other = gen.generate(context(lv_project, make_doc(seed=99)))
    assert not np.array_equal(other, frames)
    blocks = gen.pipeline().pipe.unet.down_blocks[0].motion_modules[0].transformer_blocks[0]
    assert blocks.context_length == 8  # 12 frames > the 8-frame context: FreeNoise windows slide


def test_cancelling_stops_within_one_step(tiny_overrides, lv_project):
    gen = LayoutVideoGenerator(lv_settings(tiny_overrides, steps=4))
    steps = []

    def progress(fraction, message):
        if message.startswith("step"):
            steps.append(message)

    ctx = context(lv_project, progress=progress, is_cancelled=lambda: len(steps) >= 1)
    with pytest.raises(Cancelled):
        gen.generate(ctx)
    assert steps == ["step 1/4"]
    assert gen.pipeline().state.masks is None  # the shared processors are left unbound


def test_render_storyboard_writes_a_clip_through_the_cache(tiny_overrides, lv_project):
    from flowdrafter.generators.render import render_storyboard
    from flowdrafter.generators.video import probe

    settings = lv_settings(tiny_overrides)
    report = render_storyboard(lv_project, "layout-video", settings=settings)
    [scene] = report.scenes
    assert not scene.reused
    info = probe(scene.clip, decode=True)
    assert (info.frames, info.width, info.height) == (FRAMES, 96, 64)
    again = render_storyboard(lv_project, "layout-video", settings=settings)
    assert again.scenes[0].reused and again.scenes[0].clip == scene.clip


def test_a_missing_model_is_one_clear_error_naming_its_setting(tiny_overrides, lv_project, tmp_path):
    gen = LayoutVideoGenerator(lv_settings(tiny_overrides, motion_adapter=str(tmp_path / "no-such-adapter")))
    with pytest.raises(ModelUnavailableError, match="motion adapter .*FLOWDRAFTER_MOTION_ADAPTER"):
        gen.generate(context(lv_project))


def test_the_initial_noise_follows_the_scene_background_motion(gen, lv_project):
    from .test_noise_shift import phase_correlation

    inputs = gen.prepare(context(lv_project))  # dx = 0.05 of the frame per frame, dy = 0
    noise = inputs.latents[0]
    width = noise.shape[-1]
    for f in (1, 5, 11):
        dx, dy = phase_correlation(noise[:, 0], noise[:, f])
        wrapped = (dx - 0.05 * width * f + width / 2) % width - width / 2  # shifts wrap around the frame
        assert wrapped == pytest.approx(0.0, abs=0.1) and dy == pytest.approx(0.0, abs=0.1)
    per_frame = noise.transpose(0, 1).flatten(1)
    assert per_frame.var(dim=1).sub(1).abs().max() < 0.25  # unit variance (few samples per tiny frame)


def test_a_camera_lora_with_layers_the_motion_adapter_lacks_is_refused_not_silently_cut(tiny_overrides, tmp_path):
    """The camera LoRAs have mid-block weights (trained on v1-5-2); an adapter without a mid-block motion
    module (v1-5-3's layout) would drop them with only a library warning. Here it is one clear error."""
    from flowdrafter.generators.diffusion.motion_lora import loaded_motion_loras
    from flowdrafter.generators.testing.tiny_motion import build_tiny_motion_adapter

    adapter = build_tiny_motion_adapter(tmp_path / "adapter-no-mid", tiny_overrides["t2i_model"], mid_block=False)
    settings = lv_settings(tiny_overrides, motion_adapter=str(adapter))
    pipe = LayoutVideoGenerator(settings).pipeline().pipe
    try:
        with pytest.raises(ModelUnavailableError, match=r"does not fit the motion adapter .* \(e\.g\. mid_block"):
            apply_camera_motion(pipe, Camera(motion="zoom_in", strength=0.5), settings)
        assert loaded_motion_loras(pipe) == []
    finally:
        from flowdrafter.generators.diffusion import models

        models.free("layout-video")
