"""ffmpeg at the edges: the frame sink every clip is encoded through, probing and decoding.

Every clip FlowDrafter writes goes through `FfmpegSink` with the same encoder parameters (H.264, yuv420p,
no B-frames, a keyframe every `gop(fps)` frames, a fixed timescale), so the stitcher can join clips by
stream copy and cut them exactly at keyframes. We use the ffmpeg binary imageio-ffmpeg ships; it has no
ffprobe, so probing decodes with `ffmpeg -f null` and reads the stream line and frame count.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from flowdrafter.core.errors import RenderError

# Bump when the encoder parameters change: it is part of every render cache key.
ENCODER_VERSION = "x264-crf20-veryfast-bf0-gop1s-1"
CRF = 20
PRESET = "veryfast"


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as err:  # pragma: no cover - the dependency is required
        raise RenderError(f"ffmpeg is not available: {err}") from None


def gop(fps: int) -> int:
    """Frames between keyframes: one second. The stitcher cuts clips only at multiples of this."""
    return max(1, int(fps))


def timescale(fps: int) -> int:
    return int(fps) * 1000


def encoder_args(fps: int) -> list[str]:
    """The output options every clip and every re-encoded stitch segment share."""
    g = gop(fps)
    return [
        "-an",
        "-c:v", "libx264", "-preset", PRESET, "-crf", str(CRF), "-pix_fmt", "yuv420p",
        "-profile:v", "high", "-bf", "0", "-g", str(g), "-keyint_min", str(g), "-sc_threshold", "0",
        "-x264-params", "open-gop=0:scenecut=0",
        "-video_track_timescale", str(timescale(fps)),
    ]  # fmt: skip


def check_size(width: int, height: int) -> None:
    if width % 2 or height % 2:
        raise RenderError(f"H.264 yuv420p needs even sizes, got {width}x{height}")


def _disk_message(stderr: str, path: Path) -> str | None:
    low = stderr.lower()
    if "no space left" in low:
        return f"no space left on the disk while writing {path}"
    if "permission denied" in low:
        return f"permission denied writing {path}"
    if "file too large" in low:
        return f"file too large for the disk while writing {path}"
    return None


class FfmpegSink:
    """Encode RGB frames to an mp4 through a pipe to ffmpeg. Use as a context manager.

    `close()` waits for ffmpeg and raises `RenderError` if it failed or if the frame count is wrong;
    leaving the `with` block on an exception kills ffmpeg (the caller discards the file).
    """

    def __init__(self, path: Path, width: int, height: int, fps: int, *, expected_frames: int | None = None,
                 split_at: list[int] | None = None):  # fmt: skip
        """`split_at`: write separate files (path is a pattern with %03d), each starting with a keyframe
        at these frame numbers; the stitcher encodes all its transition stretches in one process this way."""
        check_size(width, height)
        self.path = Path(path)
        self.width, self.height, self.fps = int(width), int(height), int(fps)
        self.expected_frames = expected_frames
        self.frames = 0
        out = ["-f", "mp4", str(self.path)]
        if split_at:
            cuts = ",".join(str(int(c)) for c in split_at)
            expr = "+".join(f"eq(n,{int(c)})" for c in split_at)
            out = ["-force_key_frames", f"expr:{expr}", "-forced-idr", "1", "-f", "segment", "-segment_format", "mp4",
                   "-segment_frames", cuts, "-segment_format_options", f"video_track_timescale={timescale(self.fps)}",
                   "-reset_timestamps", "1", str(self.path)]  # fmt: skip
        cmd = [
            ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{self.width}x{self.height}", "-r", str(self.fps),
            "-i", "pipe:0", *encoder_args(self.fps), *out,
        ]  # fmt: skip
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr,
                                      preexec_fn=_die_with_parent if _PRCTL is not None else None)  # fmt: skip

    def write(self, frame: np.ndarray) -> None:
        """Append one RGB frame (height x width x 3, uint8)."""
        arr = np.asarray(frame)
        if arr.shape != (self.height, self.width, 3) or arr.dtype != np.uint8:
            raise RenderError(
                f"frame {self.frames}: expected {self.height}x{self.width}x3 uint8, got {arr.shape} {arr.dtype}"
            )
        try:
            self._proc.stdin.write(np.ascontiguousarray(arr).data)  # type: ignore[union-attr]
        except BrokenPipeError:
            self._fail("ffmpeg stopped accepting frames")
        self.frames += 1

    def _read_stderr(self) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace").strip()

    def _fail(self, what: str) -> None:
        self._proc.kill()
        code = self._proc.wait()
        err = self._read_stderr()
        self._cleanup()
        if code == -signal.SIGXFSZ:  # killed for exceeding the file size limit: the disk is "full" for it
            err = "File too large"
        raise RenderError(_disk_message(err, self.path) or f"{what}: {err.splitlines()[-1] if err else 'no output'}")

    def _cleanup(self) -> None:
        self._stderr.close()

    def close(self) -> None:
        try:
            self._proc.stdin.close()  # type: ignore[union-attr]
        except BrokenPipeError:
            pass
        code = self._proc.wait()
        if code != 0:
            self._fail(f"ffmpeg failed (exit {code}) writing {self.path.name}")
        self._cleanup()
        if self.expected_frames is not None and self.frames != self.expected_frames:
            raise RenderError(f"{self.path.name}: got {self.frames} frames, expected {self.expected_frames}")

    def abort(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if not self._stderr.closed:
            self._cleanup()

    def __enter__(self) -> FfmpegSink:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _load_prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()  # looked up here, not in the child: a forked child must not import anything


def _die_with_parent() -> None:
    """In the ffmpeg child: get SIGKILL when FlowDrafter dies, so a killed render leaves no writer behind."""
    _PRCTL(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass(frozen=True)
class ClipInfo:
    frames: int
    width: int
    height: int
    fps: float
    codec: str
    pix_fmt: str


_STREAM_RE = re.compile(r"Stream #0:\d+.*?: Video: (\w+).*?, (\w+)(?:\([^)]*\))?, (\d+)x(\d+)")
_FPS_RE = re.compile(r"([\d.]+) fps")


def probe(path: Path | str, *, decode: bool = True) -> ClipInfo:
    """Frame count, size, fps and codec of a video's first video stream.

    With `decode=True` every frame is decoded and any decoding error fails the probe (a corrupt-clip
    check); with `decode=False` packets are only counted (fast).
    """
    path = Path(path)
    if not path.is_file():
        raise RenderError(f"{path} does not exist")
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-v", "info", "-xerror", "-i", str(path),
           "-map", "0:v:0"]  # fmt: skip
    cmd += ([] if decode else ["-c", "copy"]) + ["-progress", "pipe:1", "-f", "null", "-"]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    err = proc.stderr
    frames = re.findall(r"^frame=(\d+)$", proc.stdout, flags=re.M)
    if proc.returncode != 0 or not frames or "progress=end" not in proc.stdout:
        last = [ln for ln in err.splitlines() if ln.strip()]
        raise RenderError(f"{path.name} is not a readable video: {last[-1] if last else 'ffmpeg failed'}")
    if decode and re.search(r"\[(h264|hevc)[^\]]*\] .*(error|corrupt|invalid)", err, flags=re.I):
        raise RenderError(f"{path.name} has decoding errors")
    m = _STREAM_RE.search(err)
    if m is None:
        raise RenderError(f"{path.name} has no video stream")
    fps_m = _FPS_RE.search(err[m.start():].splitlines()[0])
    return ClipInfo(
        frames=int(frames[-1]),
        width=int(m.group(3)),
        height=int(m.group(4)),
        fps=float(fps_m.group(1)) if fps_m else 0.0,
        codec=m.group(1),
        pix_fmt=m.group(2),
    )


def read_frames(path: Path | str, width: int, height: int, fps: int, start: int = 0, count: int | None = None) -> np.ndarray:
    """Decode frames [start, start+count) of a clip as an (n, height, width, 3) uint8 array."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error"]
    if start > 0:  # seek half a frame early: the frame at `start` is kept, the one before is dropped
        cmd += ["-ss", f"{(start - 0.5) / fps:.6f}"]
    cmd += ["-i", str(path), "-map", "0:v:0"]
    if count is not None:
        cmd += ["-frames:v", str(int(count))]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "pipe:1"]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RenderError(f"cannot decode {Path(path).name}: {msg[-1] if msg else 'ffmpeg failed'}")
    frame_bytes = width * height * 3
    n = len(proc.stdout) // frame_bytes
    if count is not None and n != count:
        raise RenderError(f"{Path(path).name}: decoded {n} frames from {start}, expected {count}")
    return np.frombuffer(proc.stdout[: n * frame_bytes], np.uint8).reshape(n, height, width, 3)


def run_ffmpeg(args: list[str], out_path: Path, what: str) -> int | None:
    """Run ffmpeg with `args`; returns the number of video frames it wrote (from -progress), and raises a
    RenderError with a disk-aware, one-line message when it fails."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-nostats", "-y",
                           "-progress", "pipe:1", *args], capture_output=True, text=True, errors="replace")  # fmt: skip
    if proc.returncode != 0:
        err = proc.stderr.strip()
        raise RenderError(_disk_message(err, out_path) or f"{what} failed: {err.splitlines()[-1] if err else 'ffmpeg error'}")
    frames = re.findall(r"^frame=(\d+)$", proc.stdout, flags=re.M)
    return int(frames[-1]) if frames else None


def concat_entry(path: Path, fps: int, start: int = 0, end: int | None = None) -> str:
    """One file of an ffmpeg concat list, cut to frames [start, end) (start must be a keyframe).

    inpoint is rounded up to the microsecond (so the seek lands on the keyframe itself) and outpoint down
    (so frame `end` is dropped and the next file starts exactly where this one ends)."""
    quoted = str(path).replace("'", "'\\''")
    lines = [f"file '{quoted}'"]
    if start:
        lines.append(f"inpoint {-(-start * 1_000_000 // fps)}us")
    if end is not None:
        lines.append(f"outpoint {end * 1_000_000 // fps}us")
    return "\n".join(lines) + "\n"


def read_ranges(entries: list[tuple[Path, int, int]], width: int, height: int, fps: int, work: Path) -> list[np.ndarray]:
    """Decode several clip ranges [(path, start, end)] in one ffmpeg run (starts must be keyframes)."""
    listing = work / "decode.txt"
    listing.write_text("".join(concat_entry(p, fps, a, b) for p, a, b in entries))
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "concat", "-safe", "0",
           "-i", str(listing), "-map", "0:v:0", "-fps_mode", "passthrough",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "pipe:1"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True)
    frame_bytes = width * height * 3
    want = sum(b - a for _, a, b in entries)
    if proc.returncode != 0 or len(proc.stdout) != want * frame_bytes:
        # fall back to one exact decode per range
        return [read_frames(p, width, height, fps, a, b - a) for p, a, b in entries]
    arr = np.frombuffer(proc.stdout, np.uint8).reshape(want, height, width, 3)
    out, i = [], 0
    for _, a, b in entries:
        out.append(arr[i : i + b - a])
        i += b - a
    return out
