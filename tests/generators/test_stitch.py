"""Stitching: cuts are stream-copied; crossfades and fades blend the right frames and keep the timing."""

from __future__ import annotations

import numpy as np

from flowdrafter.core.timeline import total_frames
from flowdrafter.generators.render import render_storyboard
from flowdrafter.generators.stitch import stitch
from flowdrafter.generators.video import probe, read_frames

from .conftest import FPS, H, W, make_project, scene


def _clips(project):
    report = render_storyboard(project)
    sb = project.load()
    return sb, report.clips, {sid: read_frames(p, W, H, FPS).astype(float) for sid, p in report.clips.items()}


def test_cuts_are_joined_without_reencoding(tmp_path):
    p = make_project(tmp_path / "p", [scene("s1", 12), scene("s2", 8, camera={"motion": "pan_left", "strength": 1.0}), scene("s3", 5)])
    sb, clips, frames = _clips(p)
    out = tmp_path / "film.mp4"
    report = stitch(sb, clips, out)
    assert report.reencoded_frames == 0 and report.copied_frames == 25
    info = probe(out)
    assert (info.frames, info.width, info.height, info.fps) == (25, W, H, FPS)
    got = read_frames(out, W, H, FPS).astype(float)
    expected = np.concatenate([frames["s1"], frames["s2"], frames["s3"]])
    assert np.abs(got - expected).max() == 0  # stream copy: bit-identical pictures


def test_crossfade_and_fade_blend_the_right_frames(tmp_path):
    scenes = [
        scene("s1", 20, transition={"kind": "crossfade", "frames": 4}, camera={"motion": "pan_right", "strength": 1.0}),
        scene("s2", 20, transition={"kind": "fade", "frames": 3}, background_motion={"dx": 0.02, "dy": 0.0}),
        scene("s3", 17, transition={"kind": "fade", "frames": 2}),
    ]
    p = make_project(tmp_path / "p", scenes)
    sb, clips, f = _clips(p)
    out = tmp_path / "film.mp4"
    report = stitch(sb, clips, out)
    n = total_frames(sb)
    assert n == 20 + 20 + 17 - 4
    assert probe(out).frames == n
    assert 0 < report.reencoded_frames < n and report.copied_frames + report.reencoded_frames == n

    a, b, c = f["s1"], f["s2"], f["s3"]
    expected = [a[i] for i in range(16)]
    expected += [a[16 + m] * (1 - (m + 1) / 5) + b[m] * ((m + 1) / 5) for m in range(4)]  # crossfade
    for j in range(4, 20):  # s2: fades out over its last 3 frames
        gain = 1 - (j - 17 + 1) / 4 if j >= 17 else 1.0
        expected.append(b[j] * gain)
    for j in range(17):  # s3: fades in over 3 frames, fades the film out over its last 2
        gain = min((j + 1) / 4 if j < 3 else 1.0, 1 - (j - 15 + 1) / 3 if j >= 15 else 1.0)
        expected.append(c[j] * gain)
    got = read_frames(out, W, H, FPS).astype(float)
    assert len(got) == len(expected) == n
    errors = [np.abs(g - e).mean() for g, e in zip(got, expected)]
    assert max(errors) < 4.0, errors  # re-encoded frames are lossy, copied ones exact
    assert got[-1].mean() < 0.5 * c[-1].mean()  # the film fades out


def test_transitions_into_short_scenes_reencode_whole_clips_correctly(tmp_path):
    # s2 is shorter than a keyframe interval on both sides, so none of it can be copied
    scenes = [scene("s1", 10, transition={"kind": "crossfade", "frames": 3}), scene("s2", 5, transition={"kind": "crossfade", "frames": 2}), scene("s3", 9)]
    p = make_project(tmp_path / "p", scenes)
    sb, clips, _ = _clips(p)
    out = tmp_path / "film.mp4"
    stitch(sb, clips, out)
    assert probe(out).frames == total_frames(sb) == 10 + 5 + 9 - 5
