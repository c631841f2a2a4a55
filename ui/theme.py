"""How the editor looks: one Gradio theme and a little CSS (Gradio 6 takes both in `launch()`)."""

from __future__ import annotations

import gradio as gr

THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="slate", radius_size="md")

CSS = """
#fd-header { align-items: center; }
#fd-header h2 { margin: 0; }
#fd-project-path { color: var(--body-text-color-subdued); font-size: 12px; }
#scene-list label { width: 100%; }
#scene-list .wrap { flex-direction: column; gap: 4px; }
.fd-small button, button.fd-small { min-width: 0 !important; }
.fd-warn { color: #b45309; }
.fd-quality .fd-q-ok { color: #15803d; }
.fd-quality .fd-q-fail { color: #b91c1c; font-weight: 600; }
footer { display: none !important; }
"""
