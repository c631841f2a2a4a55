"""The `.mp4` export: render (or reuse) every scene, stitch by stream copy, optional title card and audio."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from pydantic import Field, field_validator

from flowdrafter.core.storyboard import Scene, Storyboard

from .drawing import font
from .export import ExportJob, ExportOptions, register_format
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


class Mp4Options(ExportOptions):
    faststart: bool = Field(True, description="Put the index first, so the film plays while it downloads.")
    audio: Path | None = Field(None, description="An audio file to lay under the film (trimmed to its length).")
    title_card_seconds: float = Field(0.0, ge=0.0, le=60.0, description="Open with a title card this long.")
    force: bool = Field(False, description="Render every scene again, even unchanged ones.")

    @field_validator("audio")
    @classmethod
    def _audio_exists(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        path = value.expanduser().absolute()
        if not path.is_file():
            raise ValueError(f"audio file {path} does not exist")
        return path


@register_format(".mp4", "MP4 film", Mp4Options)
def write_mp4(job: ExportJob, options: Mp4Options) -> StitchReport:
    """The stitched film: every scene's clip, stream-copied where the cuts allow, an optional title card and
    audio track. Returns what the stitcher copied and re-encoded."""
    sb, progress = job.storyboard, job.progress
    clips = job.clips(0.7, force=options.force)
    work = Path(tempfile.mkdtemp(prefix="flowdrafter-title-"))
    try:
        if options.title_card_seconds > 0:
            n = max(1, round(options.title_card_seconds * sb.fps))
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
        return stitch(sb, clips, job.out, faststart=options.faststart, audio=options.audio,
                      progress=lambda f, m: progress(0.7 + 0.3 * f, m))  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
