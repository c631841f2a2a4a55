"""`flowdrafter`: one entry point, one module per group of subcommands.

Each module in COMMANDS has `register(subparsers)`, which adds its subcommands and sets `func` on them.
A user mistake (any `FlowDrafterError`) prints one line on stderr and exits 2; never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from flowdrafter.core import __version__
from flowdrafter.core.errors import FlowDrafterError

COMMANDS = [
    "flowdrafter.ui.cli.project_cmds",
    "flowdrafter.ui.cli.plan_cmds",
    "flowdrafter.ui.cli.render_cmds",
    "flowdrafter.ui.cli.diffusion_cmds",
    "flowdrafter.ui.cli.ui_cmds",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own: usage + message, exit 2; keep it to one line
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> tuple[argparse.ArgumentParser, set[str]]:
    parser = _Parser(prog="flowdrafter", description="Plan, edit, render and export multi-scene videos.")
    parser.add_argument("--version", action="version", version=f"flowdrafter {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser, set(sub.choices)


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    parser, commands = build_parser()
    if not args_list and "ui" in commands:  # plain `flowdrafter` opens the editor
        args_list = ["ui"]
    args = parser.parse_args(args_list)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except FlowDrafterError as err:
        print(f"flowdrafter: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("flowdrafter: interrupted", file=sys.stderr)
        return 130

