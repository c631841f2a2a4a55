"""The `.mp4` export: render (or reuse) every scene, stitch by stream copy, optional title card and audio."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from flowdrafter.core.errors import RenderError
from flowdrafter.core.project import Project
from flowdrafter.core.settings import Settings
from flowdrafter.core.storyboard import Scene, Storyboard

from .animatic import font
from .base import ProgressFn
from .render import render_storyboard
from .stitch import StitchReport, stitch
from .video import FfmpegSink

def title_card(sb: Storyboard) -> Image.Image:
    """The storyboard title (and its prompt, small) on a dark card at the storyboard's size."""
    W, H = sb.width, sb.height
    img = Image.new("RGB", (W, H), (22, 24, 30))
    d = ImageDraw.Draw(img)
    f_title, f_sub = font(H * 0.09, bold=True), font(H * 0.04)
    title = sb.title or "Untitled"
    x0, y0, x1, y1 = d.textbbox((0, 0), title, font=f_title)
    d.text(((W - (x1 - x0)) / 2 - x0, H * 0.42 - (y1 - y0)), title, font=f_title, fill=(245, 245, 245))
    if sb.style:
        x0, y0, x1, y1 = d.textbbox((0, 0), sb.style, font=f_sub)
        d.text(((W - (x1 - x0)) / 2 - x0, H * 0.52), sb.style, font=f_sub, fill=(170, 175, 185))
    return img


def write_mp4(
    project: Project,
    sb: Storyboard,
    out: Path,
    *,
    generator: str = "animatic",
    settings: Settings | None = None,
    progress: ProgressFn,
    faststart: bool = True,
    audio: str | Path | None = None,
    title_card_seconds: float = 0.0,
    force: bool = False,
) -> StitchReport:
    """Write the stitched film to `out`. `title_card_seconds` > 0 prepends a title card; `audio` adds a
    track (trimmed to the film). Returns what the stitcher copied and re-encoded."""
    audio_path = None
    if audio:
        audio_path = Path(audio).expanduser().absolute()
        if not audio_path.is_file():
            raise RenderError(f"audio file {audio_path} does not exist")
    report = render_storyboard(
        project, generator, settings=settings, storyboard=sb, force=force,
        progress=lambda f, m: progress(0.7 * f, m),
    )  # fmt: skip
    clips = dict(report.clips)
    work = Path(tempfile.mkdtemp(prefix="flowdrafter-title-"))
    try:
        if title_card_seconds > 0:
            n = max(1, round(title_card_seconds * sb.fps))
            card = np.asarray(title_card(sb))
            path = work / "title.mp4"
            with FfmpegSink(path, sb.width, sb.height, sb.fps, expected_frames=n) as sink:
                for _ in range(n):
                    sink.write(card)
            tid = "title-card"
            while sb.scene(tid) is not None:
                tid += "-1"
            title = Scene(id=tid, event="title card", num_frames=n)
            sb = sb.model_copy(update={"scenes": [title, *sb.scenes]})
            clips[title.id] = path
        return stitch(sb, clips, out, faststart=faststart, audio=audio_path,
                      progress=lambda f, m: progress(0.7 + 0.3 * f, m))  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
