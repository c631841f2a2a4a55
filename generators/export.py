"""`export(project, out_path, ...)`: one entry point for every export format, chosen by extension.

- `.mp4`: the stitched film (faststart), clips rendered or reused through the render cache;
- `.pdf`: a storyboard sheet (keyframe thumbnails with boxes, title, event, camera, timing, transitions);
- `.otio`: an OpenTimelineIO timeline, one clip per scene, crossfades as dissolves;
- `.zip`: the project folder with its current renders, for sharing;
- `.png`: a keyframe contact sheet of the whole storyboard.

Every export is written to a temporary file next to the target and renamed over it only when complete, so
a failure (no space, no permission, a bad clip) leaves any previous export intact and raises a one-line
`RenderError`.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowdrafter.core.atomic import atomic_path
from flowdrafter.core.errors import FlowDrafterError, RenderError
from flowdrafter.core.project import Project
from flowdrafter.core.settings import Settings
from flowdrafter.core.storyboard import Storyboard

from .base import ProgressFn

FORMATS = (".mp4", ".pdf", ".otio", ".zip", ".png")


def _writer(suffix: str) -> Callable[..., None]:
    if suffix == ".mp4":
        from .export_mp4 import write_mp4

        return write_mp4
    if suffix == ".pdf":
        from .export_pdf import write_pdf

        return write_pdf
    if suffix == ".otio":
        from .export_otio import write_otio

        return write_otio
    if suffix == ".zip":
        from .export_zip import write_zip

        return write_zip
    if suffix == ".png":
        from .contact_sheet import write_contact_sheet

        return write_contact_sheet
    raise RenderError(f"cannot export to '{suffix or 'no extension'}'; use one of {', '.join(FORMATS)}")


def check_output_path(out_path: Path) -> Path:
    """The absolute target path, or a RenderError saying why it cannot be written."""
    out = Path(out_path).expanduser().absolute()
    if out.is_dir():
        raise RenderError(f"{out} is a folder; give a file name such as {out / 'film.mp4'}")
    parent = out.parent
    if not parent.is_dir():
        raise RenderError(f"cannot write {out}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RenderError(f"cannot write {out}: no permission to write in {parent}")
    if out.exists() and not os.access(out, os.W_OK):
        raise RenderError(f"cannot write {out}: the existing file is read-only")
    return out


def os_error_message(err: OSError, out: Path) -> str:
    if err.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return f"no space left on the disk while writing {out}; the previous file (if any) is unchanged"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write {out}: {err.strerror}"
    return f"cannot write {out}: {err.strerror or err}"


def export(
    project: Project | str | os.PathLike,
    out_path: Path | str,
    *,
    generator: str = "animatic",
    settings: Settings | None = None,
    progress: ProgressFn | None = None,
    storyboard: Storyboard | None = None,
    **options: Any,
) -> Path:
    """Export a project to `out_path`; the format is chosen by its extension (see the module docstring).

    `generator` picks whose clips go into .mp4/.otio/.zip (rendered or reused through the cache);
    `options` are format-specific (mp4: `faststart`, `audio`, `title_card`; pdf: `page_size`,
    `orientation`, `columns`, `rows`, `dpi`; zip: `include_renders`; png: `columns`). Returns the path.
    """
    project = project if isinstance(project, Project) else Project.open(project)
    out = check_output_path(Path(out_path))
    write = _writer(out.suffix.lower())
    sb = storyboard if storyboard is not None else project.load()
    if not sb.scenes:
        raise RenderError("the storyboard has no scenes; nothing to export")
    report = progress or (lambda fraction, message: None)
    try:
        with atomic_path(out) as tmp:
            write(project, sb, tmp, generator=generator, settings=settings, progress=report, **options)
    except FlowDrafterError:
        raise
    except TypeError as err:
        if "unexpected keyword argument" not in str(err):
            raise
        name = str(err).split("argument")[-1].strip(" '\"")
        raise RenderError(f"{out.suffix} export has no option '{name}'") from None
    except OSError as err:
        raise RenderError(os_error_message(err, out)) from None
    report(1.0, f"wrote {out}")
    return out
