"""`flowdrafter ui`: open the editor in the browser (plain `flowdrafter` does the same)."""

from __future__ import annotations

import argparse
from pathlib import Path

from flowdrafter.core.errors import FlowDrafterError
from flowdrafter.core.examples import DEFAULT_EXAMPLE, list_examples


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ui", help="open the storyboard editor in your browser")
    p.add_argument("dir", type=Path, nargs="?", help="a project folder (a new or empty folder gets a copy of --example)")
    p.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=None, help="port (default 7860)")
    p.add_argument("--example", default=DEFAULT_EXAMPLE, help=f"example for a new project: {', '.join(list_examples())}")
    p.set_defaults(func=cmd_ui)


def parse_auth(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise FlowDrafterError("FLOWDRAFTER_UI_AUTH must be 'user:password'")
    return user, password


def cmd_ui(args: argparse.Namespace) -> int:
    from flowdrafter.core.settings import get_settings
    from flowdrafter.ui.app import build_app, launch, start_session
    from flowdrafter.ui.services import Services

    settings = get_settings()  # the one settings object the editor reads (through its services)
    auth = parse_auth(settings.ui_auth)
    session = start_session(args.dir, args.example, settings)
    print(f"FlowDrafter: editing {session['project']}", flush=True)
    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    demo = build_app(session, Services(settings))
    try:
        launch(demo, host=host, port=port, auth=auth)
    except OSError as err:  # the port is taken, or the address is not one of this machine's
        raise FlowDrafterError(f"cannot listen on {host}:{port} ({err.strerror or 'port in use'}); choose another with --port") from None
    return 0
