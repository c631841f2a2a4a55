"""`export(project, out_path, ...)`: one entry point for every export format, chosen by the extension.

Each format registers itself with `register_format` next to its writer: a suffix, a label, and a pydantic
model of its options (so an unknown or bad option is refused by the model, naming the exact field). The
formats: `.mp4` (the stitched film), `.pdf` (a storyboard sheet), `.otio`, `.xml` (FCP 7 XML: Premiere,
Resolve), `.fcpxml` (Final Cut Pro) and `.edl` (CMX 3600) timelines, `.zip` (the project with its renders)
and `.png` (a keyframe contact sheet). `formats()` lists them.

Every export is written to a temporary file next to the target and renamed over it only when complete, so
a failure (no space, no permission, a bad clip) leaves any previous export intact and raises a one-line
`RenderError`.
"""

from __future__ import annotations

import errno
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from flowdrafter.core.atomic import atomic_path
from flowdrafter.core.errors import FlowDrafterError, RenderError
from flowdrafter.core.project import Project
from flowdrafter.core.settings import Settings
from flowdrafter.core.storyboard import Storyboard

from .base import ProgressFn


class ExportOptions(BaseModel):
    """The options of one format. Subclasses add fields; a name that is not a field is refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


O = TypeVar("O", bound=ExportOptions)


@dataclass(frozen=True)
class ExportJob:
    """What every writer gets besides its options: the project, the storyboard and where to write."""

    project: Project
    storyboard: Storyboard
    out: Path  # the temporary file to write (renamed to `target` when the writer returns)
    target: Path  # the final path: timelines make media paths relative to its folder
    generator: str  # whose clips go into films, timelines and archives
    settings: Settings | None
    progress: ProgressFn
    is_cancelled: Callable[[], bool] | None = None

    def clips(self, share: float = 0.9, *, force: bool = False) -> dict[str, Path]:
        """Every scene's clip, rendered or reused through the cache; reports progress up to `share`."""
        from .render import render_storyboard

        report = render_storyboard(
            self.project, self.generator, settings=self.settings, storyboard=self.storyboard, force=force,
            progress=lambda f, m: self.progress(share * f, m), is_cancelled=self.is_cancelled,
        )  # fmt: skip
        return report.clips


Writer = Callable[[ExportJob, Any], object]


@dataclass(frozen=True)
class ExportFormat(Generic[O]):
    suffix: str  # ".mp4"
    label: str  # what a person calls it: "MP4 film"
    options: type[O]
    write: Callable[[ExportJob, O], object]

    def parse_options(self, options: dict[str, Any]) -> O:
        """The options model, or a RenderError naming the option that is unknown or wrong."""
        try:
            return self.options.model_validate(options)
        except ValidationError as err:
            first = err.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "options"
            if first["type"] == "extra_forbidden":
                known = ", ".join(self.options.model_fields) or "none"
                raise RenderError(f"{self.suffix} export has no option '{field}' (its options: {known})") from None
            raise RenderError(f"{self.suffix} export: option {field}: {_message(first)}") from None


def _message(error: dict[str, Any]) -> str:
    text = str(error.get("msg", "invalid value"))
    text = text.removeprefix("Value error, ")
    text = text[:1].lower() + text[1:]
    if "input" in error and not isinstance(error["input"], dict):
        text += f" (got {error['input']!r})"
    return text


_FORMATS: dict[str, ExportFormat] = {}
_MODULES = (  # importing a module registers its formats
    "flowdrafter.generators.export_mp4",
    "flowdrafter.generators.export_pdf",
    "flowdrafter.generators.export_timeline",
    "flowdrafter.generators.export_zip",
    "flowdrafter.generators.contact_sheet",
)


def register_format(suffix: str, label: str, options: type[O]) -> Callable[[Callable[[ExportJob, O], object]], Callable[[ExportJob, O], object]]:
    """Decorator for a writer `write(job, options)`: export files ending in `suffix` with it."""

    def decorator(write: Callable[[ExportJob, O], object]) -> Callable[[ExportJob, O], object]:
        _FORMATS[suffix] = ExportFormat(suffix, label, options, write)
        return write

    return decorator


def formats() -> dict[str, ExportFormat]:
    """Every export format by suffix (".mp4", ...), in a stable order."""
    for module in _MODULES:
        importlib.import_module(module)
    return dict(sorted(_FORMATS.items()))


def get_format(suffix: str) -> ExportFormat:
    found = formats().get(suffix.lower())
    if found is None:
        raise RenderError(f"cannot export to '{suffix or 'no extension'}'; use one of {', '.join(formats())}")
    return found


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
    is_cancelled: Callable[[], bool] | None = None,
    storyboard: Storyboard | None = None,
    **options: Any,
) -> Path:
    """Export a project to `out_path`; the extension picks the format and `options` are that format's
    (see each format's options model, e.g. `export_pdf.PdfOptions`). `generator` picks whose clips go into
    films, timelines and archives (rendered or reused through the cache). Returns the path written."""
    project = project if isinstance(project, Project) else Project.open(project)
    out = check_output_path(Path(out_path))
    fmt = get_format(out.suffix)
    parsed = fmt.parse_options(options)
    sb = storyboard if storyboard is not None else project.load()
    if not sb.scenes:
        raise RenderError("the storyboard has no scenes; nothing to export")
    report = progress or (lambda fraction, message: None)
    try:
        with atomic_path(out) as tmp:
            fmt.write(ExportJob(project, sb, tmp, out, generator, settings, report, is_cancelled), parsed)
    except FlowDrafterError:
        raise
    except OSError as err:
        raise RenderError(os_error_message(err, out)) from None
    report(1.0, f"wrote {out}")
    return out
