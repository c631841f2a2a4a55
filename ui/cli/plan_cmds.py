"""`flowdrafter plan` and `replan`: the LLM planner from the command line.

Progress (stage, scene, tokens/s) streams to stderr; the project is written through `core.project`, so
`flowdrafter check` accepts it and a re-plan is saved atomically with the old version kept in `.history/`.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from flowdrafter.core.errors import ProjectError
from flowdrafter.core.project import Project
from flowdrafter.core.settings import Settings, load_settings
from flowdrafter.planners.pipeline import STAGES, plan, replan


def _llm_options(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--llm", metavar="SPEC", help="local .gguf file, or hub 'repo_id:filename-pattern' (FLOWDRAFTER_LLM)")
    group.add_argument("--llm-url", metavar="URL", help="OpenAI-compatible server base URL (FLOWDRAFTER_LLM_URL)")
    p.add_argument("--llm-model", metavar="NAME", help="model name on that server (FLOWDRAFTER_LLM_MODEL)")
    p.add_argument("--seed", type=int, help="seed for the storyboard and the LLM's sampling")
    p.add_argument("--no-cache", action="store_true", help="ask the LLM again instead of reusing cached replies")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="plan a storyboard from a prompt with the LLM")
    p.add_argument("prompt", help="the story, in a sentence or two")
    p.add_argument("-o", "--out", type=Path, required=True, metavar="DIR", help="a new (or empty) project folder")
    p.add_argument("--scenes", type=int, help="number of scenes, 1-12 (default: the LLM chooses)")
    p.add_argument("--fps", type=int, help="frames per second (default 8)")
    p.add_argument("--size", metavar="WxH", help="frame size, multiples of 8 (default 512x320)")
    _llm_options(p)
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("replan", help="redo one stage of a planned project (one scene or all)")
    p.add_argument("dir", type=Path, help="a project folder")
    p.add_argument("--scene", metavar="ID", help="the scene to redo (default: every scene)")
    p.add_argument("--stage", choices=STAGES, default="layout", help="what to redo (default: layout)")
    _llm_options(p)
    p.set_defaults(func=cmd_replan)


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(llm=args.llm, llm_url=args.llm_url, llm_model=args.llm_model)
    if args.llm:  # an explicit model file wins over a server URL set in the environment
        settings = settings.model_copy(update={"llm_url": None})
    return settings


_last_tenth: dict[str, int] = {}


def _progress(message: str) -> None:
    """One line per step. Download progress ("download f: 45.0 MB of 98.4 MB (46%), ...") rewrites its line
    on a terminal, and is printed once per tenth of the file in a log."""
    if message.startswith("download ") and not message.endswith(", done"):
        if sys.stderr.isatty():
            print(f"\rplan: {message}\033[K", end="", file=sys.stderr, flush=True)
            return
        pct = re.search(r"\((\d+)%\)", message)
        name = message.split(":", 1)[0]
        tenth = int(pct.group(1)) // 10 if pct else -1
        if _last_tenth.get(name) == tenth:
            return
        _last_tenth[name] = tenth
    elif message.startswith("download ") and sys.stderr.isatty():
        print(f"\rplan: {message}\033[K", file=sys.stderr, flush=True)
        return
    print(f"plan: {message}", file=sys.stderr, flush=True)


def cmd_plan(args: argparse.Namespace) -> int:
    out = args.out.expanduser().absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):  # before spending minutes on the LLM
        raise ProjectError(f"{out} is not empty; choose a new folder")
    sb = plan(
        args.prompt,
        settings=_settings(args),
        scenes=args.scenes,
        fps=args.fps,
        size=args.size,
        seed=args.seed,
        progress=_progress,
        use_cache=not args.no_cache,
    )
    project = Project.create(out, sb)
    warnings = sum(len(s.warnings) for s in sb.scenes)
    scenes = f"{len(sb.scenes)} scene{'s' if len(sb.scenes) != 1 else ''}"
    entities = f"{len(sb.entities)} entit{'ies' if len(sb.entities) != 1 else 'y'}"
    print(f"created {project.root}: '{sb.title}', {scenes}, {entities}"
          + (f", {warnings} planner warnings (see each scene)" if warnings else ""))
    return 0


def cmd_replan(args: argparse.Namespace) -> int:
    project = Project.open(args.dir)
    sb = project.load()
    new = replan(
        sb,
        stage=args.stage,
        scene_id=args.scene,
        settings=_settings(args),
        progress=_progress,
        use_cache=not args.no_cache,
        seed=args.seed,
    )
    project.save(new)
    what = f"scene {args.scene}" if args.scene else "every scene"
    print(f"replanned the {args.stage} of {what} in {project.root}")
    return 0
