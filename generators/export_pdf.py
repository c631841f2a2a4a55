"""The `.pdf` export: a storyboard sheet like Storyboarder's, drawn with Pillow (pages are images).

Per scene a row: its number and title, the event, camera and background motion, duration and the
transition into the next scene, beside a few keyframe thumbnails with the boxes drawn and each frame's
description. Page size (A4, Letter, A3), orientation, keyframes per row and scenes per page are options.
"""

from __future__ import annotations

import math
from typing import Literal

from PIL import Image, ImageDraw
from pydantic import Field

from flowdrafter.core.errors import RenderError
from flowdrafter.core.layout import frame_description
from flowdrafter.core.project import Project
from flowdrafter.core.storyboard import CameraMotion, Scene, Storyboard, TransitionKind
from flowdrafter.core.timeline import timecode, total_frames

from .base import ProgressFn
from .contact_sheet import pick_frames, thumbnail
from .drawing import font, wrap
from .export import ExportJob, ExportOptions, register_format

PAGE_SIZES_MM = {"a4": (210.0, 297.0), "letter": (215.9, 279.4), "a3": (297.0, 420.0)}
INK, SOFT, RULE, PAPER = (28, 28, 34), (95, 96, 108), (210, 208, 202), (255, 255, 255)


def page_pixels(page_size: str, orientation: str, dpi: int) -> tuple[int, int]:
    if page_size not in PAGE_SIZES_MM:
        raise RenderError(f"page size must be one of {', '.join(PAGE_SIZES_MM)}, got '{page_size}'")
    if orientation not in ("landscape", "portrait"):
        raise RenderError(f"orientation must be landscape or portrait, got '{orientation}'")
    w, h = (round(mm / 25.4 * dpi) for mm in PAGE_SIZES_MM[page_size])
    return (max(w, h), min(w, h)) if orientation == "landscape" else (min(w, h), max(w, h))


def describe_camera(scene: Scene) -> str:
    if scene.camera.motion is CameraMotion.static:
        return "static"
    return f"{scene.camera.motion.value.replace('_', ' ')} (strength {scene.camera.strength:g})"


def describe_motion(scene: Scene) -> str:
    m = scene.background_motion
    if m.dx == 0 and m.dy == 0:
        return "none"
    return f"dx {m.dx:+.3f}, dy {m.dy:+.3f} of the frame per frame"


def describe_transition(sb: Storyboard, index: int) -> str:
    tr = sb.scenes[index].transition
    last = index == len(sb.scenes) - 1
    if tr.kind is TransitionKind.cut:
        return "end" if last else "cut"
    if tr.kind is TransitionKind.fade:
        return f"fade {'out' if last else 'through black'}, {tr.frames} frames"
    return "end" if last else f"crossfade, {tr.frames} frames"


def _scene_row(project: Project, sb: Storyboard, index: int, box: tuple[int, int, int, int], columns: int, dpi: int, page: Image.Image) -> None:
    scene = sb.scenes[index]
    x0, y0, x1, y1 = box
    d = ImageDraw.Draw(page)
    pt = dpi / 72.0  # pixels per typographic point
    info_w = round((x1 - x0) * 0.27)
    gap = round(8 * pt)
    f_num, f_title, f_body, f_label, f_small = (font(20 * pt, True), font(12 * pt, True), font(8.5 * pt),
                                                font(7 * pt, True), font(7 * pt))  # fmt: skip
    # Left: the scene's facts.
    d.text((x0, y0), f"{index + 1}", font=f_num, fill=SOFT)
    num_w = d.textlength(f"{index + 1}", font=f_num) + gap
    title_lines = wrap(d, scene.title or scene.id, f_title, info_w - num_w, 2)
    y = y0 + 2 * pt
    for ln in title_lines:
        d.text((x0 + num_w, y), ln, font=f_title, fill=INK)
        y += 15 * pt
    y = max(y, y0 + 26 * pt) + 2 * pt
    for ln in wrap(d, scene.event, f_body, info_w, 4):
        d.text((x0, y), ln, font=f_body, fill=INK)
        y += 11 * pt
    y += 4 * pt
    facts = [
        ("Camera", describe_camera(scene)),
        ("Background", (sb.entity(scene.background).name if scene.background and sb.entity(scene.background) else "none")),
        ("Motion", describe_motion(scene)),
        ("Duration", f"{scene.num_frames} frames · {scene.num_frames / sb.fps:.1f} s"),
        ("Next", describe_transition(sb, index)),
    ]
    for label, value in facts:
        d.text((x0, y), label.upper(), font=f_label, fill=SOFT)
        for ln in wrap(d, value, f_small, info_w - round(64 * pt), 2):
            d.text((x0 + round(64 * pt), y), ln, font=f_small, fill=INK)
            y += 9.5 * pt
        y += 1.5 * pt
    # Right: keyframe thumbnails with boxes, each with its frame, timecode and description.
    area_x = x0 + info_w + gap * 2
    area_w = x1 - area_x
    cell_w = (area_w - gap * (columns - 1)) // columns
    caption_h = round(30 * pt)
    thumb_w = cell_w
    thumb_h = round(thumb_w * sb.height / sb.width)
    if thumb_h + caption_h > y1 - y0:  # a short row: shrink the thumbnails to fit
        thumb_h = max(8, (y1 - y0) - caption_h)
        thumb_w = round(thumb_h * sb.width / sb.height)
    for k, f in enumerate(pick_frames(scene, columns)):
        tx = area_x + k * (cell_w + gap)
        page.paste(thumbnail(project, sb, scene.id, f, thumb_w), (tx, y0))
        d.rectangle((tx - 1, y0 - 1, tx + thumb_w, y0 + thumb_h), outline=RULE)
        prev, nxt, w = frame_description(scene, f)
        d.text((tx, y0 + thumb_h + 3 * pt), f"frame {f} · {timecode(f, sb.fps)}", font=f_label, fill=SOFT)
        for i, ln in enumerate(wrap(d, nxt if w >= 0.5 else prev, f_small, thumb_w, 2)):
            d.text((tx, y0 + thumb_h + (13 + 9 * i) * pt), ln, font=f_small, fill=INK)


def render_pages(project: Project, sb: Storyboard, *, page_size: str = "a4", orientation: str = "landscape",
                 columns: int = 4, rows: int | None = None, dpi: int = 150, progress: ProgressFn | None = None) -> list[Image.Image]:  # fmt: skip
    """The storyboard sheet as page images (what `write_pdf` saves)."""
    W, H = page_pixels(page_size, orientation, dpi)
    if not 1 <= columns <= 8:
        raise RenderError(f"columns must be between 1 and 8, got {columns}")
    rows = rows if rows is not None else (3 if orientation == "landscape" else 5)
    if not 1 <= rows <= 10:
        raise RenderError(f"rows must be between 1 and 10, got {rows}")
    if not 50 <= dpi <= 600:
        raise RenderError(f"dpi must be between 50 and 600, got {dpi}")
    pt = dpi / 72.0
    margin = round(30 * pt)
    header_h = round(44 * pt)
    footer_h = round(14 * pt)
    n_pages = math.ceil(len(sb.scenes) / rows)
    row_h = (H - 2 * margin - header_h - footer_h) // rows
    pages = []
    total = total_frames(sb)
    for p in range(n_pages):
        page = Image.new("RGB", (W, H), PAPER)
        d = ImageDraw.Draw(page)
        d.text((margin, margin), sb.title or "Untitled", font=font(16 * pt, True), fill=INK)
        sub = f"{len(sb.scenes)} scenes · {total} frames · {total / sb.fps:.1f} s at {sb.fps} fps · {sb.width}x{sb.height}"
        if sb.style:
            sub += f" · {sb.style}"
        d.text((margin, margin + 21 * pt), wrap(d, sub, font(8 * pt), W - 2 * margin - round(90 * pt), 1)[0], font=font(8 * pt), fill=SOFT)
        label = f"page {p + 1} of {n_pages}"
        d.text((W - margin - d.textlength(label, font=font(8 * pt)), margin + 4 * pt), label, font=font(8 * pt), fill=SOFT)
        d.line((margin, margin + header_h - 8 * pt, W - margin, margin + header_h - 8 * pt), fill=INK, width=max(1, round(pt)))
        for r, index in enumerate(range(p * rows, min(len(sb.scenes), (p + 1) * rows))):
            top = margin + header_h + r * row_h
            _scene_row(project, sb, index, (margin, top, W - margin, top + row_h - round(10 * pt)), columns, dpi, page)
            if r:
                d.line((margin, top - round(6 * pt), W - margin, top - round(6 * pt)), fill=RULE, width=max(1, round(pt / 2)))
            if progress:
                progress((index + 1) / len(sb.scenes) * 0.9, f"scene {sb.scenes[index].id}")
        foot = "FlowDrafter storyboard"
        d.text((margin, H - margin), foot, font=font(7 * pt), fill=SOFT)
        pages.append(page)
    return pages


class PdfOptions(ExportOptions):
    page_size: Literal["a4", "letter", "a3"] = "a4"
    orientation: Literal["landscape", "portrait"] = "landscape"
    columns: int = Field(4, ge=1, le=8, description="Keyframes per scene row.")
    rows: int | None = Field(None, ge=1, le=10, description="Scenes per page (default 3 landscape, 5 portrait).")
    dpi: int = Field(150, ge=50, le=600)


@register_format(".pdf", "PDF storyboard", PdfOptions)
def write_pdf(job: ExportJob, options: PdfOptions) -> None:
    sb = job.storyboard
    pages = render_pages(job.project, sb, page_size=options.page_size, orientation=options.orientation, columns=options.columns,
                         rows=options.rows, dpi=options.dpi, progress=job.progress)  # fmt: skip
    pages[0].save(job.out, format="PDF", save_all=True, append_images=pages[1:], resolution=float(options.dpi),
                  title=sb.title, author="FlowDrafter", creator="FlowDrafter")  # fmt: skip
