"""`flowdrafter new`, `check`, `schema`: projects and the document."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from flowdrafter.core.errors import AssetError, StoryboardError
from flowdrafter.core.examples import DEFAULT_EXAMPLE, copy_example, list_examples
from flowdrafter.core.images import load_asset_image
from flowdrafter.core.project import Project
from flowdrafter.core.storyboard import json_schema
from flowdrafter.core.timeline import timecode, total_frames


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("new", help="create a project folder from an example")
    p.add_argument("dir", type=Path, help="a new (or empty) folder")
    p.add_argument("--example", default=DEFAULT_EXAMPLE, help=f"one of: {', '.join(list_examples())}")
    p.set_defaults(func=cmd_new)

    p = sub.add_parser("check", help="validate a project: document, references, asset paths")
    p.add_argument("dir", type=Path)
    p.add_argument("--quality", action="store_true", help="also score the plan: each planner check's verdict per scene, and a total")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("schema", help="print the storyboard JSON Schema")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("examples", help="list the bundled example projects")
    p.set_defaults(func=cmd_examples)


def cmd_new(args: argparse.Namespace) -> int:
    project = copy_example(args.example, args.dir)
    print(f"created {project.root} from example '{args.example}'")
    return 0


def check_project(path: Path) -> list[str]:
    """Every problem in a project, as lines a person can act on. Raises ProjectError if it is not one.

    An invalid document still has its reference images checked, so one run lists everything to fix.
    """
    project = Project.open(path)
    try:
        sb = project.load()
    except StoryboardError as err:
        return err.problems + _raw_asset_problems(project, err.problems)
    problems = project.missing_assets(sb)
    for e in sb.entities:  # references that exist must also be images FlowDrafter can use
        where = f"entity {e.id}: reference.image: "
        if e.reference is None or any(p.startswith(where) for p in problems):
            continue
        try:
            load_asset_image(project, e.reference.image)
        except AssetError as err:
            problems.append(where + str(err))
    return problems


def _raw_asset_problems(project: Project, known: list[str]) -> list[str]:
    """Reference-image problems of a document that did not validate (read from its raw JSON)."""
    try:
        data = project.read_json()
    except StoryboardError:
        return []
    entities = data.get("entities") if isinstance(data, dict) else None
    problems = []
    for e in entities if isinstance(entities, list) else []:
        ref = e.get("reference") if isinstance(e, dict) else None
        image = ref.get("image") if isinstance(ref, dict) else None
        if not isinstance(image, str) or not image:
            continue
        where = f"entity {e.get('id')}: reference.image: "
        if any(p.startswith(where) for p in known):  # already reported (an absolute path, '..')
            continue
        problem = project.asset_problem(image)
        if problem:
            problems.append(where + problem)
    return problems


def cmd_check(args: argparse.Namespace) -> int:
    problems = check_project(args.dir)
    if problems:
        for line in problems:
            print(f"{args.dir}: {line}", file=sys.stderr)
        print(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found", file=sys.stderr)
        return 2
    sb = Project.open(args.dir).load()
    frames = total_frames(sb)
    print(
        f"ok: '{sb.title}', {len(sb.scenes)} scenes, {len(sb.entities)} entities, "
        f"{frames} frames at {sb.fps} fps ({timecode(frames, sb.fps)})"
    )
    if getattr(args, "quality", False):
        from flowdrafter.planners.quality import plan_quality

        print("\n".join(plan_quality(sb).lines()))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0


def cmd_examples(args: argparse.Namespace) -> int:
    for name in list_examples():
        print(name)
    return 0
