"""What the page shows for a storyboard: labels, choices and form values, computed from the document.

Pure functions of the storyboard (and project, for image paths), so they are easy to test and the app only
has to route their results to components.
"""

from __future__ import annotations

import html
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from flowdrafter.core.errors import AssetError
from flowdrafter.core.layout import frame_description
from flowdrafter.core.project import Project
from flowdrafter.core.storyboard import CameraMotion, EntityKind, Storyboard, TransitionKind
from flowdrafter.core.timeline import seconds, total_frames
from flowdrafter.planners.quality import STORY, plan_quality

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


def gallery_items(project: Project, sb: Storyboard) -> list[tuple[object, str]]:
    """One tile per entity: its reference image, or a placeholder card with its name."""
    items: list[tuple[object, str]] = []
    for e in sb.entities:
        path = reference_path(project, sb, e.id)
        caption = e.name + (" (background)" if e.kind is EntityKind.background else "")
        items.append((path or placeholder(e.name, e.kind.value), caption))
    return items


@lru_cache(maxsize=128)
def placeholder(name: str, kind: str) -> Image.Image:
    img = Image.new("RGB", (256, 256), (236, 238, 243) if kind == "foreground" else (226, 236, 228))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((16, 16, 240, 240), radius=24, outline=(160, 166, 180), width=3)
    try:
        font = ImageFont.load_default(size=96)
        small = ImageFont.load_default(size=20)
    except TypeError:  # Pillow < 10.1
        font = small = ImageFont.load_default()
    d.text((128, 96), (name.strip()[:1] or "?").upper(), fill=(120, 126, 140), font=font, anchor="mm")
    d.text((128, 164), "no image yet", fill=(120, 126, 140), font=small, anchor="mm")
    return img
