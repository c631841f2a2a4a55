"""Keyframe contact sheets: annotated thumbnails of a scene's keyframes, for the editor, PNG and PDF exports.

A thumbnail is the animatic frame without captions, with each entity's box drawn in its colour and
labelled, so a sheet shows the plan (where things are) and the picture at once.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from flowdrafter.core.errors import RenderError
from flowdrafter.core.layout import frame_description, frame_layout, keyframe_frames, norm_to_pixels
from flowdrafter.core.project import Project
from flowdrafter.core.settings import Settings
from flowdrafter.core.storyboard import Scene, Storyboard
from flowdrafter.core.timeline import timecode

from .animatic import compose_frame, entity_color, font
from .base import ProgressFn


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


def draw_boxes(img: Image.Image, scene: Scene, frame: int, sb: Storyboard) -> Image.Image:
    """Each entity's box on `img` (any size), outlined in its colour with its name."""
    out = img.convert("RGB").copy()
    d = ImageDraw.Draw(out)
    W, H = out.size
    fnt = font(max(9, H * 0.06), bold=True)
    width = max(2, H // 110)
    for entity_id, box in frame_layout(scene, frame).items():
        entity = sb.entity(entity_id)
        name = entity.name if entity else entity_id
        col = entity_color(entity_id)
        x0, y0, x1, y1 = norm_to_pixels(box, W, H)
        d.rectangle((x0, y0, x1 - 1, y1 - 1), outline=col, width=width)
        tx0, ty0, tx1, ty1 = d.textbbox((0, 0), name, font=fnt)
        lw, lh = tx1 - tx0 + 6, ty1 - ty0 + 4
        ly = y0 - lh if y0 - lh >= 0 else y0
        lx = min(max(0, x0), W - lw)
        d.rectangle((lx, ly, lx + lw, ly + lh), fill=col)
        d.text((lx + 3 - tx0, ly + 2 - ty0), name, font=fnt, fill=(255, 255, 255))
    return out


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


def write_contact_sheet(
    project: Project,
    sb: Storyboard,
    out: Path,
    *,
    generator: str = "animatic",
    settings: Settings | None = None,
    progress: ProgressFn,
    columns: int = 4,
) -> None:
    """The `.png` export: every scene's keyframe sheet stacked (uses the animatic look, no render needed)."""
    if columns < 1 or columns > 12:
        raise RenderError(f"columns must be between 1 and 12, got {columns}")
    progress(0.1, "drawing keyframes")
    storyboard_sheet(project, sb, columns=columns).save(out, format="PNG")
