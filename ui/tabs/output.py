"""Tab 4 · Preview, render, export: the animatic preview, rendering with any generator, and the export row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from ..services import Services
from ..views import Shown

# The export row: (suffix, button). Formats come from the export registry; those missing are left out.
FILM_EXPORTS = [(".mp4", "Export MP4"), (".pdf", "Export PDF storyboard"), (".zip", "Export project zip")]
TIMELINE_EXPORTS = [(".xml", "Premiere / Resolve (.xml)"), (".fcpxml", "Final Cut Pro (.fcpxml)"), (".edl", "Any editor (.edl)"),
                    (".otio", "OpenTimelineIO (.otio)")]  # fmt: skip


@dataclass
class OutputTab:
    video: gr.Video
    preview_scope: gr.Radio
    preview: gr.Button
    generator: gr.Dropdown
    force: gr.Checkbox
    render: gr.Button
    rerender: gr.Button
    cancel: gr.Button
    target: gr.Markdown
    log: gr.Textbox
    clips: gr.Gallery
    exports: dict[str, gr.Button]  # by suffix
    absolute_paths: gr.Checkbox
    download: gr.File

    def viewed(self) -> list[Any]:
        return []

    def view(self, shown: Shown) -> dict[Any, Any]:
        return {}


def build(services: Services) -> OutputTab:
    can_render = services.render_storyboard is not None
    generators = services.generators()
    formats = services.export_formats
    with gr.Tab("4 · Preview, render, export", id="output"):
        with gr.Row():
            with gr.Column(scale=2):
                video = gr.Video(label="Preview", elem_id="preview-video", autoplay=True, height=360)
            with gr.Column(scale=1, min_width=300):
                preview_scope = gr.Radio([("This scene", "scene"), ("Whole storyboard", "all")], value="scene", label="Animatic preview of")
                preview = gr.Button("▶ Preview", variant="primary", elem_id="preview-button", visible=can_render and services.export is not None)
                generator = gr.Dropdown(generators, value=services.default_generator(), label="Generator", elem_id="render-generator")
                force = gr.Checkbox(False, label="Re-render unchanged scenes too")
                with gr.Row():
                    render = gr.Button("Render", variant="primary", elem_id="render-button", visible=can_render)
                    rerender = gr.Button("Re-render this scene", elem_id="rerender-button", visible=can_render)
                    cancel = gr.Button("Cancel", variant="stop", elem_id="cancel-button", visible=can_render)
                target = gr.Markdown(f"Renders run in {services.render_target()}", elem_id="render-target", visible=can_render)
                log = gr.Textbox(label="Render progress", lines=4, interactive=False, elem_id="render-log")
        clips = gr.Gallery(label="Rendered clips, per scene", columns=4, height="auto", elem_id="render-clips")
        exports: dict[str, gr.Button] = {}
        with gr.Row(visible=services.export is not None, elem_id="export-row"):
            for suffix, text in FILM_EXPORTS:
                if suffix in formats:
                    exports[suffix] = gr.Button(text, elem_id=f"export-{suffix[1:]}", scale=1)
        with gr.Row(visible=services.export is not None, elem_id="timeline-row", equal_height=True):
            gr.Markdown("**Timeline for your video editor**<br>one clip per scene, pointing at the rendered clips", min_height=0)
            for suffix, text in TIMELINE_EXPORTS:
                if suffix in formats:
                    exports[suffix] = gr.Button(text, elem_id=f"export-{suffix[1:]}", scale=1)
            absolute_paths = gr.Checkbox(False, label="Absolute media paths (default: relative to the file)", elem_id="export-absolute")
        download = gr.File(label="Download", elem_id="export-file", interactive=False)
    return OutputTab(video, preview_scope, preview, generator, force, render, rerender, cancel, target, log, clips, exports,
                     absolute_paths, download)  # fmt: skip
