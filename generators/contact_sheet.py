"""Keyframe contact sheets: annotated thumbnails of a scene's keyframes, for the editor, PNG and PDF exports.

A thumbnail is the animatic frame without captions, with each entity's box drawn in its colour and
labelled, so a sheet shows the plan (where things are) and the picture at once.
"""

from __future__ import annotations

from PIL import Image, ImageDraw
from pydantic import Field

from flowdrafter.core.errors import RenderError
from flowdrafter.core.layout import frame_description, keyframe_frames
from flowdrafter.core.project import Project
from flowdrafter.core.storyboard import Scene, Storyboard
from flowdrafter.core.timeline import timecode

from .animatic import compose_frame
from .drawing import draw_boxes, font
from .export import ExportJob, ExportOptions, register_format


def pick_frames(scene: Scene, count: int) -> list[int]:
    """Up to `count` frames that tell the scene: first, last and the keyframes between (thinned evenly),
    topped up with evenly spaced frames when there are fewer keyframes than slots."""
    n = scene.num_frames
    count = max(1, min(count, n))
    picks = sorted({0, n - 1, *keyframe_frames(scene)})
    if len(picks) > count:
        if count == 1:
            return [picks[0]]
        return sorted({picks[round(i * (len(picks) - 1) / (count - 1))] for i in range(count)})
    even = [round(i * (n - 1) / (count - 1)) for i in range(count)] if count > 1 else [0]
    spare = [f for f in even if f not in picks]
    while len(picks) < count and spare:
        f = max(spare, key=lambda f: min(abs(f - g) for g in picks))  # the gap that most needs a frame
        spare.remove(f)
        picks = sorted([*picks, f])
    return picks


def thumbnail(project: Project, sb: Storyboard, scene_id: str, frame: int, width: int, *, boxes: bool = True) -> Image.Image:
    scene = sb.scene(scene_id)
    img = compose_frame(project, sb, scene_id, frame, captions=False)
    height = max(2, round(width * sb.height / sb.width))
    img = img.resize((width, height), Image.LANCZOS, reducing_gap=2.0)
    return draw_boxes(img, scene, frame, sb) if boxes and scene is not None else img


def scene_sheet(project: Project, sb: Storyboard, scene_id: str, *, columns: int = 4, thumb_width: int = 320) -> Image.Image:
    """One scene's keyframes in a row (wrapping after `columns`), each with its frame number, timecode and
    the frame's description, under a title line."""
    scene = sb.scene(scene_id)
    if scene is None:
        raise RenderError(f"no scene with id '{scene_id}'")
    frames = pick_frames(scene, columns)
    th = round(thumb_width * sb.height / sb.width)
    pad, cap_h = 12, 46
    title_h = 34
    rows = (len(frames) + columns - 1) // columns
    W = pad + columns * (thumb_width + pad)
    H = title_h + rows * (th + cap_h + pad) + pad
    sheet = Image.new("RGB", (W, H), (250, 249, 246))
    d = ImageDraw.Draw(sheet)
    index = sb.scene_index(scene_id) + 1
    d.text((pad, 8), f"{index}. {scene.title or scene.id}", font=font(18, bold=True), fill=(30, 30, 35))
    f_small = font(12)
    for k, f in enumerate(frames):
        r, c = divmod(k, columns)
        x, y = pad + c * (thumb_width + pad), title_h + r * (th + cap_h + pad)
        sheet.paste(thumbnail(project, sb, scene_id, f, thumb_width), (x, y))
        d.rectangle((x - 1, y - 1, x + thumb_width, y + th), outline=(200, 200, 200))
        prev, nxt, w = frame_description(scene, f)
        text = nxt if w >= 0.5 else prev
        d.text((x, y + th + 4), f"frame {f}  ·  {timecode(f, sb.fps)}", font=font(12, bold=True), fill=(60, 60, 70))
        line = text if d.textlength(text, font=f_small) <= thumb_width else text[: max(1, int(len(text) * thumb_width / max(1, d.textlength(text, font=f_small))) - 1)] + "…"
        d.text((x, y + th + 22), line, font=f_small, fill=(90, 90, 100))
    return sheet


def storyboard_sheet(project: Project, sb: Storyboard, *, columns: int = 4, thumb_width: int = 320) -> Image.Image:
    sheets = [scene_sheet(project, sb, s.id, columns=columns, thumb_width=thumb_width) for s in sb.scenes]
    W = max(s.width for s in sheets)
    out = Image.new("RGB", (W, sum(s.height for s in sheets)), (250, 249, 246))
    y = 0
    for s in sheets:
        out.paste(s, (0, y))
        y += s.height
    return out


class PngOptions(ExportOptions):
    columns: int = Field(4, ge=1, le=12, description="Keyframes per scene row.")


@register_format(".png", "PNG contact sheet", PngOptions)
def write_contact_sheet(job: ExportJob, options: PngOptions) -> None:
    """Every scene's keyframe sheet stacked (the animatic look, no render needed)."""
    job.progress(0.1, "drawing keyframes")
    storyboard_sheet(job.project, job.storyboard, columns=options.columns).save(job.out, format="PNG")
