"""The layout-video generator on tiny real models: regional prompts, references, per-frame prompts, camera LoRAs,
clips."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from flowdrafter.core.errors import Cancelled, ModelUnavailableError
from flowdrafter.core.storyboard import Camera
from flowdrafter.generators.diffusion.attention import layer_size
from flowdrafter.generators.diffusion.layout_video import LayoutVideoGenerator, frame_masks
from flowdrafter.generators.diffusion.motion_lora import apply_camera_motion, loaded_motion_loras
from flowdrafter.generators.testing.tiny_motion import build_tiny_motion_lora

from .conftest import FRAMES, context, lv_settings, make_doc

CAT, BALL = 0, 1  # attention regions, in track order
PROMPT = 1  # records are [half, frame, ...]: half 1 holds the prompt rows, half 0 the negative rows
GROUP = 77  # tokens per text block


@pytest.fixture(scope="session")
def gen(tiny_overrides) -> LayoutVideoGenerator:
    return LayoutVideoGenerator(lv_settings(tiny_overrides))


def first_cross_attention(unet):
    """The first spatial cross-attention module the UNet runs."""
    name = next(n for n in unet.attn_processors if n.endswith("attn2.processor") and "motion_modules" not in n)
    return unet.get_submodule(name.removesuffix(".processor"))


def unet_once(gen, inputs, frames=None, *, factors=(1.0, 1.0), record=True, record_self=False, heads=False):
    """One UNet call on a scene's prepared inputs at the first timestep, over `frames` (all by default) in one
    window; returns the recorded attention ({layer: [half, frame, (heads,) queries, keys]})."""
    lv = gen.pipeline()
    pipe = lv.pipe
    pipe.scheduler.set_timesteps(1)
    t = pipe.scheduler.timesteps[0]
    frames = range(inputs.latents.shape[2]) if frames is None else frames
    gen.bind(inputs)
    lv.state.cross_factor, lv.state.self_factor = factors
    lv.state.record = {} if record else None
    lv.state.record_self = lv.state.record_self_probs = record_self
    lv.state.record_heads = heads
    try:
        lv.state.new_pass()
        gen.unet_call(pipe, inputs, inputs.latents[:, :, frames.start : frames.stop], t, frames)
        return lv.state.record
    finally:
        lv.state.record, lv.state.record_heads = None, False
        lv.state.record_self = lv.state.record_self_probs = False
        gen.unbind()


def cross_layers(record: dict) -> dict:
    return {n: p for n, p in record.items() if n.endswith("attn2.processor")}


def layer_masks(ctx, entities, lat_h, lat_w, queries) -> torch.Tensor:
    """[frames, regions, queries]: the boxes pooled to a layer's resolution (as the processors see them)."""
    h, w = layer_size(lat_h, lat_w, queries)
    masks = frame_masks(ctx.scene, entities, lat_h, lat_w)
    return F.adaptive_avg_pool2d(masks, (h, w)).flatten(2)


def block(region: int) -> slice:
    """An entity's text block (after the scene's block)."""
    return slice((region + 1) * GROUP, (region + 2) * GROUP)


@pytest.fixture(scope="session")
def cat_inputs(gen, lv_project):
    ctx = context(lv_project)
    return ctx, gen.prepare(ctx)


@pytest.fixture(scope="session")
def cat_record(gen, cat_inputs):
    _, inputs = cat_inputs
    return unet_once(gen, inputs)


# -- regional prompting ---------------------------------------------------------------------------------------


def test_each_entity_text_block_acts_only_inside_its_box_on_every_frame(gen, cat_inputs, cat_record):
    ctx, inputs = cat_inputs
    pipe = gen.pipeline().pipe
    lat_h, lat_w = inputs.latents.shape[-2:]
    layers = cross_layers(cat_record)
    assert len(layers) >= 3  # every spatial cross-attention layer is regional
    for region, eid in enumerate(inputs.entities):
        ids = pipe.tokenizer(inputs.plan.entity_texts[eid], padding="max_length", max_length=GROUP)["input_ids"]
        eos = ids.index(pipe.tokenizer.eos_token_id)
        parts = {"words": slice(1, eos), "end-of-text": slice(eos, eos + 1), "padding": slice(eos + 1, GROUP)}
        for name, probs in layers.items():
            assert probs.shape[-1] == (1 + len(inputs.entities)) * GROUP
            masks = layer_masks(ctx, inputs.entities, lat_h, lat_w, probs.shape[2])
            entity = probs[PROMPT][:, :, block(region)]  # [frames, queries, 77]
            for f in range(FRAMES):
                outside, inside = masks[f, region] == 0, masks[f, region] > 0.99
                assert outside.any() and inside.any()
                for part, tokens in parts.items():
                    mass = entity[f][:, tokens].sum(-1)
                    assert mass[outside].max() < 1e-6, f"{name}, frame {f}: the {eid}'s {part} act outside its box"
                assert entity[f][inside].sum(-1).min() > 1e-3, f"{name}, frame {f}: {eid} has no attention in its box"
            negative = probs[1 - PROMPT][:, :, GROUP:].sum(-1)
            assert negative.max() < 1e-6  # the negative prompt is never box-bound: only its own block counts


@pytest.mark.parametrize("factors", [(1.0, 1.0), (3.0, 2.0)], ids=["plain", "modulated"])
def test_the_fast_regional_attention_equals_the_softmax_over_every_block(gen, cat_inputs, factors):
    """Renders take the block-by-block path (each entity scored only inside its box); the records above come
    from the one softmax over all blocks with the mask as a bias. Both give the same noise prediction."""
    _, inputs = cat_inputs
    lv = gen.pipeline()
    pipe = lv.pipe
    pipe.scheduler.set_timesteps(1)
    t = pipe.scheduler.timesteps[0]
    gen.bind(inputs)
    lv.state.cross_factor, lv.state.self_factor = factors
    try:
        noise = {}
        for mode, record in (("fast", None), ("every block", {})):
            lv.state.record = record
            lv.state.new_pass()
            noise[mode] = gen.unet_call(pipe, inputs, inputs.latents, t, range(FRAMES))
    finally:
        lv.state.record = None
        gen.unbind()
    assert noise["fast"].abs().max() > 1.0
    # float32 through the whole UNet: summation order alone moves outputs by ~1e-4 (a fused SDPA kernel with
    # the bias on extra head dimensions differs from the written-out softmax by 2e-4 on these inputs)
    assert (noise["fast"] - noise["every block"]).abs().max() < 1e-3


def test_the_scene_text_acts_everywhere_and_alone_outside_every_box(cat_inputs, cat_record):
    ctx, inputs = cat_inputs
    lat_h, lat_w = inputs.latents.shape[-2:]
    for probs in cross_layers(cat_record).values():
        masks = layer_masks(ctx, inputs.entities, lat_h, lat_w, probs.shape[2])
        scene = probs[PROMPT][:, :, :GROUP].sum(-1)  # [frames, queries]
        free = masks.amax(dim=1) == 0
        assert torch.allclose(scene[free], torch.ones_like(scene[free]), atol=1e-5)
        assert scene.min() > 1e-3


def test_moving_the_frame_8_box_moves_the_attention_on_frame_8_only(gen, lv_project, cat_inputs, cat_record):
    ctx_a, a_in = cat_inputs
    moved = make_doc()
    keys = moved["scenes"][0]["tracks"][0]["keyframes"]
    next(k for k in keys if k["frame"] == 8)["box"] = [0.05, 0.55, 0.45, 0.95]  # bottom left instead of top middle
    ctx_b = context(lv_project, moved)
    b_in = gen.prepare(ctx_b)
    rec_b = unet_once(gen, b_in)
    name = next(iter(cross_layers(cat_record)))  # the first layer: its input does not depend on the boxes yet
    pa, pb = cat_record[name][PROMPT], rec_b[name][PROMPT]
    for f in range(FRAMES):
        if f != 8:
            assert torch.equal(pa[f], pb[f]), f"frame {f} changed"
    lat_h, lat_w = a_in.latents.shape[-2:]
    old = layer_masks(ctx_a, a_in.entities, lat_h, lat_w, pa.shape[1])[8, CAT]
    new = layer_masks(ctx_b, b_in.entities, lat_h, lat_w, pa.shape[1])[8, CAT]
    mass_a, mass_b = pa[8][:, block(CAT)].sum(-1), pb[8][:, block(CAT)].sum(-1)
    only_old, only_new = (old > 0) & (new == 0), (new > 0) & (old == 0)
    assert mass_a[only_old].sum() > 1e-3 and mass_a[only_new].max() < 1e-6
    assert mass_b[only_new].sum() > 1e-3 and mass_b[only_old].max() < 1e-6


def test_without_entities_cross_attention_is_plain(gen, lv_project):
    doc = make_doc(tracks=[])
    ctx = context(lv_project, doc)
    inputs = gen.prepare(ctx)
    attn = first_cross_attention(gen.pipeline().pipe.unet)
    seen = []
    hook = attn.register_forward_pre_hook(lambda m, args, kwargs: seen.append(args[0]), with_kwargs=True)
    try:
        record = unet_once(gen, inputs)
    finally:
        hook.remove()
    name = next(iter(cross_layers(record)))
    text = inputs.text_rows(range(FRAMES))
    assert text.shape[1] == GROUP  # the scene's block alone
    q, k = attn.to_q(torch.cat(seen)), attn.to_k(text)
    q = q.unflatten(-1, (attn.heads, -1)).transpose(1, 2)
    k = k.unflatten(-1, (attn.heads, -1)).transpose(1, 2)
    plain = ((q @ k.transpose(-1, -2)) * attn.scale).softmax(-1).mean(1)  # softmax(q k^T / sqrt(d)), nothing else
    assert torch.allclose(record[name].flatten(0, 1), plain, atol=1e-5)


# -- modulation -----------------------------------------------------------------------------------------------


def test_modulation_raises_an_entitys_odds_inside_its_box_by_the_factor(gen, cat_inputs):
    ctx, inputs = cat_inputs
    before = unet_once(gen, inputs, heads=True)
    modulated = unet_once(gen, inputs, factors=(3.0, 1.0), heads=True)
    lat_h, lat_w = inputs.latents.shape[-2:]
    name = next(iter(cross_layers(before)))  # the first layer sees the same input in both runs
    masks = layer_masks(ctx, inputs.entities, lat_h, lat_w, before[name].shape[-2])
    for region in (CAT, BALL):
        plain = before[name][PROMPT][..., block(region)].sum(-1)  # [frames, heads, queries]
        up = modulated[name][PROMPT][..., block(region)].sum(-1)
        alone = (masks[:, region] > 0.999) & (masks[:, 1 - region] == 0)  # in this box and no other
        inside = alone[:, None].expand_as(plain)
        odds = (up / (1 - up)) / (plain / (1 - plain))
        torch.testing.assert_close(odds[inside], torch.full_like(odds[inside], 3.0), rtol=1e-3, atol=0)
        assert up[(masks[:, region] == 0)[:, None].expand_as(up)].max() < 1e-6  # still nothing outside
        assert (up[inside] > plain[inside]).all()


def test_modulation_applies_in_the_configured_steps_only(tiny_overrides, lv_project):
    from flowdrafter.generators.diffusion.layout_video import modulation

    s = lv_settings(tiny_overrides, layout_video_cross_modulation=3.0, layout_video_self_modulation=2.0,
                    layout_video_modulation_steps=0.3)  # fmt: skip
    assert [modulation(s, i, 10) for i in range(10)] == [(3.0, 2.0)] * 3 + [(1.0, 1.0)] * 7
    gen = LayoutVideoGenerator(lv_settings(tiny_overrides, steps=4, layout_video_modulation_steps=0.5))
    lv = gen.pipeline()
    seen = []
    hook = lv.pipe.unet.register_forward_pre_hook(lambda *_: seen.append((lv.state.cross_factor, lv.state.self_factor)))
    try:
        gen.generate(context(lv_project))
    finally:
        hook.remove()
    on = (gen.settings.layout_video_cross_modulation, gen.settings.layout_video_self_modulation)
    assert on != (1.0, 1.0)
    assert seen == [on] * 4 + [(1.0, 1.0)] * 4  # 4 steps x 2 windows: the first half of the steps
    assert (lv.state.cross_factor, lv.state.self_factor) == (1.0, 1.0)  # left unmodulated


def test_self_modulation_keeps_positions_in_a_box_attending_within_it(gen, cat_inputs):
    ctx, inputs = cat_inputs
    inputs = dataclasses.replace(inputs, cross_frame="off")
    plain = unet_once(gen, inputs, record_self=True)
    strong = unet_once(gen, inputs, factors=(1.0, 2.0), record_self=True)
    lat_h, lat_w = inputs.latents.shape[-2:]
    name = next(n for n in plain if n.endswith("attn1.processor"))  # the first: same input in both runs
    queries = plain[name].shape[2]
    masks = layer_masks(ctx, inputs.entities, lat_h, lat_w, queries)
    for f in (0, 8):
        box = masks[f, CAT]
        inside = box > 0.999
        share_plain = (plain[name][PROMPT, f][:, box > 0.5].sum(-1))[inside]
        share_mod = (strong[name][PROMPT, f][:, box > 0.5].sum(-1))[inside]
        assert (share_mod > share_plain).all()
        assert share_mod.mean() > 0.6  # mostly within its own box
    negative = plain[name][1 - PROMPT], strong[name][1 - PROMPT]
    torch.testing.assert_close(*negative)  # the negative half is never modulated


# -- cross-frame attention --------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [0, 5])
def test_cross_frame_keys_include_frame_0_when_on_and_not_when_off(tiny_overrides, lv_project, chunk):
    gen = LayoutVideoGenerator(lv_settings(tiny_overrides, layout_video_frame_chunk=chunk))
    inputs = gen.prepare(context(lv_project))
    on = unet_once(gen, dataclasses.replace(inputs, cross_frame="first"), record_self=True)
    off = unet_once(gen, dataclasses.replace(inputs, cross_frame="off"), record_self=True)
    selfs = [n for n in on if n.endswith("attn1.processor")]
    assert selfs
    for name in selfs:
        queries = on[name].shape[2]
        for half in (0, 1):  # with a chunk of 5 rows, frames 5.. of both halves never share a chunk with frame 0
            for f in range(FRAMES):
                assert on[name + ":key_frames"][half, f].tolist() == [f, 0]
                assert off[name + ":key_frames"][half, f].tolist() == [f]
                keys = on[name + ":keys"][half, f]  # [heads, 2 x queries, dim]
                assert keys.shape[1] == 2 * queries and off[name + ":keys"][half, f].shape[1] == queries
                own_keys_of_frame_0 = on[name + ":keys"][half, 0][:, :queries]
                torch.testing.assert_close(keys[:, queries:], own_keys_of_frame_0)
                assert on[name][half, f][:, queries:].sum(-1).min() > 1e-3  # frame 0 really gets attention


def test_cross_frame_reaches_windows_without_frame_0_and_the_previous_frame_too(tiny_overrides, lv_project):
    gen = LayoutVideoGenerator(lv_settings(tiny_overrides, layout_video_cross_frame="first+previous", layout_video_frame_chunk=3))
    inputs = gen.prepare(context(lv_project))
    assert inputs.windows == [(0, 8), (4, 12)]  # 12 frames, an 8-frame motion context
    lv, pipe = gen.pipeline(), gen.pipeline().pipe
    pipe.scheduler.set_timesteps(1)
    gen.bind(inputs)
    lv.state.record, lv.state.record_self = {}, True
    lv.state.record_self_probs = True
    try:
        gen.predict(pipe, inputs, inputs.latents, pipe.scheduler.timesteps[0])
        record = lv.state.record
    finally:
        lv.state.record, lv.state.record_self, lv.state.record_self_probs = None, False, False
        gen.unbind()
    name = next(n for n in record if n.endswith("attn1.processor"))
    keys = record[name + ":keys"]
    queries = record[name].shape[2]
    frame_0 = keys[PROMPT, 0][:, :queries]  # recorded in the first window
    for f in (4, 9, 11):  # recorded in the second window (4.. overwrote the first window's)
        assert record[name + ":key_frames"][PROMPT, f].tolist() == [f, 0, f - 1]
        torch.testing.assert_close(keys[PROMPT, f][:, queries : 2 * queries], frame_0)
    torch.testing.assert_close(keys[PROMPT, 10][:, 2 * queries :], keys[PROMPT, 9][:, :queries])


def test_cross_frame_default_is_on_for_scenes_longer_than_the_motion_context(tiny_overrides, lv_project):
    gen = LayoutVideoGenerator(lv_settings(tiny_overrides))
    assert gen.settings.layout_video_cross_frame == "auto"
    assert gen.prepare(context(lv_project)).cross_frame == "first"  # 12 frames, 8 in the motion context
    short = make_doc(num_frames=8, frames=[], tracks=[{"entity": "cat", "keyframes": [{"frame": 0, "box": [0.1, 0.1, 0.5, 0.5]}]}])
    assert gen.prepare(context(lv_project, short)).cross_frame == "off"


# -- entity references ----------------------------------------------------------------------------------------


def test_reference_image_acts_only_inside_the_entity_box_on_each_frame(gen, cat_inputs):
    ctx, inputs = cat_inputs
    assert inputs.layout.ip_regions == [[CAT]] and inputs.ip_scale > 0  # the cat has a reference, the ball none
    attn = first_cross_attention(gen.pipeline().pipe.unet)
    outs = []
    hook = attn.register_forward_hook(lambda m, a, out: outs.append(out))
    try:
        unet_once(gen, inputs, record=False)
        unet_once(gen, dataclasses.replace(inputs, ip_scale=0.0), record=False)
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


def test_each_frame_gets_its_keyframe_description_and_every_entity_its_own_text(gen, cat_inputs):
    _, inputs = cat_inputs
    pipe = gen.pipeline().pipe
    plan = inputs.plan
    assert "the cat sits" in plan.frame_text(0) and "the dog runs" in plan.frame_text(11)
    assert all("cat" not in t.split(",")[1:] for t in plan.texts)  # the scene text carries no entity phrase
    assert plan.entity_texts == {"cat": "cat, a red cat with a tree, watercolor", "ball": "ball, a ball, watercolor"}
    encode = lambda texts: gen._encode(pipe, texts, pipe.device)  # noqa: E731
    first, last, negative = encode([plan.frame_text(0)]), encode([plan.frame_text(11)]), encode(["blurry"])
    cat, ball = encode([plan.entity_texts["cat"]]), encode([plan.entity_texts["ball"]])
    rows = inputs.text_rows(range(FRAMES))
    assert rows.shape[:2] == (2 * FRAMES, GROUP)  # each row's own block; the entities' blocks are shared
    prompt = rows[FRAMES:]
    assert torch.allclose(prompt[0], first[0], atol=1e-6)
    assert torch.allclose(prompt[11], last[0], atol=1e-6)
    assert torch.allclose(prompt[5], first[0] * 6 / 11 + last[0] * 5 / 11, atol=1e-5)
    entity_text = inputs.layout.entity_text  # the same on every frame
    assert torch.allclose(entity_text[CAT], cat[0], atol=1e-6)
    assert torch.allclose(entity_text[BALL], ball[0], atol=1e-6)
    assert torch.allclose(rows[:FRAMES], negative.expand(FRAMES, -1, -1), atol=1e-6)


# -- camera and background motion ------------------------------------------------------------------------------


def lora_layer(unet):
    return next(m for n, m in unet.named_modules() if "motion_modules" in n and hasattr(m, "lora_A") and m.lora_A)


def test_the_scene_camera_loads_its_motion_lora_at_its_strength(gen, cat_inputs, tiny_overrides):
    pipe = gen.pipeline().pipe
    gen.prepare(context(cat_inputs[0].project))  # the cat scene: zoom in at 0.6
    assert pipe.get_active_adapters() == ["camera-zoom-in"]
    layer = lora_layer(pipe.unet)
    assert layer.scaling["camera-zoom-in"] == pytest.approx(0.6)
    saved = load_file(f"{tiny_overrides['motion_lora_repo_prefix']}zoom-in/diffusion_pytorch_model.safetensors")
    a_keys = [k for k in saved if "lora_A" in k]
    loaded = {n: p for n, p in pipe.unet.named_parameters() if "camera-zoom-in" in n and "lora_A" in n}
    assert len(loaded) == len(a_keys)
    some = a_keys[0].removeprefix("unet.").replace("lora_A.weight", "lora_A.camera-zoom-in.weight")
    assert torch.equal(loaded[some], saved[a_keys[0]])


def test_a_lora_built_here_is_loaded_for_its_move_with_its_weight_and_static_turns_it_off(gen, tmp_path, tiny_overrides, capfd):
    from diffusers import MotionAdapter, UNet2DConditionModel, UNetMotionModel

    from flowdrafter.generators.diffusion import models

    models.free("layout-video")  # a fresh pipeline: no camera LoRA loaded by other scenes
    pipe = gen.pipeline().pipe
    fresh = UNetMotionModel.from_unet2d(
        UNet2DConditionModel.from_pretrained(tiny_overrides["t2i_model"], subfolder="unet"),
        MotionAdapter.from_pretrained(tiny_overrides["motion_adapter"]),
    )
    build_tiny_motion_lora(tmp_path / "mine-tilt-down", fresh, seed=42)
    build_tiny_motion_lora(tmp_path / "mine-zoom-in", fresh, seed=7)
    settings = lv_settings({}, motion_lora_repo_prefix=str(tmp_path / "mine-"))
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
        capfd.readouterr()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a second move's LoRA loads beside the first without a warning
            assert apply_camera_motion(pipe, Camera(motion="zoom_in"), settings) == ("camera-zoom-in", 0.5)
        assert capfd.readouterr().err == ""  # nor a library log line in the user's terminal
        assert pipe.get_active_adapters() == ["camera-zoom-in"]
        with pytest.raises(ModelUnavailableError, match="FLOWDRAFTER_MOTION_LORA_REPO_PREFIX"):
            apply_camera_motion(pipe, Camera(motion="pan_right", strength=0.5), lv_settings({}, motion_lora_repo_prefix=str(tmp_path / "none-")))
    finally:
        pipe.delete_adapters([n for n in ("camera-tilt-down", "camera-zoom-in") if n in loaded_motion_loras(pipe)])


def assert_noise_drifts(noise: torch.Tensor, dx: float, dy: float) -> None:
    """Frame f's initial noise is frame 0's moved by f * (dx * width, dy * height) latent pixels (phase
    correlation, to 0.1 pixel; shifts wrap around the frame)."""
    from .test_noise_shift import phase_correlation

    height, width = noise.shape[-2:]
    for f in (1, 5, 11):
        got_x, got_y = phase_correlation(noise[:, 0], noise[:, f])
        off_x = (got_x - dx * width * f + width / 2) % width - width / 2
        off_y = (got_y - dy * height * f + height / 2) % height - height / 2
        assert abs(off_x) < 0.1 and abs(off_y) < 0.1, f"frame {f}: moved ({got_x:.2f}, {got_y:.2f}) pixels"


def test_a_static_shot_with_background_motion_shifts_the_noise_and_loads_no_lora(tiny_overrides, lv_project):
    from flowdrafter.generators.diffusion import models
    from flowdrafter.generators.diffusion.motion_lora import loaded_motion_loras

    models.free("layout-video")  # a fresh pipeline: nothing loaded by other scenes
    gen = LayoutVideoGenerator(lv_settings(tiny_overrides, layout_video_max_side=None))  # latents 48x32
    doc = make_doc(camera={"motion": "static", "strength": 0.5}, background_motion={"dx": 0.02, "dy": 0.0})
    inputs = gen.prepare(context(lv_project, doc))
    pipe = gen.pipeline().pipe
    assert loaded_motion_loras(pipe) == [] and pipe.get_list_adapters() == {}
    assert_noise_drifts(inputs.latents[0], 0.02, 0.0)
    per_frame = inputs.latents[0].transpose(0, 1).flatten(1)
    assert per_frame.var(dim=1).sub(1).abs().max() < 0.1  # unit variance


@pytest.mark.parametrize(("camera", "drift"), [("pan_right", (-0.01, 0.0)), ("pan_left", (0.01, 0.0)),
                                               ("tilt_up", (0.0, 0.01)), ("zoom_out", (0.0, 0.0))])  # fmt: skip
def test_a_pan_or_tilt_adds_the_cameras_drift_once(tiny_overrides, lv_project, camera, drift):
    gen = LayoutVideoGenerator(lv_settings(tiny_overrides, layout_video_max_side=None))  # latents 48x32
    doc = make_doc(camera={"motion": camera, "strength": 0.5}, background_motion={"dx": 0.02, "dy": -0.01})
    inputs = gen.prepare(context(lv_project, doc))
    assert_noise_drifts(inputs.latents[0], 0.02 + drift[0], -0.01 + drift[1])
    assert gen.pipeline().pipe.get_active_adapters() == [f"camera-{camera.replace('_', '-')}"]


# -- box guidance -----------------------------------------------------------------------------------------------


def test_box_guidance_lowers_its_energy_at_each_gradient_step(tiny_overrides, lv_project):
    gen = LayoutVideoGenerator(lv_settings(
        tiny_overrides, steps=2, layout_video_box_guidance=30.0, layout_video_box_guidance_steps=0.5,
        layout_video_box_guidance_iterations=3))  # fmt: skip
    guided = gen.generate(context(lv_project))
    [energies] = gen.box_energies  # one guided step (the first of two), three gradient steps
    assert len(energies) == 3 and energies[0] > 0
    assert energies[0] > energies[1] > energies[2]
    plain = LayoutVideoGenerator(lv_settings(tiny_overrides, steps=2)).generate(context(lv_project))
    assert not np.array_equal(guided, plain)  # the guidance changed the clip


def test_without_box_guidance_no_energy_is_computed(tiny_overrides, lv_project):
    from flowdrafter.generators.diffusion import box_guidance

    gen = LayoutVideoGenerator(lv_settings(tiny_overrides, steps=2))
    assert gen.settings.layout_video_box_guidance == 0.0  # off by default
    calls, energies = [], []
    unet = gen.pipeline().pipe.unet
    hook = unet.register_forward_pre_hook(lambda *_: calls.append(torch.is_grad_enabled()))
    original = box_guidance._Energy.collect
    box_guidance._Energy.collect = lambda *a: energies.append(a)  # would be called by any guidance pass
    try:
        inputs = gen.prepare(context(lv_project))
        gen.generate(context(lv_project))
    finally:
        hook.remove()
        box_guidance._Energy.collect = original
    assert inputs.guide_embeds is None and gen.box_energies == []
    assert energies == [] and calls == [False] * 4  # 2 steps x 2 windows, no gradient pass


# -- end to end -----------------------------------------------------------------------------------------------


def test_frames_have_the_scene_length_and_storyboard_size_and_a_seed_repeats_them(gen, lv_project):
    frames = gen.generate(context(lv_project))
    assert frames.shape == (FRAMES, 64, 96, 3) and frames.dtype == np.uint8
    assert frames.std() > 1.0  # a picture, not a constant
    assert np.array_equal(gen.generate(context(lv_project)), frames)
    other = gen.generate(context(lv_project, make_doc(seed=99)))
    assert not np.array_equal(other, frames)


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
    state = gen.pipeline().state
    assert state.layout is None and state.cross_frame == "off"  # the shared processors are left unbound


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
