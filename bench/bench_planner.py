"""Planner benchmarks, printing ratios against baselines measured in the same process.

1. Tokens and wall time per stage for a 4-scene plan with the tiny random-weight GGUF (real llama.cpp
   path, no reply cache). The tiny model's speed says nothing about a real model's; the shares per stage
   and the calls per stage (re-asks, refinement rounds) do.
2. Validation + repair cost per reply: parsing, validating and (when needed) repairing every reply of that
   plan, against the time the LLM took to write it.
3. Compactness of the layout format: our keyframe layout reply against a FlowZero-style per-frame format
   (a description and an [x, y, w, h] box per object on every frame, plus the background motion) for the
   same motion, the bundled example's scenes. Target: at least 3x fewer tokens. Tokens are counted with
   the tiny GGUF's tokenizer and, as a stand-in for a BPE tokenizer, with a word/punctuation split.

Run: .venv/bin/python bench/bench_planner.py
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "tests")]  # bench.*, builders.*

from flowdrafter.core.examples import example_path  # noqa: E402
from flowdrafter.core.layout import frame_description, norm_to_lmd, scene_layout  # noqa: E402
from flowdrafter.core.project import Project  # noqa: E402
from flowdrafter.core.settings import Settings  # noqa: E402
from flowdrafter.core.storyboard import Scene  # noqa: E402
from flowdrafter.planners.ask import Asker, parse_and_validate, strict  # noqa: E402
from flowdrafter.planners.llm import Completion  # noqa: E402
from flowdrafter.planners.llama_backend import LlamaBackend  # noqa: E402
from flowdrafter.planners.pipeline import plan  # noqa: E402
from flowdrafter.planners.repair import repair_entities, repair_layout, repair_script  # noqa: E402
from flowdrafter.planners.schemas import EntitiesReply, LayoutReply, ScriptReply, entities_problems, layout_problems, script_problems  # noqa: E402
from builders.tiny_gguf import write_tiny_gguf  # noqa: E402

PROMPT = "a paper boat sails down a rainy gutter, falls into a puddle, a frog hops on board, and they drift away"


class Recording:
    """Wraps a backend and keeps every (stage schema keys, reply) for the validation benchmark."""

    def __init__(self, llm):
        self.llm = llm
        self.model_id = llm.model_id
        self.replies: list[tuple[dict, Completion]] = []

    def complete(self, messages, *, schema, max_tokens, temperature, seed, on_tokens=None) -> Completion:
        reply = self.llm.complete(messages, schema=schema, max_tokens=max_tokens, temperature=temperature, seed=seed, on_tokens=on_tokens)
        self.replies.append((schema, reply))
        return reply


def bench_stages(tmp: Path) -> Recording:
    model = write_tiny_gguf(tmp / "tiny.gguf")
    settings = Settings(llm=str(model), data_dir=tmp / "data", llm_ctx=4096, llm_max_tokens=1300, llm_refine_rounds=1, llm_temperature=1.0)
    t0 = time.perf_counter()
    llm = Recording(LlamaBackend.load(settings))
    load = time.perf_counter() - t0
    asker = Asker(llm=llm, settings=settings, seed=0)
    t0 = time.perf_counter()
    try:
        sb = plan(PROMPT, settings=settings, scenes=4, asker=asker)
        outcome = f"valid storyboard, {len(sb.scenes)} scenes, {sum(len(s.warnings) for s in sb.scenes)} warnings"
    except Exception as err:  # a PlanningError is a legitimate outcome for a random model
        outcome = f"{type(err).__name__}: {err}"
    total = time.perf_counter() - t0
    by_stage: dict[str, list] = defaultdict(list)
    for stat in asker.stats:
        by_stage[stat.stage].append(stat)
    print(f"1. 4-scene plan with the tiny GGUF: model load {load:.2f} s, plan {total:.1f} s -> {outcome}")
    print(f"   {'stage':9} {'calls':>5} {'tokens':>7} {'seconds':>8} {'tok/s':>7} {'share of time':>14}")
    for stage in ("script", "entities", "layout", "refine"):
        stats = by_stage.get(stage, [])
        tokens = sum(s.tokens for s in stats)
        secs = sum(s.seconds for s in stats)
        print(f"   {stage:9} {len(stats):5d} {tokens:7d} {secs:8.2f} {tokens / secs if secs else 0:7.0f} {secs / total:13.0%}")
    llm_time = sum(s.seconds for s in asker.stats)
    print(f"   LLM time / plan time = {llm_time / total:.2f} (the rest is parsing, checks, repair, storyboard building)")
    return llm


def bench_validation(rec: Recording) -> None:
    """Parse + validate (+ repair when invalid) each recorded reply, against its generation time."""
    gen = sum(c.seconds for _, c in rec.replies)
    n = len(rec.replies)
    repeats = 20
    t0 = time.perf_counter()
    invalid = 0
    for _ in range(repeats):
        for schema, reply in rec.replies:
            props = schema["properties"]
            if "keyframes" in props:
                ids = props["keyframes"]["items"]["properties"]["boxes"]["items"]["properties"]["entity"].get("enum", [])
                frames = props["keyframes"]["items"]["properties"]["frame"]["maximum"] + 1
                validate = strict(LayoutReply, lambda r: layout_problems(r, ids, frames))
                repair = lambda d: repair_layout(d, ids, frames, "event")  # noqa: E731
            elif "entities" in props:
                ids = props["entities"]["items"]["properties"]["id"]["enum"]
                validate = strict(EntitiesReply, lambda r: entities_problems(r, ids))
                repair = lambda d: repair_entities(d, {i: i for i in ids})  # noqa: E731
            else:
                count = props["scenes"]["maxItems"]
                validate = strict(ScriptReply, lambda r: script_problems(r, count))
                repair = lambda d: repair_script(d, PROMPT, count)  # noqa: E731
            data, problems = parse_and_validate(reply.text, validate)
            if problems is not None and isinstance(data, dict):
                invalid += 1
                repair(data)
    per_reply = (time.perf_counter() - t0) / (repeats * n)
    print(f"2. validation + repair: {per_reply * 1e3:.3f} ms per reply ({n} replies, {invalid // repeats} of them invalid and repaired); "
          f"LLM generation {gen / n * 1e3:.0f} ms per reply -> validation costs {per_reply / (gen / n):.1e}x the generation")


def keyframe_text(scene: Scene) -> str:
    """Our LLM-facing layout reply for a scene (what the model writes)."""
    frames = sorted({k.frame for t in scene.tracks for k in t.keyframes} | {n.frame for n in scene.frames})
    notes = {n.frame: n.description for n in scene.frames}
    kfs = []
    for f in frames:
        boxes = [{"entity": t.entity, "box": [round(c, 2) for c in k.box]} for t in scene.tracks for k in t.keyframes if k.frame == f]
        kfs.append({"frame": f, "description": notes.get(f) or frame_description(scene, f)[0], "boxes": boxes})
    return json.dumps({"background_motion": scene.background_motion.model_dump(), "keyframes": kfs})


def per_frame_text(scene: Scene) -> str:
    """FlowZero-style dynamic scene syntax: every frame has its description and every object's box."""
    lines = []
    for f, layout in enumerate(scene_layout(scene)):
        a, b, w = frame_description(scene, f)
        objs = [{"name": e, "box": list(norm_to_lmd(box))} for e, box in layout.items()]
        lines.append(f"Frame {f + 1}: {json.dumps({'description': b if w >= 0.5 else a, 'objects': objs})}")
    dx, dy = scene.background_motion.dx, scene.background_motion.dy
    lines.append(f"Background: {json.dumps({'direction': 'left' if dx < 0 else 'right' if dx > 0 else 'none', 'speed': round(abs(dx) * 512)})}")
    return "\n".join(lines)


def bench_compactness(model_path: Path) -> None:
    from llama_cpp import Llama

    tok = Llama(model_path=str(model_path), n_ctx=512, verbose=False, vocab_only=True)
    sb = Project.open(example_path("kitten-garden")).load()

    def words(text: str) -> int:
        return len(re.findall(r"\w+|[^\w\s]", text))

    print("3. layout tokens, keyframes (ours) vs per-frame (FlowZero style), same motion:")
    tot = [0, 0, 0, 0]
    for scene in sb.scenes:
        ours, theirs = keyframe_text(scene), per_frame_text(scene)
        a, b = len(tok.tokenize(ours.encode(), add_bos=False)), len(tok.tokenize(theirs.encode(), add_bos=False))
        c, d = words(ours), words(theirs)
        tot = [tot[0] + a, tot[1] + b, tot[2] + c, tot[3] + d]
        print(f"   scene {scene.id} ({scene.num_frames} frames): GGUF tokens {a} vs {b} ({b / a:.1f}x), words+punct {c} vs {d} ({d / c:.1f}x)")
    print(f"   all scenes: GGUF tokens {tot[0]} vs {tot[1]} -> {tot[1] / tot[0]:.1f}x fewer; words+punct {tot[2]} vs {tot[3]} -> {tot[3] / tot[2]:.1f}x fewer (target >= 3x)")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rec = bench_stages(Path(tmp))
        bench_validation(rec)
        bench_compactness(Path(tmp) / "tiny.gguf")


if __name__ == "__main__":
    main()
