"""The `.zip` export: the project folder with its current renders, for sharing.

Contains `storyboard.json`, everything under `assets/`, and (unless `include_renders=False`) the clip of
every scene from the render cache (rendered first if needed) with `renders/<generator>/index.json`.
Stale clips, `exports/` and `.history/` stay behind. Entries sit under a folder named after the project
so unzipping makes one folder that `flowdrafter` opens as a project.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from flowdrafter.core.project import ASSETS, STORYBOARD, Project
from flowdrafter.core.settings import Settings
from flowdrafter.core.storyboard import Storyboard

from .base import ProgressFn
from .cache import generator_dir
from .render import render_storyboard


def write_zip(
    project: Project,
    sb: Storyboard,
    out: Path,
    *,
    generator: str = "animatic",
    settings: Settings | None = None,
    progress: ProgressFn,
    include_renders: bool = True,
) -> None:
    files: list[Path] = []
    clips: list[Path] = []
    if include_renders:
        report = render_storyboard(project, generator, settings=settings, storyboard=sb, progress=lambda f, m: progress(0.7 * f, m))
        clips = [report.clips[s.id] for s in sb.scenes]
        index = generator_dir(project, generator) / "index.json"
        if index.is_file():
            clips.append(index)
    assets = project.root / ASSETS
    if assets.is_dir():
        files += sorted(p for p in assets.rglob("*") if p.is_file() and not p.name.endswith(".tmp"))
    top = project.root.name or "project"
    progress(0.75, "writing the archive")
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        # the storyboard being exported (it may have unsaved edits), not necessarily the file on disk
        zf.writestr(f"{top}/{STORYBOARD}", sb.to_json())
        for path in files:
            zf.write(path, f"{top}/{path.relative_to(project.root).as_posix()}")
        for path in clips:  # mp4 is already compressed
            zf.write(path, f"{top}/{path.relative_to(project.root).as_posix()}", compress_type=zipfile.ZIP_STORED)
