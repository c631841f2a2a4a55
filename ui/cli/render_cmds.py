"""`flowdrafter render` and `flowdrafter export`: clips through the render cache, and finished files."""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from flowdrafter.core.project import Project


class _Progress:
    """One updating line on a terminal, occasional plain lines otherwise (logs, CI)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last: dict[str, float] = {}  # per scene (message head): when its last line was printed

    def __call__(self, fraction: float, message: str) -> None:
        line = f"[{fraction * 100:5.1f}%] {message}"
        if self.tty:
            print(f"\r{line:<78}", end="", file=sys.stderr, flush=True)
            return
        # Plain lines: every event (rendering, rendered, reused, retrying), and a step counter ("frame
        # 12/48") when the scene is new or every 2 s, so scenes rendering side by side stay readable.
        now = time.monotonic()
        head = message.split(":")[0]
        counter = re.search(r"\d+/\d+$", message) is not None
        if not counter or head not in self.last or now - self.last[head] > 2.0 or fraction >= 1.0:
            print(line, file=sys.stderr, flush=True)
            self.last[head] = now

    def done(self) -> None:
        if self.tty:
            print(file=sys.stderr)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render the scenes of a project into clips (unchanged scenes are reused)")
    p.add_argument("dir", type=Path, help="project folder")
    p.add_argument("--generator", default="animatic", help="generator name (default: animatic)")
    p.add_argument("--scene", action="extend", nargs="+", dest="scenes", metavar="ID", help="only these scenes")
    p.add_argument("--force", action="store_true", help="render even when a cached clip is valid")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="render scenes as Ray tasks: alone, on a private local Ray instance; 'auto', HOST:PORT or "
                        "ray://HOST:PORT joins a cluster (default: the ray_address setting; needs flowdrafter[cluster])")  # fmt: skip
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("export", help="export a project: .mp4, .pdf, .otio, .zip or .png (by extension)")
    p.add_argument("dir", type=Path, help="project folder")
    p.add_argument("-o", "--output", type=Path, required=True, help="output file; the extension picks the format")
    p.add_argument("--generator", default="animatic", help="whose clips to use (default: animatic)")
    p.add_argument("--audio", type=Path, help="mp4: add this audio track")
    p.add_argument("--title-card", type=float, default=0.0, metavar="SECONDS", help="mp4: open with a title card")
    p.add_argument("--page-size", choices=["a4", "letter", "a3"], help="pdf: page size (default a4)")
    p.add_argument("--orientation", choices=["landscape", "portrait"], help="pdf: orientation (default landscape)")
    p.add_argument("--columns", type=int, help="pdf/png: keyframes per scene row")
    p.add_argument("--rows", type=int, help="pdf: scenes per page")
    p.add_argument("--no-renders", action="store_true", help="zip: leave the rendered clips out")
    p.set_defaults(func=cmd_export)


def cmd_render(args: argparse.Namespace) -> int:
    from flowdrafter.core.settings import load_settings
    from flowdrafter.generators.render import render_storyboard

    settings = load_settings(ray_address=args.ray)
    if settings.ray_address:
        from flowdrafter.generators.cluster import import_ray

        import_ray()  # says how to install the extra before anything starts
    project = Project.open(args.dir)
    progress = _Progress()
    try:
        report = render_storyboard(project, args.generator, scene_ids=args.scenes, force=args.force, settings=settings, progress=progress)
    finally:
        progress.done()
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for s in report.scenes:
        what = "reused  " if s.reused else "rendered"
        note = f"  ({s.note})" if s.note else ""
        print(f"{what} {s.scene_id}  {s.clip.relative_to(project.root)}{note}")
    print(f"{len(report.rendered)} rendered, {len(report.reused)} reused ({report.generator})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from flowdrafter.generators.export import export

    project = Project.open(args.dir)
    suffix = args.output.suffix.lower()
    options: dict = {}
    if suffix == ".mp4":
        if args.audio:
            options["audio"] = args.audio
        if args.title_card:
            options["title_card_seconds"] = args.title_card
    elif suffix == ".pdf":
        for name in ("page_size", "orientation", "columns", "rows"):
            if getattr(args, name) is not None:
                options[name] = getattr(args, name)
    elif suffix == ".zip":
        options["include_renders"] = not args.no_renders
    elif suffix == ".png" and args.columns is not None:
        options["columns"] = args.columns
    progress = _Progress()
    out = export(project, args.output, generator=args.generator, progress=progress, **options)
    progress.done()
    print(f"wrote {out}")
    return 0
