"""The `.otio` export: an OpenTimelineIO timeline with one clip per scene, for editing software.

Clips point at the rendered scene files (absolute `file://` URLs; the project-relative path is kept in the
clip metadata). A crossfade of k frames becomes an SMPTE dissolve centred on the cut: the outgoing clip is
trimmed by the frames after the cut and the incoming one by the frames before it, and the dissolve uses
those trimmed frames as handles, so the timeline has exactly the length of the stitched film. A fade
(through black) keeps both clips whole and is recorded in each clip's metadata (`fade_in`, `fade_out`),
since OTIO has no fade-to-black transition.
"""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio

from flowdrafter.core.project import Project
from flowdrafter.core.settings import Settings
from flowdrafter.core.storyboard import Storyboard, TransitionKind
from flowdrafter.core.timeline import overlap_after

from .base import ProgressFn
from .render import render_storyboard


def build_timeline(project: Project, sb: Storyboard, clips: dict[str, Path], generator: str) -> otio.schema.Timeline:
    fps = float(sb.fps)

    def rt(frames: int) -> otio.opentime.RationalTime:
        return otio.opentime.RationalTime(frames, fps)

    timeline = otio.schema.Timeline(name=sb.title or "FlowDrafter storyboard")
    timeline.metadata["flowdrafter"] = {"generator": generator, "fps": sb.fps, "width": sb.width, "height": sb.height}
    track = otio.schema.Track(name="scenes", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    n = len(sb.scenes)
    for i, scene in enumerate(sb.scenes):
        before = overlap_after(sb.scenes, i - 1) if i > 0 else 0
        after = overlap_after(sb.scenes, i)
        trim_head = before // 2  # frames of this clip shown under the dissolve before the cut
        trim_tail = after - after // 2  # frames of this clip shown under the dissolve after the cut
        path = Path(clips[scene.id])
        media = otio.schema.ExternalReference(
            target_url=path.absolute().as_uri(),
            available_range=otio.opentime.TimeRange(rt(0), rt(scene.num_frames)),
        )
        clip = otio.schema.Clip(
            name=scene.title or scene.id,
            media_reference=media,
            source_range=otio.opentime.TimeRange(rt(trim_head), rt(scene.num_frames - trim_head - trim_tail)),
        )
        fade_in = sb.scenes[i - 1].transition.frames if i > 0 and sb.scenes[i - 1].transition.kind is TransitionKind.fade else 0
        fade_out = scene.transition.frames if scene.transition.kind is TransitionKind.fade else 0
        clip.metadata["flowdrafter"] = {
            "scene_id": scene.id, "event": scene.event, "num_frames": scene.num_frames,
            "clip": path.relative_to(project.root).as_posix() if project.root in path.parents else str(path),
            "fade_in": min(fade_in, scene.num_frames), "fade_out": min(fade_out, scene.num_frames),
        }  # fmt: skip
        track.append(clip)
        if after and i + 1 < n:
            track.append(otio.schema.Transition(
                name=f"{scene.id} to {sb.scenes[i + 1].id}",
                transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                in_offset=rt(after // 2), out_offset=rt(after - after // 2),
            ))  # fmt: skip
    return timeline


def write_otio(
    project: Project,
    sb: Storyboard,
    out: Path,
    *,
    generator: str = "animatic",
    settings: Settings | None = None,
    progress: ProgressFn,
) -> None:
    report = render_storyboard(project, generator, settings=settings, storyboard=sb, progress=lambda f, m: progress(0.9 * f, m))
    timeline = build_timeline(project, sb, report.clips, generator)
    out.write_text(otio.adapters.write_to_string(timeline, "otio_json"), encoding="utf-8")
