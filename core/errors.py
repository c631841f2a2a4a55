"""User-facing errors.

Everything a person can cause (bad files, bad values, bad images, missing models) raises a subclass of
`FlowDrafterError` with a short, precise message. The CLI prints it as one line and exits 2; the UI shows it
as `gr.Error`. Anything else escaping is a bug in FlowDrafter.
"""

from __future__ import annotations


class FlowDrafterError(Exception):
    """Base class for errors caused by input, not by bugs."""


class StoryboardError(FlowDrafterError):
    """A storyboard document is malformed or inconsistent; `problems` lists every one found."""

    def __init__(self, problems: list[str], source: str | None = None):
        self.problems = list(problems) or ["invalid storyboard"]
        self.source = source
        prefix = f"{source}: " if source else ""
        more = len(self.problems) - 1
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        super().__init__(f"{prefix}{self.problems[0]}{tail}")


class ProjectError(FlowDrafterError):
    """A project folder is missing, is not a project, or cannot be written."""


class AssetError(FlowDrafterError):
    """An asset (image, path) is unusable: not an image, too big, truncated, or outside the project."""


class PlanningError(FlowDrafterError):
    """The LLM planner could not produce a valid storyboard."""


class RenderError(FlowDrafterError):
    """A generator, the stitcher or an exporter failed on this input."""


class ModelUnavailableError(FlowDrafterError):
    """A model role cannot be loaded (offline, missing, wrong folder)."""


class Cancelled(FlowDrafterError):
    """The user cancelled a long-running operation."""
