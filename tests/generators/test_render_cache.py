"""The render cache: reuse, edits re-render only what changed, corrupt clips, killed and cancelled renders."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flowdrafter.core.errors import Cancelled, RenderError
from flowdrafter.generators.render import render_storyboard
from flowdrafter.generators.video import probe

from .conftest import H, W, edit_scene, make_project, scene, set_reference

ROOT = Path(__file__).resolve().parents[2]


def test_render_then_reuse_with_right_frames_and_size(two_scene_project):
    first = render_storyboard(two_scene_project)
    assert first.rendered == ["s1", "s2"] and first.reused == []
    for s in first.scenes:
        info = probe(s.clip)
        n = two_scene_project.load().scene(s.scene_id).num_frames
        assert (info.frames, info.width, info.height, info.codec, info.pix_fmt) == (n, W, H, "h264", "yuv420p")
        assert s.clip.parent == two_scene_project.renders_dir / "animatic"
    again = render_storyboard(two_scene_project)
    assert again.reused == ["s1", "s2"] and again.clips == first.clips


def test_only_the_edited_scene_is_rendered_again(two_scene_project):
    first = render_storyboard(two_scene_project)
    edit_scene(two_scene_project, "s2", event="something else happens")
    again = render_storyboard(two_scene_project)
    assert again.rendered == ["s2"] and again.reused == ["s1"]
    assert again.clips["s1"] == first.clips["s1"] and again.clips["s2"] != first.clips["s2"]
    # planner warnings do not change the picture, so they do not invalidate the clip
    edit_scene(two_scene_project, "s1", warnings=["boxes overlap"])
    assert render_storyboard(two_scene_project).rendered == []


def test_changing_a_reference_image_rerenders_the_scenes_that_use_it(tmp_path):
    p = make_project(tmp_path / "p", [scene("s1"), scene("s2", tracks=[])])
    rel = set_reference(p, "hero", Image.new("RGB", (32, 32), (200, 0, 0)))
    render_storyboard(p)
    p.resolve_asset(rel).write_bytes(_png((0, 0, 200)))  # same path, new pixels
    again = render_storyboard(p)
    assert again.rendered == ["s1"] and again.reused == ["s2"]


def _png(color) -> bytes:
    import io

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(buf, format="PNG")
    return buf.getvalue()


def test_corrupt_cached_clip_is_detected_and_redone(two_scene_project):
    first = render_storyboard(two_scene_project)
    clip = first.clips["s1"]
    data = clip.read_bytes()
    clip.write_bytes(data[: len(data) // 2])  # a half-written file
    again = render_storyboard(two_scene_project)
    assert again.rendered == ["s1"] and again.reused == ["s2"]
    assert "damaged" in (again.scenes[0].note or "")
    assert probe(again.clips["s1"]).frames == 8


def test_force_and_scene_selection(two_scene_project):
    render_storyboard(two_scene_project)
    only = render_storyboard(two_scene_project, scene_ids=["s2"], force=True)
    assert only.rendered == ["s2"] and [s.scene_id for s in only.scenes] == ["s2"]
    with pytest.raises(RenderError, match="no scene with id 'nope'"):
        render_storyboard(two_scene_project, scene_ids=["nope"])


def test_cancelled_render_commits_nothing_partial(two_scene_project):
    calls = {"n": 0}

    def cancel_after_a_few() -> bool:
        calls["n"] += 1
        return calls["n"] > 11  # during s2

    with pytest.raises(Cancelled):
        render_storyboard(two_scene_project, is_cancelled=cancel_after_a_few)
    files = sorted(p.name for p in (two_scene_project.renders_dir / "animatic").iterdir())
    assert [f for f in files if f.endswith(".mp4")] == [f for f in files if f.startswith("s1-") and f.endswith(".mp4")]
    assert not [f for f in files if f.endswith(".tmp")]
    assert render_storyboard(two_scene_project).reused == ["s1"]


def test_progress_goes_from_zero_to_one(two_scene_project):
    seen = []
    render_storyboard(two_scene_project, progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("s2" in m for _, m in seen)


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import sys; from flowdrafter.ui.cli import main; sys.exit(main())", *args],
                          cwd=ROOT, capture_output=True, text=True, **kw)  # fmt: skip


def test_killed_render_resumes_without_redoing_finished_scenes(tmp_path):
    p = make_project(tmp_path / "p", [scene(f"s{i}", 64) for i in range(1, 7)])
    out_dir = p.renders_dir / "animatic"
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from flowdrafter.ui.cli import main; sys.exit(main())", "render", str(p.root)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    done: list[Path] = []
    while time.monotonic() < deadline and not done:
        done = [f for f in out_dir.glob("*.mp4") if f.is_file()] if out_dir.is_dir() else []
        time.sleep(0.01)
    assert done, "no scene finished in time"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {f.name.split("-")[0]: (f, f.stat().st_mtime_ns) for f in out_dir.glob("*.mp4")}
    assert 0 < len(finished) < 6, "the render should have been killed mid-way"
    report = render_storyboard(p)
    assert set(report.reused) == set(finished)
    assert set(report.rendered) == {f"s{i}" for i in range(1, 7)} - set(finished)
    for sid, (path, mtime) in finished.items():
        assert report.clips[sid] == path and path.stat().st_mtime_ns == mtime  # untouched
    assert not list(out_dir.glob(".*.tmp"))


def test_cli_render_says_what_was_reused_and_rendered(two_scene_project):
    r = _cli("render", str(two_scene_project.root))
    assert r.returncode == 0, r.stderr
    assert "rendered s1" in r.stdout and "2 rendered, 0 reused" in r.stdout
    edit_scene(two_scene_project, "s1", title="New title")
    r = _cli("render", str(two_scene_project.root))
    assert "rendered s1" in r.stdout and "reused   s2" in r.stdout and "1 rendered, 1 reused" in r.stdout
    r = _cli("render", str(two_scene_project.root), "--scene", "zz")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "no scene with id 'zz'" in r.stderr


def test_frames_in_the_clip_match_the_preview(two_scene_project):
    from flowdrafter.generators.animatic import compose_frame
    from flowdrafter.generators.video import read_frames

    report = render_storyboard(two_scene_project)
    sb = two_scene_project.load()
    decoded = read_frames(report.clips["s1"], W, H, sb.fps)
    preview = np.asarray(compose_frame(two_scene_project, sb, "s1", 5)).astype(int)
    assert np.abs(decoded[5].astype(int) - preview).mean() < 4  # lossy H.264, same picture


def test_render_reports_unusable_references_every_time(tmp_path):
    p = make_project(tmp_path / "p", [scene("s1")])
    (p.assets_dir / "broken.png").write_bytes(b"not a png at all")
    set_reference(p, "hero", rel="assets/broken.png")
    for _ in range(2):
        report = render_storyboard(p, force=True)
        assert report.rendered == ["s1"]
        assert any("entity hero" in w and "placeholder" in w for w in report.warnings)
    r = _cli("render", str(p.root), "--force")
    assert r.returncode == 0 and "warning: entity hero" in r.stderr


def test_full_disk_during_a_render_is_a_one_line_error_and_commits_nothing(tmp_path):
    import resource

    p = make_project(tmp_path / "p", [scene("s1", 64, camera={"motion": "zoom_in", "strength": 1.0})])

    def small_disk():  # any file beyond 4 kB cannot be written, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (4000, 4000))

    r = subprocess.run([sys.executable, "-c", "import sys; from flowdrafter.ui.cli import main; sys.exit(main())", "render", str(p.root)],
                       cwd=ROOT, capture_output=True, text=True, preexec_fn=small_disk)  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "flowdrafter: error:" in r.stderr and ("too large" in r.stderr or "no space" in r.stderr), r.stderr
    out_dir = p.renders_dir / "animatic"
    assert not list(out_dir.glob("*.mp4")) and not list(out_dir.glob(".*.tmp"))
    assert render_storyboard(p).rendered == ["s1"]  # and it works once there is room
