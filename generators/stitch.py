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

from core.errors import RenderError
from core.storyboard import Storyboard, TransitionKind
from core.timeline import overlap_after, total_frames

from .video import FfmpegSink, gop, probe, read_frames, run_ffmpeg, timescale

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


def plan_stitch(sb: Storyboard, no_copy: set[int] | None = None) -> _Plan:
    """The output as copy runs and composed frames, in order."""
    g = gop(sb.fps)
    x_in, x_out, f_in, f_out = _transition_frames(sb)
    items: list = []
    for i, scene in enumerate(sb.scenes):
        n = scene.num_frames
        head, tail = max(x_in[i], f_in[i]), max(x_out[i], f_out[i])
        rng = None if no_copy and i in no_copy else _copy_range(n, head, tail, g)
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


class _Decoded:
    """Decoded frames of the clips, only the stretches that are re-encoded, decoded once each."""

    def __init__(self, sb: Storyboard, clips: list[Path]):
        self.sb, self.clips = sb, clips
        self.cache: dict[int, dict[int, np.ndarray]] = {}

    def prefetch(self, needed: dict[int, set[int]]) -> None:
        for i, frames in needed.items():
            got = self.cache.setdefault(i, {})
            todo = sorted(f for f in frames if f not in got)
            # decode contiguous runs in one ffmpeg call each
            runs: list[list[int]] = []
            for f in todo:
                if runs and f == runs[-1][-1] + 1:
                    runs[-1].append(f)
                else:
                    runs.append([f])
            for run in runs:
                arr = read_frames(self.clips[i], self.sb.width, self.sb.height, self.sb.fps, run[0], len(run))
                for f, frame in zip(run, arr):
                    got[f] = frame

    def compose(self, terms: list[Term]) -> np.ndarray:
        if len(terms) == 1 and terms[0][2] == 1.0:
            i, f, _ = terms[0]
            return self.cache[i][f]
        acc = np.zeros((self.sb.height, self.sb.width, 3), np.float32)
        for i, f, w in terms:
            acc += self.cache[i][f].astype(np.float32) * w
        return np.clip(acc + 0.5, 0, 255).astype(np.uint8)


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
    that need atomicity pass a temporary path). Returns what was copied and what re-encoded."""
    report_progress = progress or (lambda f, m: None)
    missing = [s.id for s in sb.scenes if s.id not in clips]
    if missing:
        raise RenderError(f"no clip for scene {', '.join(missing)}")
    paths = [Path(clips[s.id]) for s in sb.scenes]
    total = total_frames(sb)
    work = Path(tempfile.mkdtemp(prefix="flowdrafter-stitch-"))
    try:
        no_copy: set[int] = set()
        while True:
            plan = plan_stitch(sb, no_copy)
            pieces, bad = _split_copies(sb, paths, plan, work)
            if not bad:
                break
            no_copy |= bad  # a clip whose keyframes are not where expected is re-encoded instead
        report_progress(0.3, "joining clips")
        entries, copied, reencoded, notes = _encode_gaps(sb, paths, plan, pieces, work)
        if no_copy:
            notes.append(f"clips {sorted(sb.scenes[i].id for i in no_copy)} were re-encoded (unexpected keyframes)")
        listing = work / "list.txt"
        listing.write_text("".join(f"file '{_quote(p)}'\n" for p in entries))
        args = ["-f", "concat", "-safe", "0", "-i", str(listing)]
        if audio is not None:
            args += ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "160k",
                     "-t", f"{total / sb.fps:.6f}"]  # fmt: skip
        else:
            args += ["-map", "0:v:0", "-c", "copy"]
        if faststart:
            args += ["-movflags", "+faststart"]
        args += ["-f", "mp4", str(out_path)]
        run_ffmpeg(args, out_path, "joining the clips")
        report_progress(0.9, "checking the result")
        info = probe(out_path, decode=False)
        if info.frames != total:
            raise RenderError(f"the stitched video has {info.frames} frames, expected {total}")
        report_progress(1.0, "done")
        return StitchReport(total, copied, reencoded, len(entries), notes)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _quote(path: Path) -> str:
    return str(path).replace("'", "'\\''")


def _split_copies(sb: Storyboard, paths: list[Path], plan: _Plan, work: Path) -> tuple[dict, set[int]]:
    """Cut each clip's copy run out by stream copy at its keyframes; returns run -> file, and bad clips."""
    pieces: dict[tuple[int, int, int], Path] = {}
    bad: set[int] = set()
    for item in plan.items:
        if item[0] != "copy":
            continue
        _, i, start, end = item
        n = sb.scenes[i].num_frames
        if start == 0 and end == n:
            pieces[(i, start, end)] = paths[i]
            continue
        cuts = [c for c in (start, end) if 0 < c < n]
        pattern = work / f"clip{i:04d}-%03d.mp4"
        run_ffmpeg(["-i", str(paths[i]), "-map", "0:v:0", "-c", "copy", "-f", "segment", "-segment_format", "mp4",
                    "-segment_format_options", f"video_track_timescale={timescale(sb.fps)}",
                    "-segment_frames", ",".join(map(str, cuts)), "-reset_timestamps", "1", str(pattern)],
                   work, f"splitting the clip of scene {sb.scenes[i].id}")  # fmt: skip
        index = 1 if start > 0 else 0
        piece = work / f"clip{i:04d}-{index:03d}.mp4"
        try:
            ok = piece.is_file() and probe(piece, decode=False).frames == end - start
        except RenderError:
            ok = False
        if not ok:
            bad.add(i)
        pieces[(i, start, end)] = piece
    return pieces, bad


def _encode_gaps(sb: Storyboard, paths: list[Path], plan: _Plan, pieces: dict, work: Path):
    """Re-encode every stretch of composed frames; returns the concat entries in order and counts."""
    decoded = _Decoded(sb, paths)
    needed: dict[int, set[int]] = {}
    for item in plan.items:
        if item[0] == "frame":
            for i, f, _ in item[1]:
                needed.setdefault(i, set()).add(f)
    decoded.prefetch(needed)
    entries: list[Path] = []
    copied = reencoded = 0
    run: list[list[Term]] = []

    def flush() -> None:
        nonlocal reencoded
        if not run:
            return
        seg = work / f"gap{len(entries):04d}.mp4"
        with FfmpegSink(seg, sb.width, sb.height, sb.fps, expected_frames=len(run)) as sink:
            for terms in run:
                sink.write(decoded.compose(terms))
        entries.append(seg)
        reencoded += len(run)
        run.clear()

    for item in plan.items:
        if item[0] == "copy":
            flush()
            _, i, start, end = item
            entries.append(pieces[(i, start, end)])
            copied += end - start
        else:
            run.append(item[1])
    flush()
    return entries, copied, reencoded, []
