"""Timelines for editing software, written through OpenTimelineIO and its adapters.

- `.otio`: OpenTimelineIO's own format, at the storyboard's frame rate;
- `.xml`: FCP 7 XML, which Premiere Pro and DaVinci Resolve import (`otio-fcp-adapter`);
- `.fcpxml`: Final Cut Pro X (`otio-fcpx-xml-adapter`);
- `.edl`: CMX 3600, which every editor reads (`otio-cmx3600-adapter`).

One clip per scene, pointing at the scene's rendered file (rendered or reused through the cache). Media
paths are relative to the exported file, so a project folder (or the project zip, which carries these
timelines) opens on another machine; `absolute_paths` writes `file://` URLs instead.

A crossfade of k frames becomes an SMPTE dissolve centred on the cut: the outgoing clip is trimmed by the
frames after the cut and the incoming one by the frames before it, and the dissolve uses those trimmed
frames as handles, so the timeline has exactly the length of the stitched film. A fade (through black)
keeps both clips whole and is recorded in each clip's metadata (`fade_in`, `fade_out`), since OTIO has no
fade-to-black transition. The FCPXML adapter writes no transitions: there a crossfade is a cut at the same
point (the length is the same).

FCP 7 XML, FCPXML and EDL count time in SMPTE timecode, which exists only at standard rates: their
timelines run at the smallest standard rate that is a whole multiple of the storyboard's fps (8 fps ->
24, 10 -> 30), else at 24 fps with times rounded to its frames. The clips keep their own rate.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path
from typing import Literal

import opentimelineio as otio
from pydantic import Field

from flowdrafter.core.errors import RenderError
from flowdrafter.core.project import Project
from flowdrafter.core.storyboard import Storyboard, TransitionKind
from flowdrafter.core.timeline import overlap_after

from .export import ExportJob, ExportOptions, register_format

SMPTE_RATES = (24, 25, 30, 48, 50, 60)
ADAPTERS = {".otio": "otio_json", ".xml": "fcp_xml", ".fcpxml": "fcpx_xml", ".edl": "cmx_3600"}


class TimelineOptions(ExportOptions):
    absolute_paths: bool = Field(False, description="file:// URLs instead of media paths relative to the exported file.")


class EdlOptions(TimelineOptions):
    style: Literal["avid", "premiere", "nucoda"] = Field("avid", description="How clip names and files are noted in comments.")


def edit_rate(fps: int) -> int:
    """The SMPTE rate a timecode-based timeline runs at for a storyboard of `fps`."""
    return next((rate for rate in SMPTE_RATES if rate % fps == 0), 24)


def media_path(clip: Path, export_dir: Path, *, absolute: bool, url: bool = True) -> str:
    """How a timeline names a clip: relative to the export's folder (URL-quoted unless `url` is False), or a
    `file://` URL."""
    clip = clip.absolute()
    if not absolute:
        try:
            rel = Path(os.path.relpath(clip, export_dir.absolute())).as_posix()
        except ValueError:  # another drive (Windows): no relative path exists
            rel = None
        if rel is not None:
            return urllib.parse.quote(rel) if url else rel
    return clip.as_uri()


def build_timeline(
    project: Project,
    sb: Storyboard,
    clips: dict[str, Path],
    generator: str,
    *,
    export_dir: Path,
    absolute_paths: bool = False,
    rate: float | None = None,
    url: bool = True,
) -> otio.schema.Timeline:
    """The storyboard as a one-track OTIO timeline; `rate` (default: the storyboard's fps) is the time base."""
    fps = float(sb.fps)
    rate = float(rate or fps)

    def rt(frames: int) -> otio.opentime.RationalTime:
        value = frames * rate / fps
        return otio.opentime.RationalTime(value if value != round(value) else round(value), rate)

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
            target_url=media_path(path, export_dir, absolute=absolute_paths, url=url),
            available_range=otio.opentime.TimeRange(rt(0), rt(scene.num_frames)),
        )
        media.name = path.name
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


def _reel_names(sb: Storyboard) -> list[str]:
    """EDL reel names (at most 8 letters and digits): the scene ids, or S001, S002, ... when they do not fit."""
    names = [re.sub(r"[^A-Za-z0-9]", "", s.id).upper()[:8] for s in sb.scenes]
    if len(set(names)) < len(names) or not all(names):
        names = [f"S{i + 1:03d}" for i in range(len(sb.scenes))]
    return names


def timeline_text(project: Project, sb: Storyboard, clips: dict[str, Path], generator: str, suffix: str, target: Path,
                  options: TimelineOptions | None = None) -> str:  # fmt: skip
    """The timeline file for `suffix` (.otio, .xml, .fcpxml, .edl) that will be written at `target`."""
    options = options or TimelineOptions()
    adapter = ADAPTERS[suffix]
    smpte = suffix != ".otio"
    timeline = build_timeline(project, sb, clips, generator, export_dir=target.parent, absolute_paths=options.absolute_paths,
                              rate=edit_rate(sb.fps) if smpte else None, url=suffix != ".edl")  # fmt: skip
    if suffix == ".edl":
        for clip, reel in zip(timeline.find_clips(), _reel_names(sb)):
            clip.metadata["cmx_3600"] = {"reel": reel}
        style = options.style if isinstance(options, EdlOptions) else "avid"
        text = otio.adapters.write_to_string(timeline, adapter, style=style)
    else:
        text = otio.adapters.write_to_string(timeline, adapter)
    if suffix == ".fcpxml":  # the adapter leaves the frame size out; Final Cut wants it on the format
        text = re.sub(r"<format ", f'<format width="{sb.width}" height="{sb.height}" ', text)
    return text


def _write(job: ExportJob, options: TimelineOptions) -> None:
    suffix = job.target.suffix.lower()
    clips = job.clips(0.9)
    try:
        text = timeline_text(job.project, job.storyboard, clips, job.generator, suffix, job.target, options)
    except (ValueError, otio.exceptions.OTIOError) as err:  # an adapter refusing the timeline
        raise RenderError(f"cannot write the {suffix} timeline: {err}") from None
    job.out.write_text(text, encoding="utf-8")


register_format(".otio", "OTIO timeline", TimelineOptions)(_write)
register_format(".xml", "FCP 7 XML (Premiere, Resolve)", TimelineOptions)(_write)
register_format(".fcpxml", "FCPXML (Final Cut Pro)", TimelineOptions)(_write)
register_format(".edl", "EDL (CMX 3600)", EdlOptions)(_write)
