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

from core.errors import RenderError

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

    def __init__(self, path: Path, width: int, height: int, fps: int, *, expected_frames: int | None = None):
        check_size(width, height)
        self.path = Path(path)
        self.width, self.height, self.fps = int(width), int(height), int(fps)
        self.expected_frames = expected_frames
        self.frames = 0
        cmd = [
            ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{self.width}x{self.height}", "-r", str(self.fps),
            "-i", "pipe:0", *encoder_args(self.fps), "-f", "mp4", str(self.path),
        ]  # fmt: skip
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr,
                                      preexec_fn=_die_with_parent if sys.platform == "linux" else None)  # fmt: skip

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
        self._proc.wait()
        err = self._read_stderr()
        self._cleanup()
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


def _die_with_parent() -> None:
    """In the ffmpeg child: get SIGKILL when FlowDrafter dies, so a killed render leaves no writer behind."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


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


def run_ffmpeg(args: list[str], out_path: Path, what: str) -> None:
    """Run ffmpeg with `args`; a failure is a RenderError with a disk-aware, one-line message."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
                          capture_output=True, text=True, errors="replace")  # fmt: skip
    if proc.returncode != 0:
        err = proc.stderr.strip()
        raise RenderError(_disk_message(err, out_path) or f"{what} failed: {err.splitlines()[-1] if err else 'ffmpeg error'}")
