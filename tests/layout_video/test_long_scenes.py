"""Long scenes in bounded memory: a 120-frame scene peaks at most 1.5x the memory of a 16-frame one.

Each scene renders in a child process of its own (`long_scene_child.py`), whose peak RSS is the scene's. At
96x64 with the tiny models the UNet's activations are what grows: all frames in one UNet call would add about
18 MB a frame (measured with 16 and 32 frames in one window: 866 and 1,169 MB), about 3x the 16-frame peak at
120 frames. The context windows keep every call at 16 frames.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = Path(__file__).with_name("long_scene_child.py")


def render(frames: int, tmp_path: Path) -> tuple[list[int], int]:
    """The child's frames shape and peak RSS in bytes."""
    models = os.environ.get("FLOWDRAFTER_TINY_MODELS") or str(Path(tempfile.gettempdir()) / "flowdrafter-tiny-models")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    out, err = tmp_path / f"out-{frames}.txt", tmp_path / f"err-{frames}.txt"
    with open(out, "w") as o, open(err, "w") as e:
        proc = subprocess.Popen([sys.executable, str(CHILD), models, str(tmp_path), str(frames), "96", "64"],
                                stdout=o, stderr=e, env=env)  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, err.read_text()[-2000:]
    return json.loads(out.read_text().strip().splitlines()[-1])["shape"], usage.ru_maxrss * 1024


def test_a_120_frame_scene_peaks_at_most_1_5x_the_memory_of_16_frames(tiny_overrides, tmp_path):
    (short_shape, short), (long_shape, long) = render(16, tmp_path), render(120, tmp_path)
    assert short_shape == [16, 64, 96, 3] and long_shape == [120, 64, 96, 3]
    assert long <= 1.5 * short, f"120 frames peaked at {long / 2**20:.0f} MB, 16 frames at {short / 2**20:.0f} MB"
