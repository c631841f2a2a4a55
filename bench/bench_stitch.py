"""Stitching: our mp4 export vs `ffmpeg -f concat -c copy` (the limit) vs moviepy's re-encode (the habit).

Targets: ours <= 1.5x the concat-copy time; >= 10x faster than moviepy `concatenate_videoclips` +
`write_videofile`. The clips are rendered (not timed) first; our export reuses them through the cache, so
its time includes checking the cache, stitching, faststart and the final frame-count check. A second run
with crossfades shows the cost of re-encoding only the transition stretches.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_incremental import bench_project, timed  # noqa: E402
from flowdrafter.generators.export import export  # noqa: E402
from flowdrafter.generators.render import render_storyboard  # noqa: E402
from flowdrafter.generators.stitch import stitch  # noqa: E402
from flowdrafter.generators.video import ffmpeg_exe, probe  # noqa: E402

SCENES, FRAMES = 8, 48


def concat_copy(clips: list[Path], out: Path, work: Path) -> None:
    listing = work / "list.txt"
    listing.write_text("".join(f"file '{c}'\n" for c in clips))
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(out)], check=True)


def moviepy_concat(clips: list[Path], out: Path) -> None:
    from moviepy import VideoFileClip, concatenate_videoclips

    videos = [VideoFileClip(str(c)) for c in clips]
    try:
        concatenate_videoclips(videos).write_videofile(str(out), codec="libx264", audio=False, logger=None)
    finally:
        for v in videos:
            v.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cuts = bench_project(tmp / "cuts", SCENES, FRAMES)
        clips = [render_storyboard(cuts).clips[s.id] for s in cuts.load().scenes]
        ours = timed(lambda: export(cuts, tmp / "ours.mp4"), 5)
        limit = timed(lambda: concat_copy(clips, tmp / "copy.mp4", tmp), 5)
        habit = timed(lambda: moviepy_concat(clips, tmp / "moviepy.mp4"), 1)
        assert probe(tmp / "ours.mp4", decode=False).frames == SCENES * FRAMES

        fades = bench_project(tmp / "fades", SCENES, FRAMES, transition={"kind": "crossfade", "frames": 6})
        render_storyboard(fades)
        ours_x = timed(lambda: export(fades, tmp / "ours-x.mp4"), 3)
        sb = fades.load()
        report = stitch(sb, render_storyboard(fades).clips, tmp / "x.mp4")
    total = SCENES * FRAMES
    print(f"stitch ({SCENES} clips x {FRAMES} frames, 512x320)")
    print(f"  ours, cuts (stream copy):        {ours:7.3f} s")
    print(f"  ffmpeg -f concat -c copy:        {limit:7.3f} s")
    print(f"  moviepy concatenate + re-encode: {habit:7.3f} s")
    print(f"  ours / concat-copy:              {ours / limit:7.2f}x  (target <= 1.5x)")
    print(f"  moviepy / ours:                  {habit / ours:7.1f}x faster  (target >= 10x)")
    print(f"  ours, 6-frame crossfades:        {ours_x:7.3f} s  re-encoded {report.reencoded_frames} of {report.total_frames} frames "
          f"(whole film would be {total}); moviepy / ours = {habit / ours_x:.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
