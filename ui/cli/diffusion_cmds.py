"""`flowdrafter refs` (entity reference images) and `flowdrafter selftest` (tiny models, every generator)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flowdrafter.core.errors import FlowDrafterError
from flowdrafter.core.project import Project
from flowdrafter.core.settings import get_settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("refs", help="make reference image candidates for a project's entities (text-to-image)")
    p.add_argument("dir", type=Path, help="project folder")
    p.add_argument("--entity", action="append", dest="entities", metavar="ID", help="only this entity (repeatable)")
    p.add_argument("--candidates", type=int, default=4, metavar="N", help="images per entity (default 4)")
    p.add_argument("--seed", type=int, help="first seed (default: from the storyboard seed and the entity id)")
    p.add_argument("--replace", action="store_true", help="set the first candidate even when a reference exists")
    p.add_argument("--cutout-existing", action="store_true",
                   help="instead of generating, cut the background out of the entities' current references (uploads)")
    p.set_defaults(func=cmd_refs)

    p = sub.add_parser("selftest", help="build tiny models and run every generator on the CPU, offline")
    p.add_argument("--models-dir", type=Path, help="where to build/cache the tiny models (default: data_dir)")
    p.add_argument("--generator", action="append", dest="generators", metavar="NAME",
                   help="only this generator (with --real-shapes: only this job, e.g. layout-video-long)")
    p.add_argument("--real-shapes", action="store_true",
                   help="the default models at their real shapes with random weights (a hub cache built once in data_dir; "
                        "minutes and ~10 GB of RAM per job)")
    p.add_argument("--report", type=Path, metavar="FILE", help="with --real-shapes: also write the results as JSON")
    p.set_defaults(func=cmd_selftest)


def cmd_refs(args: argparse.Namespace) -> int:
    from flowdrafter.core.edits import set_reference
    from flowdrafter.core.storyboard import EntityKind, Reference
    from flowdrafter.generators.diffusion.references import make_reference_candidates

    project = Project.open(args.dir)
    sb = project.load()
    ids = args.entities or [e.id for e in sb.entities]
    for entity_id in ids:
        if sb.entity(entity_id) is None:
            raise FlowDrafterError(f"no entity with id '{entity_id}'; entities: {', '.join(e.id for e in sb.entities)}")

    if args.cutout_existing:
        from flowdrafter.generators.diffusion.references import cut_out_reference

        for entity_id in ids:
            sb = cut_out_reference(project, sb, entity_id, settings=get_settings())
            project.save(sb)
            print(f"{entity_id}: reference cut out to {sb.entity(entity_id).reference.image}")
        return 0

    def progress(fraction: float, message: str) -> None:
        print(f"  {message}", file=sys.stderr, flush=True)

    for entity_id in ids:
        candidates = make_reference_candidates(
            project, sb, entity_id, args.candidates, settings=get_settings(), progress=progress, first_seed=args.seed
        )
        for rel, seed in candidates:
            print(f"{entity_id}\t{rel}\tseed {seed}")
        entity = sb.entity(entity_id)
        if entity is not None and (entity.reference is None or args.replace):
            rel, seed = candidates[0]
            ref = Reference(image=rel, source="generated", cutout=entity.kind is EntityKind.foreground, seed=seed)
            sb = set_reference(sb, entity_id, ref)
            project.save(sb)
            print(f"{entity_id}: reference set to {rel} (seed {seed})")
    return 0


def cmd_selftest(args: argparse.Namespace) -> int:
    if args.real_shapes:
        return _real_shapes(args)
    from flowdrafter.generators.diffusion.selftest import run

    def report(result) -> None:
        print(result.line(), flush=True)

    results = run(args.models_dir, generators=args.generators, report=report)
    failed = [r for r in results if not r.ok]
    print(f"{len(results) - len(failed)} of {len(results)} generators passed", file=sys.stderr)
    return 2 if failed or not results else 0


def _real_shapes(args: argparse.Namespace) -> int:
    import json

    from flowdrafter.generators.testing.realshape_run import GENERATOR_JOBS, JOBS, run_all

    unknown = [g for g in args.generators or [] if g not in JOBS]
    if unknown:
        raise FlowDrafterError(f"no real-shape job '{unknown[0]}'; jobs: {', '.join(GENERATOR_JOBS)}")
    root = Path(args.models_dir) if args.models_dir else get_settings().data_dir / "realshape-hub"

    def report(result) -> None:
        print(result.line(), flush=True)

    def log(message: str) -> None:
        print(f"cache: {message}", file=sys.stderr, flush=True)

    results = run_all(root, args.generators, report=report, log=log)
    if args.report:
        args.report.write_text(json.dumps([r.__dict__ for r in results], indent=2, default=str), encoding="utf-8")
    failed = [r for r in results if not r.ok]
    print(f"{len(results) - len(failed)} of {len(results)} real-shape jobs passed", file=sys.stderr)
    return 2 if failed or not results else 0
