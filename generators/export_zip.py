"""The `.zip` export: the project folder with its current renders and timelines, for sharing.

Contains `storyboard.json`, everything under `assets/`, and (unless `include_renders=False`) the clip of
every scene from the render cache (rendered first if needed) with `renders/<generator>/index.json`, plus
(unless `timelines=False`) an OTIO, an FCP 7 XML, an FCPXML and an EDL timeline under `exports/` whose
media paths are relative, so they open on any machine the archive is unpacked on. Stale clips, earlier
exports and `.history/` stay behind. Entries sit under a folder named after the project so unzipping
makes one folder that `flowdrafter` opens as a project.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from pydantic import Field

from flowdrafter.core.project import ASSETS, EXPORTS, STORYBOARD
from flowdrafter.core.storyboard import slugify

from .cache import generator_dir
from .export import ExportJob, ExportOptions, register_format
from .export_timeline import ADAPTERS, timeline_text


class ZipOptions(ExportOptions):
    include_renders: bool = Field(True, description="Put every scene's current clip in the archive.")
    timelines: bool = Field(True, description="Put .otio, .xml, .fcpxml and .edl timelines of the clips under exports/.")


@register_format(".zip", "Project zip", ZipOptions)
def write_zip(job: ExportJob, options: ZipOptions) -> None:
    project, sb, progress = job.project, job.storyboard, job.progress
    files: list[Path] = []
    clips: dict[str, Path] = {}
    extra: list[Path] = []
    if options.include_renders:
        clips = job.clips(0.7)
        index = generator_dir(project, job.generator) / "index.json"
        if index.is_file():
            extra.append(index)
    assets = project.root / ASSETS
    if assets.is_dir():
        files += sorted(p for p in assets.rglob("*") if p.is_file() and not p.name.endswith(".tmp"))
    top = project.root.name or "project"
    progress(0.75, "writing the archive")
    with zipfile.ZipFile(job.out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        # the storyboard being exported (it may have unsaved edits), not necessarily the file on disk
        zf.writestr(f"{top}/{STORYBOARD}", sb.to_json())
        for path in files:
            zf.write(path, f"{top}/{path.relative_to(project.root).as_posix()}")
        for path in [*(clips[s.id] for s in sb.scenes if s.id in clips), *extra]:  # mp4 is already compressed
            zf.write(path, f"{top}/{path.relative_to(project.root).as_posix()}", compress_type=zipfile.ZIP_STORED)
        if clips and options.timelines:
            name = slugify(sb.title, fallback="storyboard")
            for suffix in ADAPTERS:  # written as if it sat in the project's exports/ folder
                target = project.root / EXPORTS / f"{name}{suffix}"
                text = timeline_text(project, sb, clips, job.generator, suffix, target)
                zf.writestr(f"{top}/{EXPORTS}/{name}{suffix}", text)
