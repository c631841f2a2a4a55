"""Prompt travel: keyframe descriptions become per-frame scene texts; each entity has its own text; the combined
prompt (for box guidance) keeps the entity words at fixed, known positions."""

from __future__ import annotations

import pytest
import torch

from flowdrafter.core.storyboard import parse_storyboard
from flowdrafter.generators.diffusion.prompt_travel import ENTITY_TOKEN_BUDGET, plan_travel, travel_embeddings

from .conftest import make_doc


@pytest.fixture(scope="module")
def tokenizer(tiny_overrides):
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(tiny_overrides["t2i_model"], subfolder="tokenizer")


@pytest.fixture(scope="module")
def text_encoder(tiny_overrides):
    from transformers import CLIPTextModel

    return CLIPTextModel.from_pretrained(tiny_overrides["t2i_model"], subfolder="text_encoder")


def board(**scene):
    return parse_storyboard(make_doc(**scene))


def test_the_scene_text_leaves_the_entities_to_their_own_texts(tokenizer):
    sb = board()
    plan = plan_travel(sb, sb.scenes[0], tokenizer)
    assert plan.texts == ["the cat sits, garden, a garden, watercolor", "the dog runs, garden, a garden, watercolor"]
    assert plan.entity_texts == {"cat": "cat, a red cat with a tree, watercolor", "ball": "ball, a ball, watercolor"}
    assert plan.combined == [f"cat a red cat with a tree, ball a ball, {t}" for t in plan.texts]


def test_entity_spans_point_at_the_entity_words_in_every_combined_prompt(tokenizer):
    sb = board()
    plan = plan_travel(sb, sb.scenes[0], tokenizer)
    assert list(plan.entity_spans) == ["cat", "ball"]  # track order
    for text in plan.combined:
        ids = tokenizer(text)["input_ids"]
        assert tokenizer.decode(ids[slice(*plan.entity_spans["cat"])]).strip() == "cat a red cat with a tree"
        assert tokenizer.decode(ids[slice(*plan.entity_spans["ball"])]).strip() == "ball a ball"
    assert "garden" in plan.combined[0] and "watercolor" in plan.combined[0]  # background and style follow


def test_entity_embeddings_are_identical_on_every_frame_of_the_combined_prompt(tokenizer, text_encoder):
    sb = board()
    plan = plan_travel(sb, sb.scenes[0], tokenizer)

    def encode(texts):
        ids = tokenizer(texts, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
        with torch.no_grad():
            return text_encoder(ids)[0]

    per_frame = travel_embeddings(plan, encode, combined=True)
    start, end = plan.entity_spans["ball"][1], 77
    a, b = plan.entity_spans["cat"][0], plan.entity_spans["ball"][1]
    assert torch.allclose(per_frame[0, a:b], per_frame[11, a:b], atol=1e-6)  # the entities look the same
    assert not torch.allclose(per_frame[0, start:end], per_frame[11, start:end])  # the action changes


def test_frames_blend_their_neighbouring_keyframes(tokenizer):
    sb = board(num_frames=12, frames=[
        {"frame": 0, "description": "a cat sits"}, {"frame": 4, "description": "a cat runs"},
        {"frame": 11, "description": "a cat sleeps"}])  # fmt: skip
    plan = plan_travel(sb, sb.scenes[0], tokenizer)
    assert len(plan.texts) == 3
    assert plan.frames[0] == (0, 1, 0.0)
    assert plan.frames[2] == (0, 1, 0.5)
    assert plan.frames[4] == (1, 2, 0.0)
    assert plan.frames[11][2] == 0.0 and "a cat sleeps" in plan.texts[plan.frames[11][0]]
    assert "a cat runs" in plan.frame_text(3) and "a cat sits" in plan.frame_text(1)


def test_without_descriptions_every_frame_shows_the_event(tokenizer):
    sb = board(frames=[])
    plan = plan_travel(sb, sb.scenes[0], tokenizer)
    assert len(plan.texts) == 1 and "a cat plays" in plan.texts[0]
    assert all(f == (0, 0, 0.0) for f in plan.frames)


def test_many_or_long_entities_share_the_token_budget_in_whole_words(tokenizer):
    doc = make_doc()
    doc["entities"] = [
        {"id": f"e{i}", "name": f"cat {i}", "kind": "foreground", "description": "a red cat with a tree " * 20}
        for i in range(8)
    ]  # fmt: skip
    doc["scenes"][0]["background"] = None
    doc["scenes"][0]["tracks"] = [
        {"entity": f"e{i}", "keyframes": [{"frame": 0, "box": [0.1, 0.1, 0.2, 0.2]}]} for i in range(8)
    ]
    sb = parse_storyboard(doc)
    plan = plan_travel(sb, sb.scenes[0], tokenizer)
    assert len(plan.entity_spans) == 8
    ids = tokenizer(plan.combined[0], truncation=True, max_length=77)["input_ids"]
    for i in range(8):
        a, b = plan.entity_spans[f"e{i}"]
        assert 0 < b - a <= ENTITY_TOKEN_BUDGET // 8
        assert tokenizer.decode(ids[a:b]).strip().startswith(f"cat {i}")
    assert max(b for _, b in plan.entity_spans.values()) < 76  # all inside CLIP's window, before the end token
