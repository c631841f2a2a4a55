"""Join scene clips into one video, re-encoding only the frames that transitions change.

All clips come out of `video.FfmpegSink` with identical encoder parameters and a keyframe every
`gop(fps)` frames, so:

- cuts only: ffmpeg's concat demuxer with stream copy (no frame is re-encoded);
- crossfades and fades: each clip is split by stream copy at the keyframes just outside the frames a
  transition touches; only the stretch from that keyframe to the next one past the transition is decoded,
  blended and re-encoded (with the same parameters), then everything is joined by stream copy.

Timing follows `core.timeline`: a crossfade of k frames overlaps the scenes by k frames; a fade darkens
the last k frames of a scene and brightens the first k of the next (length unchanged); a fade on the last
scene fades the film out.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from flowdrafter.core.errors import RenderError
from flowdrafter.core.storyboard import Storyboard, TransitionKind
from flowdrafter.core.timeline import overlap_after, total_frames

from .video import FfmpegSink, concat_entry, gop, read_ranges, run_ffmpeg

# An output frame: ("copy", clip, start, end) runs, or one composed frame made of (clip, frame, weight)
# terms; the weights of a crossfade sum to 1, a fade's weight is below 1 (towards black).
Term = tuple[int, int, float]


@dataclass
class StitchReport:
    total_frames: int
    copied_frames: int
    reencoded_frames: int
    segments: int
    notes: list[str] = field(default_factory=list)

    @property
    def mode(self) -> str:
        return "stream copy" if self.reencoded_frames == 0 else "stream copy + re-encoded transitions"


@dataclass
class _Plan:
    items: list  # ("copy", clip, start, end) or ("frame", [terms])


def _transition_frames(sb: Storyboard) -> tuple[list[int], list[int], list[int], list[int]]:
    """Per clip: crossfade frames in/out, fade frames in/out."""
    n = len(sb.scenes)
    x_in, x_out, f_in, f_out = [0] * n, [0] * n, [0] * n, [0] * n
    for i, scene in enumerate(sb.scenes):
        tr = scene.transition
        if tr.kind is TransitionKind.crossfade:
            k = overlap_after(sb.scenes, i)
            x_out[i] = k
            if i + 1 < n:
                x_in[i + 1] = k
        elif tr.kind is TransitionKind.fade:
            f_out[i] = min(tr.frames, scene.num_frames)
            if i + 1 < n:
                f_in[i + 1] = min(tr.frames, sb.scenes[i + 1].num_frames)
    return x_in, x_out, f_in, f_out


def _copy_range(n: int, head: int, tail: int, g: int) -> tuple[int, int] | None:
    """The keyframe-aligned frames of a clip untouched by transitions, or None."""
    start = 0 if head == 0 else math.ceil(head / g) * g
    end = n if tail == 0 else ((n - tail) // g) * g
    return (start, end) if end > start else None


def plan_stitch(sb: Storyboard) -> _Plan:
    """The output as copy runs and composed frames, in order."""
    g = gop(sb.fps)
    x_in, x_out, f_in, f_out = _transition_frames(sb)
    items: list = []
    for i, scene in enumerate(sb.scenes):
        n = scene.num_frames
        head, tail = max(x_in[i], f_in[i]), max(x_out[i], f_out[i])
        rng = _copy_range(n, head, tail, g)
        j = x_in[i]  # the first x_in frames were shown in the previous crossfade
        own_end = n - x_out[i]
        while j < own_end:
            if rng and j == rng[0]:
                items.append(("copy", i, rng[0], rng[1]))
                j = rng[1]
                continue
            gain = 1.0
            if j < f_in[i]:
                gain = min(gain, (j + 1) / (f_in[i] + 1))
            if j >= n - f_out[i]:
                gain = min(gain, 1 - (j - (n - f_out[i]) + 1) / (f_out[i] + 1))
            items.append(("frame", [(i, j, gain)]))
            j += 1
        for m in range(x_out[i]):
            w = (m + 1) / (x_out[i] + 1)
            items.append(("frame", [(i, n - x_out[i] + m, 1 - w), (i + 1, m, w)]))
    return _Plan(items)


def _compose(frames: dict[tuple[int, int], np.ndarray], terms: list[Term]) -> np.ndarray:
    """One output frame from decoded frames: as is, faded towards black, or a crossfade of two."""
    first = Image.fromarray(frames[terms[0][:2]])
    if len(terms) == 1:
        gain = terms[0][2]
        return frames[terms[0][:2]] if gain == 1.0 else np.asarray(Image.blend(Image.new("RGB", first.size), first, gain))
    if len(terms) == 2:  # a crossfade: the weights sum to 1
        return np.asarray(Image.blend(first, Image.fromarray(frames[terms[1][:2]]), terms[1][2]))
    raise RenderError(f"cannot blend {len(terms)} frames")


def _needed_ranges(sb: Storyboard, plan: _Plan) -> list[tuple[int, int, int]]:
    """Per clip, the keyframe-aligned stretch [start, end) that holds every frame a composed frame uses."""
    g = gop(sb.fps)
    lo: dict[int, list[int]] = {}
    for item in plan.items:
        if item[0] == "frame":
            for i, f, _ in item[1]:
                lo.setdefault(i, []).append(f)
    ranges = []
    for i, frames in sorted(lo.items()):
        # contiguous runs of needed frames, each widened back to its keyframe
        frames = sorted(set(frames))
        runs: list[list[int]] = [[frames[0], frames[0]]]
        for f in frames[1:]:
            if f <= runs[-1][1] + g:
                runs[-1][1] = f
            else:
                runs.append([f, f])
        for a, b in runs:
            ranges.append((i, (a // g) * g, b + 1))
    return ranges


def stitch(
    sb: Storyboard,
    clips: dict[str, Path],
    out_path: Path,
    *,
    faststart: bool = True,
    audio: Path | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> StitchReport:
    """Join the clips (scene id -> mp4, one per scene of `sb`) into `out_path` (written in place; callers
    that need atomicity pass a temporary path). Returns what was copied and what re-encoded.

    At most three ffmpeg runs: one decoding the stretches around transitions, one encoding all composed
    frames (split into one file per stretch), one joining copy runs and stretches by stream copy.
    """
    report_progress = progress or (lambda f, m: None)
    missing = [s.id for s in sb.scenes if s.id not in clips]
    if missing:
        raise RenderError(f"no clip for scene {', '.join(missing)}")
    paths = [Path(clips[s.id]) for s in sb.scenes]
    total = total_frames(sb)
    plan = plan_stitch(sb)
    work = Path(tempfile.mkdtemp(prefix="flowdrafter-stitch-"))
    try:
        # 1. decode what the transitions need and encode the composed stretches
        gaps: list[list[list[Term]]] = []  # stretches of composed frames between copy runs
        after_copy = True
        for item in plan.items:
            if item[0] == "copy":
                after_copy = True
                continue
            if after_copy:
                gaps.append([])
                after_copy = False
            gaps[-1].append(item[1])
        gap_files: list[Path] = []
        reencoded = sum(len(g) for g in gaps)
        if gaps:
            report_progress(0.1, f"re-encoding {reencoded} transition frames")
            ranges = _needed_ranges(sb, plan)
            decoded = read_ranges([(paths[i], a, b) for i, a, b in ranges], sb.width, sb.height, sb.fps, work)
            frames: dict[tuple[int, int], np.ndarray] = {}
            for (i, a, _), arr in zip(ranges, decoded):
                for k, fr in enumerate(arr):
                    frames[(i, a + k)] = fr
            starts, n = [], 0
            for g in gaps:
                starts.append(n)
                n += len(g)
            # one encoder run; with several stretches the segment muxer splits them at forced keyframes
            target = work / ("gap%03d.mp4" if len(gaps) > 1 else "gap000.mp4")
            with FfmpegSink(target, sb.width, sb.height, sb.fps, expected_frames=reencoded, split_at=starts[1:] or None) as sink:
                for g in gaps:
                    for terms in g:
                        sink.write(_compose(frames, terms))
            gap_files = [work / f"gap{k:03d}.mp4" for k in range(len(gaps))]

        # 2. join copy runs (cut at keyframes by the concat demuxer) and stretches by stream copy
        report_progress(0.6, "joining clips")
        lines, k, copied = [], 0, 0
        prev_copy = True
        for item in plan.items:
            if item[0] == "copy":
                _, i, start, end = item
                n_i = sb.scenes[i].num_frames
                lines.append(concat_entry(paths[i], sb.fps, start, None if end == n_i else end))
                copied += end - start
                prev_copy = True
            elif prev_copy:
                lines.append(concat_entry(gap_files[k], sb.fps))
                k += 1
                prev_copy = False
        listing = work / "list.txt"
        listing.write_text("".join(lines))
        args = ["-f", "concat", "-safe", "0", "-i", str(listing)]
        if audio is not None:
            args += ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "160k",
                     "-t", f"{total / sb.fps:.6f}"]  # fmt: skip
        else:
            args += ["-map", "0:v:0", "-c", "copy"]
        if faststart:
            args += ["-movflags", "+faststart"]
        args += ["-f", "mp4", str(out_path)]
        written = run_ffmpeg(args, out_path, "joining the clips")
        if written != total:
            raise RenderError(f"the stitched video has {written} frames, expected {total}")
        report_progress(1.0, "done")
        return StitchReport(total, copied, reencoded, len(lines))
    finally:
        shutil.rmtree(work, ignore_errors=True)
