"""Prompt travel: each frame's prompt comes from the scene's keyframe descriptions, interpolated in between.

The storyboard says what happens on some frames ("the caterpillar crouches" on 0, "a butterfly flies off" on
15). Every keyframe description becomes one prompt; frame f gets the embedding `(1 - w) * E[prev] + w * E[next]`
with prev/next/w from `core.layout.frame_description`, so a transformation happens on the planned frames.

Regional prompting reads three texts per scene:
- `texts`: the scene's background text per keyframe description (description, background, style); it acts
  everywhere and travels;
- `entity_texts`: each foreground entity's own text (name, description, style), the same on every frame,
  acting only inside its box;
- `combined`: the entity phrases first, then the scene text, in one prompt (the form LMD and BoxDiff measure
  attention maps on), with each phrase's token positions in `entity_spans`. Box guidance uses it. CLIP's
  text encoder is causal, so the phrase tokens see the same context in every keyframe prompt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from flowdrafter.core.layout import frame_description
from flowdrafter.core.storyboard import EntityKind, Scene, Storyboard

ENTITY_TOKEN_BUDGET = 40  # tokens shared by all entity phrases; the rest of CLIP's 75 go to the description


@dataclass(frozen=True)
class TravelPlan:
    texts: list[str]  # the scene text per distinct keyframe description
    frames: list[tuple[int, int, float]]  # per frame: (index into texts, index of next, weight of next)
    entity_texts: dict[str, str]  # entity id -> its own text, in track order
    combined: list[str]  # entity phrases, then the scene text: one prompt per keyframe description
    entity_spans: dict[str, tuple[int, int]]  # entity id -> [start, end) positions in `combined` (BOS is 0)

    def frame_text(self, frame: int) -> str:
        """The prompt that dominates a frame (for captions and tests)."""
        a, b, w = self.frames[frame]
        return self.texts[b] if w > 0.5 else self.texts[a]


def _ids(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])


def _foreground(storyboard: Storyboard, scene: Scene) -> list:
    ents = [storyboard.entity(t.entity) for t in scene.tracks]
    return [e for e in ents if e is not None and e.kind is EntityKind.foreground]


def entity_text(storyboard: Storyboard, entity) -> str:
    """An entity's own condition: its name, its description and the style."""
    parts = [entity.name, entity.description.strip().rstrip(",.;:"), storyboard.style]
    return ", ".join(p for p in parts if p)


def _entity_phrases(storyboard: Storyboard, scene: Scene, tokenizer) -> dict[str, str]:
    """Entity id -> "name description" cut to whole words within its share of the token budget."""
    ents = _foreground(storyboard, scene)
    if not ents:
        return {}
    budget = max(3, ENTITY_TOKEN_BUDGET // len(ents))
    phrases = {}
    for e in ents:
        words = f"{e.name} {e.description}".split()
        text = words[0]
        for word in words[1:]:  # whole words while they fit, at least the first word of the name
            if len(_ids(tokenizer, f"{text} {word}")) > budget:
                break
            text = f"{text} {word}"
        phrases[e.id] = text.rstrip(",.;:")
    return phrases


def scene_text(storyboard: Storyboard, scene: Scene, description: str) -> str:
    """Description, background and style: the part of every prompt that no box constrains."""
    parts = [description]
    bg = storyboard.entity(scene.background) if scene.background else None
    if bg is not None:
        parts.append(f"{bg.name}, {bg.description}".strip(", ") if bg.description else bg.name)
    if storyboard.style:
        parts.append(storyboard.style)
    return ", ".join(p for p in parts if p)


def plan_travel(storyboard: Storyboard, scene: Scene, tokenizer) -> TravelPlan:
    """The prompts of a scene and which of them each frame blends, with the entities' token spans."""
    phrases = _entity_phrases(storyboard, scene, tokenizer)
    prefix = ""
    spans: dict[str, tuple[int, int]] = {}
    for eid, phrase in phrases.items():
        start = 1 + len(_ids(tokenizer, prefix))
        prefix = f"{prefix}{phrase}, "
        end = 1 + len(_ids(tokenizer, prefix)) - 1  # the comma after the phrase is not the entity's
        spans[eid] = (start, end)
    notes: list[str] = []
    frames: list[tuple[int, int, float]] = []
    for f in range(scene.num_frames):
        prev, nxt, w = frame_description(scene, f)
        for d in (prev, nxt):
            if d not in notes:
                notes.append(d)
        frames.append((notes.index(prev), notes.index(nxt), float(w)))
    texts = [scene_text(storyboard, scene, d) for d in notes]
    last = getattr(tokenizer, "model_max_length", 77) - 1  # text tokens sit at 1..last-1, EOS at most at last
    spans = {eid: (start, min(end, last)) for eid, (start, end) in spans.items() if start < last}
    entity_texts = {e.id: entity_text(storyboard, e) for e in _foreground(storyboard, scene)}
    return TravelPlan(texts=texts, frames=frames, entity_texts=entity_texts, combined=[prefix + t for t in texts],
                      entity_spans=spans)  # fmt: skip


def travel_embeddings(plan: TravelPlan, encode: Callable[[list[str]], torch.Tensor], combined: bool = False) -> torch.Tensor:
    """(frames, tokens, dim) embeddings of the scene texts (or of the combined prompts): each distinct prompt
    encoded once, then blended per frame."""
    table = encode(plan.combined if combined else plan.texts)
    a = torch.tensor([p for p, _, _ in plan.frames], device=table.device)
    b = torch.tensor([n for _, n, _ in plan.frames], device=table.device)
    w = torch.tensor([x for _, _, x in plan.frames], device=table.device, dtype=table.dtype)[:, None, None]
    return table[a] * (1 - w) + table[b] * w
