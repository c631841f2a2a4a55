"""Load + validate time of a generated 1,000-scene storyboard (target: under 1 s).

Prints seconds per load and the ratio against plain `json.loads` of the same text, measured in the same
process, so the ratio means something on any machine. Run: `.venv/bin/python bench/bench_storyboard.py`.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flowdrafter.core.storyboard import MAX_SCENES, Storyboard  # noqa: E402
from flowdrafter.core.upgrade import load_storyboard  # noqa: E402

TARGET_SECONDS = 1.0


def make_storyboard(n_scenes: int = MAX_SCENES, seed: int = 0) -> dict:
    """A plausible big document: 6 entities, 3 tracks of 4 keyframes and 3 frame notes per scene."""
    rng = random.Random(seed)
    fg = [f"char-{i}" for i in range(4)]
    bg = ["forest", "city"]
    entities = [{"id": e, "name": e, "kind": "foreground", "description": f"character {e}"} for e in fg]
    entities += [{"id": e, "name": e, "kind": "background", "description": f"a {e}"} for e in bg]
    scenes = []
    for i in range(n_scenes):
        n = 16 + 8 * rng.randrange(3)
        tracks = []
        for e in rng.sample(fg, 3):
            kfs = []
            for f in sorted(rng.sample(range(n), 4)):
                x0, y0 = rng.uniform(0, 0.6), rng.uniform(0, 0.6)
                kfs.append({"frame": f, "box": [round(x0, 4), round(y0, 4), round(x0 + 0.3, 4), round(y0 + 0.3, 4)]})
            tracks.append({"entity": e, "keyframes": kfs, "easing": rng.choice(["linear", "ease_in_out"])})
        kind = rng.choice(["cut", "crossfade", "fade"])
        scenes.append(
            {
                "id": f"s{i + 1}",
                "title": f"Scene {i + 1}",
                "event": f"event number {i + 1} happens here with some detail",
                "background": rng.choice(bg),
                "num_frames": n,
                "camera": {"motion": rng.choice(["static", "pan_left", "zoom_in"]), "strength": 0.5},
                "background_motion": {"dx": 0.01, "dy": 0.0},
                "frames": [{"frame": f, "description": f"note at {f}"} for f in (0, n // 2, n - 1)],
                "tracks": tracks,
                "transition": {"kind": kind, "frames": 0 if kind == "cut" else 4},
            }
        )
    return {"schema_version": 1, "title": "bench", "fps": 8, "width": 512, "height": 320, "entities": entities, "scenes": scenes}


def timings(fn, repeat: int = 7) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> int:
    text = json.dumps(make_storyboard(), indent=2)
    sb = load_storyboard(json.loads(text))  # warm up (and prove it is valid)
    assert isinstance(sb, Storyboard) and len(sb.scenes) == MAX_SCENES

    baseline = timings(lambda: json.loads(text))
    load = timings(lambda: load_storyboard(json.loads(text)))
    save = timings(lambda: sb.to_json())
    b = min(baseline)
    print(f"storyboard: {MAX_SCENES} scenes, {len(text) / 1e6:.1f} MB of JSON; best and median of 7 runs")
    print(f"json.loads (baseline)   best {b:7.4f} s   median {statistics.median(baseline):7.4f} s")
    for name, t in (("load + validate", load), ("to_json (save text)", save)):
        print(
            f"{name:<22}  best {min(t):7.4f} s   median {statistics.median(t):7.4f} s   "
            f"{min(t) / b:5.1f}x baseline"
        )
    ok = min(load) < TARGET_SECONDS
    print(f"target: load + validate under {TARGET_SECONDS:.0f} s: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
