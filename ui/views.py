"""What the page shows for a storyboard: labels, choices, form values and logs, computed from the document.

Pure functions of the storyboard (and project, for image paths), so they are easy to test and the tabs
only have to route their results to components. `Shown` is what one refresh shows: the session's document
and the focus (scene, frame, entity) after an edit.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from flowdrafter.core.errors import AssetError
from flowdrafter.core.layout import frame_description, keyframe_frames
from flowdrafter.core.project import Project
from flowdrafter.core.storyboard import CameraMotion, EntityKind, Storyboard, TransitionKind
from flowdrafter.core.timeline import seconds, total_frames
from flowdrafter.generators.drawing import placeholder_tile
from flowdrafter.planners.quality import STORY, plan_quality

from . import state
from .state import Session

Link = Callable[[Path], "str | None"]  # a project file -> the published copy this session may fetch (ui.media)

CAMERA_CHOICES = [(m.value.replace("_", " "), m.value) for m in CameraMotion]
TRANSITION_CHOICES = [("cut", TransitionKind.cut.value), ("crossfade", TransitionKind.crossfade.value), ("fade to black", TransitionKind.fade.value)]


def header(sb: Storyboard | None, project_root: str | None) -> str:
    if sb is None:
        return "## FlowDrafter\nNo project is open. Open a project folder or start a new one below."
    n = total_frames(sb)
    return (
        f"## {html.escape(sb.title)}\n"
        f"<span id='fd-project-path'>{len(sb.scenes)} scenes · {n} frames · {seconds(n, sb.fps):.1f} s at {sb.fps} fps · "
        f"{sb.width}×{sb.height} · saved in <code>{html.escape(project_root or '')}</code></span>"
    )


def scene_choices(sb: Storyboard) -> list[tuple[str, str]]:
    out = []
    for i, s in enumerate(sb.scenes):
        name = s.title or s.event
        name = name if len(name) <= 42 else name[:41] + "…"
        warn = "  ⚠" if s.warnings else ""
        out.append((f"{i + 1}. {name} · {s.num_frames} fr{warn}", s.id))
    return out


def pick_scene(sb: Storyboard, scene_id: str | None) -> str:
    return scene_id if scene_id and sb.scene(scene_id) else sb.scenes[0].id


def background_choices(sb: Storyboard) -> list[tuple[str, str]]:
    return [("(none)", "")] + [(e.name, e.id) for e in sb.entities if e.kind is EntityKind.background]


def scene_warnings(sb: Storyboard, scene_id: str) -> str:
    scene = sb.scene(scene_id)
    if scene is None or not scene.warnings:
        return ""
    items = "".join(f"<li>{html.escape(w)}</li>" for w in scene.warnings)
    return f"<div class='fd-warn'><b>⚠ Planner notes for this scene</b><ul>{items}</ul></div>"


def scene_quality(sb: Storyboard, scene_id: str) -> str:
    """The plan-quality verdicts of a scene (and the plan's total), shown next to its planner notes."""
    report = plan_quality(sb)
    verdicts = report.at(scene_id)
    if not verdicts:
        return ""
    chips = " ".join(f"<span class='fd-q-{'ok' if v.ok else 'fail'}'>{'✓' if v.ok else '✗'} {v.check}</span>" for v in verdicts)
    items = "".join(f"<li>{html.escape(v.check)}: {html.escape(p)}</li>" for v in verdicts for p in v.problems)
    story = [v for v in report.at(STORY) if not v.ok]
    items += "".join(f"<li>whole plan, {html.escape(v.check)}: {html.escape(p)}</li>" for v in story for p in v.problems)
    return (
        f"<div class='fd-quality'><b>Plan quality {report.passed}/{report.total} ({report.score:.0%})</b> · this scene: {chips}"
        + (f"<ul>{items}</ul>" if items else "")
        + "</div>"
    )


def frame_note(sb: Storyboard, scene_id: str, frame: int) -> tuple[str, str]:
    """(the description on exactly this frame or "", a placeholder saying what is interpolated here)."""
    scene = sb.scene(scene_id)
    if scene is None:
        return "", ""
    exact = next((n.description for n in scene.frames if n.frame == frame), "")
    before, after, w = frame_description(scene, frame)
    if w and before != after:
        hint = f"between “{before}” and “{after}”; type to add a description on frame {frame}"
    else:
        hint = f"now: “{before}”; type to add a description on frame {frame}"
    return exact, hint


def entity_choices(sb: Storyboard) -> list[tuple[str, str]]:
    return [(f"{e.name} ({e.kind.value})", e.id) for e in sb.entities]


def pick_entity(sb: Storyboard, entity_id: str | None) -> str | None:
    if entity_id and sb.entity(entity_id):
        return entity_id
    return sb.entities[0].id if sb.entities else None


def reference_path(project: Project, sb: Storyboard, entity_id: str | None) -> str | None:
    entity = sb.entity(entity_id) if entity_id else None
    if entity is None or entity.reference is None:
        return None
    try:
        path = project.resolve_asset(entity.reference.image)
    except AssetError:  # a path leaving the project shows the placeholder; `flowdrafter check` reports it
        return None
    return str(path) if path.is_file() else None


def gallery_items(project: Project, sb: Storyboard, link: Link) -> list[tuple[object, str]]:
    """One tile per entity: its reference image (published for this session), or a placeholder card."""
    items: list[tuple[object, str]] = []
    for e in sb.entities:
        path = reference_path(project, sb, e.id)
        url = link(Path(path)) if path else None
        caption = e.name + (" (background)" if e.kind is EntityKind.background else "")
        items.append((url or placeholder_tile(e.id, e.name, e.kind.value), caption))
    return items


# -- one refresh -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """What the page shows after an event: the session's saved document and where the person is."""

    session: Session
    sb: Storyboard | None
    project: Project | None
    scene_id: str | None
    frame: int
    entity_id: str | None
    link: Link

    @property
    def scene(self):
        return self.sb.scene(self.scene_id) if self.sb is not None and self.scene_id else None


def focus(scene_id: str | None, frame: Any, entity_id: str | None, **extra: Any) -> dict[str, Any]:
    """Where to look after an event (kept in a `gr.State`, so an error lands there and not on every view)."""
    try:
        f = int(frame or 0)
    except (TypeError, ValueError):
        f = 0
    return {"scene": scene_id, "frame": f, "entity": entity_id, **extra}


def shown(session: Session, where: Mapping[str, Any], link: Link) -> Shown:
    """The document as saved, the scene and entity to show (the first when gone) and the frame, clamped."""
    if not state.has_project(session):
        return Shown(session, None, None, None, 0, None, link)
    sb = state.storyboard(session)
    sid = pick_scene(sb, where.get("scene"))
    f = max(0, min(int(where.get("frame") or 0), sb.scene(sid).num_frames - 1))
    return Shown(session, sb, state.project(session), sid, f, pick_entity(sb, where.get("entity")), link)


def keyframe_label(sb: Storyboard, scene_id: str) -> str:
    return f"Frame (keyframes on {', '.join(map(str, keyframe_frames(sb.scene(scene_id)))) or 'none'})"


# -- jobs: logs and results --------------------------------------------------------------------------------


def clip_items(report: Any, link: Link) -> list[tuple[str, str]]:
    """The render report's clips as gallery items (published path, "s1 · rendered" / "s1 · reused")."""
    out = []
    for sc in getattr(report, "scenes", []) or []:
        url = link(Path(sc.clip))
        if url:
            out.append((url, f"{sc.scene_id} · {'reused' if sc.reused else 'rendered'}"))
    return out


class Log:
    """A job's log as a person reads it: the last lines, oldest first."""

    def __init__(self, keep: int = 200):
        self.lines: list[str] = []
        self.keep = keep

    def add(self, line: str) -> str:
        self.lines.append(line)
        del self.lines[: -self.keep]
        return self.text

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class RenderLog:
    """A render's log: overall percentage, then one line per scene with its latest message."""

    def __init__(self) -> None:
        self.per_scene: dict[str, str] = {}

    def progress(self, fraction: float | None, message: str) -> str:
        self.per_scene[message.split(":", 1)[0]] = message
        return f"{(fraction or 0.0) * 100:.0f}% done\n" + self.scenes

    @property
    def scenes(self) -> str:
        return "\n".join(self.per_scene.values())

    def done(self, report: Any) -> str:
        reused = len(getattr(report, "reused", []))
        rendered = len(getattr(report, "rendered", []))
        warnings = "".join(f"\nwarning: {w}" for w in getattr(report, "warnings", []) or [])
        return f"done: {rendered} rendered, {reused} reused\n" + self.scenes + warnings

    def cancelled(self) -> str:
        return "cancelled; scenes finished before the cancel are kept and will be reused\n" + self.scenes


def export_choices(formats: Mapping[str, Any], offered: Iterable[str]) -> list[tuple[str, str]]:
    """(button label, suffix) for the export row, in the row's order."""
    return [(f"Export {formats[s].label}", s) for s in offered if s in formats]
