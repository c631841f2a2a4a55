"""The FlowDrafter editor: plan, edit the script, entities and boxes, preview, render and export.

`build_app` puts the page together: the layout, one builder per tab (`ui.tabs`), then the events
(`ui.events`). Per-session state is one `gr.State` of plain data (`ui.state`); what each control does is
decided in `ui.handlers`, and everything below the UI comes from one typed `ui.services.Services`, which
also holds the app's settings. Project media are published per session (`ui.media`), never through
`allowed_paths`. `plan`, `render`, `preview`, `export_*`, `open` and `move_box` have `api_name`s (see
docs/editor.md); plumbing events are private.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import gradio as gr

from flowdrafter.core.errors import ProjectError
from flowdrafter.core.examples import DEFAULT_EXAMPLE, copy_example
from flowdrafter.core.project import is_project
from flowdrafter.core.settings import Settings

from . import state
from .events import wire
from .services import Services
from .state import Session
from .tabs import Page, build_page


def build_app(start: Session | None = None, services: Services | None = None) -> gr.Blocks:
    """The editor for one starting project (`start` from `start_session`); each browser tab gets a copy."""
    services = services or Services()
    start = start or state.empty_session(services.settings.undo_limit)
    start_sb = state.storyboard(start) if state.has_project(start) else None
    gr.set_static_paths([services.media.static_root()])  # published media: served as they are, never cached
    with gr.Blocks(title="FlowDrafter", delete_cache=(3600, 24 * 3600)) as demo:  # Gradio's copies of uploads and placeholders
        page = build_page(services, start, start_sb)
        wire(demo, page, services)
    demo.services = services  # type: ignore[attr-defined]
    demo.page = page  # type: ignore[attr-defined]
    return demo


def page_of(demo: gr.Blocks) -> Page:
    return demo.page  # type: ignore[attr-defined,no-any-return]


# -- starting --------------------------------------------------------------------------------------------


def start_session(folder: Path | None, example: str = DEFAULT_EXAMPLE, settings: Settings | None = None,
                  data_dir: Path | None = None) -> Session:  # fmt: skip
    """The project the app opens: `folder` if it is a project, else a copy of `example` made there.

    Without a folder, the example is copied once into the data folder and reopened on later starts.
    """
    if settings is None:
        from flowdrafter.core.settings import get_settings

        settings = get_settings()
    if folder is None:
        folder = (data_dir or settings.data_dir) / "projects" / example
    folder = Path(folder).expanduser()
    if not is_project(folder):
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise ProjectError(f"{folder} is not a FlowDrafter project (no storyboard.json) and is not empty")
        copy_example(example, folder)
    return state.open_session(folder, settings.undo_limit)


LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|localhost|::1)$")


def exposure_warning(host: str, auth: tuple[str, str] | None) -> str | None:
    """The loud warning printed when the editor is reachable from other machines without a password."""
    if LOOPBACK.match(host) or auth is not None:
        return None
    bar = "!" * 78
    return (f"{bar}\n  WARNING: the FlowDrafter editor is listening on {host}, reachable from other machines,\n"
            f"  WITHOUT a password. Anyone who can reach this port can read and change your projects.\n"
            f"  Set FLOWDRAFTER_UI_AUTH=user:password, or bind to 127.0.0.1.\n{bar}")  # fmt: skip


def launch(demo: gr.Blocks, *, host: str, port: int, auth: tuple[str, str] | None = None, block: bool = True, quiet: bool = False) -> Any:
    """Start the server: never a share link; Gradio serves no project folder (media are published per
    session, see `ui.media`); uploads are capped."""
    from .theme import CSS, THEME

    services: Services = demo.services  # type: ignore[attr-defined]
    warning = exposure_warning(host, auth)
    if warning:
        print(warning, flush=True)
    demo.queue(default_concurrency_limit=4)
    result = demo.launch(
        server_name=host,
        server_port=port,
        share=False,
        auth=auth,
        prevent_thread_lock=True,
        quiet=True,
        show_error=False,
        allowed_paths=[],
        max_file_size=services.settings.max_upload_bytes,
        theme=THEME,
        css=CSS,
        footer_links=["api"],
        ssr_mode=False,
        mcp_server=False,
    )
    if not quiet:
        print(f"FlowDrafter editor: {result[1]}  (Ctrl+C stops it)", flush=True)
    if block:
        demo.block_thread()
    return result
