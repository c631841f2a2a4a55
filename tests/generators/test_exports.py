"""Exports: mp4, PDF pages, timelines (OTIO, FCP 7 XML, FCPXML, EDL) read back by OTIO, zip, contact sheet;
typed options; bad output paths leave old files intact."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.parse
import zipfile
from pathlib import Path

import opentimelineio as otio
import pytest
from PIL import Image

from flowdrafter.core.errors import RenderError
from flowdrafter.core.project import Project
from flowdrafter.core.timeline import total_frames
from flowdrafter.generators.export import export
from flowdrafter.generators.video import probe

from .conftest import make_project, scene

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def film(tmp_path) -> Project:
    return make_project(tmp_path / "film", [
        scene("s1", 10, transition={"kind": "crossfade", "frames": 2}),
        scene("s2", 8, transition={"kind": "cut", "frames": 0}),
        scene("s3", 9, transition={"kind": "fade", "frames": 2}),
    ])  # fmt: skip


def test_mp4_has_every_frame_and_starts_fast(film, tmp_path):
    out = export(film, tmp_path / "film.mp4")
    assert probe(out).frames == total_frames(film.load()) == 25
    head = out.read_bytes()
    assert head.index(b"moov") < head.index(b"mdat")  # faststart: playable while downloading


def test_mp4_title_card_adds_its_frames(film, tmp_path):
    out = export(film, tmp_path / "film.mp4", title_card_seconds=1.0)
    assert probe(out).frames == 25 + 8


def test_pdf_has_one_page_per_rows_of_scenes(film, tmp_path):
    def pages(path: Path) -> int:
        return len(re.findall(rb"/Type\s*/Page(?![s\w])", path.read_bytes()))

    assert pages(export(film, tmp_path / "a.pdf")) == 1
    assert pages(export(film, tmp_path / "b.pdf", rows=1, page_size="letter", orientation="portrait")) == 3
    assert pages(export(film, tmp_path / "c.pdf", rows=2, columns=3)) == 2
    with pytest.raises(RenderError, match=r"option page_size: input should be 'a4', 'letter' or 'a3' \(got 'tabloid'\)"):
        export(film, tmp_path / "d.pdf", page_size="tabloid")
    assert not (tmp_path / "d.pdf").exists()


def media_file(timeline_file: Path, url: str) -> Path:
    """Where an editor finds a clip: a file:// URL, or a path relative to the timeline file."""
    if url.startswith("file://"):
        return Path(urllib.parse.unquote(urllib.parse.urlparse(url).path))
    return (timeline_file.parent / urllib.parse.unquote(url)).resolve()


def test_otio_round_trips_with_one_clip_per_scene(film, tmp_path):
    out = export(film, tmp_path / "film.otio")
    timeline = otio.adapters.read_from_file(str(out))
    clips = list(timeline.find_clips())
    assert [c.metadata["flowdrafter"]["scene_id"] for c in clips] == ["s1", "s2", "s3"]
    assert timeline.duration().value == total_frames(film.load()) and timeline.duration().rate == 8
    transitions = [t for t in timeline.tracks[0] if isinstance(t, otio.schema.Transition)]
    assert len(transitions) == 1 and transitions[0].transition_type == otio.schema.TransitionTypes.SMPTE_Dissolve
    for c in clips:
        url = c.media_reference.target_url
        assert not url.startswith(("file:", "/")) and url.startswith("film/renders/animatic/")  # relative to the .otio
        assert media_file(out, url) == film.root / c.metadata["flowdrafter"]["clip"]
        assert media_file(out, url).is_file()
    assert clips[2].metadata["flowdrafter"]["fade_out"] == 2


@pytest.mark.parametrize("suffix, adapter", [(".xml", "fcp_xml"), (".fcpxml", "fcpx_xml"), (".edl", "cmx_3600")])
def test_editor_timelines_round_trip_through_otio_readers(film, tmp_path, suffix, adapter):
    """Premiere/Resolve (FCP 7 XML), Final Cut (FCPXML) and every editor (EDL): read back by OTIO's own readers,
    one clip per scene, the film's length, media found relative to the file, at a timecode rate (8 fps -> 24)."""
    sb = film.load()
    (tmp_path / "out").mkdir()
    out = export(film, tmp_path / "out" / f"film{suffix}")
    timeline = otio.adapters.read_from_file(str(out), adapter_name=adapter)
    clips = list(timeline.find_clips())
    assert len(clips) == len(sb.scenes)
    assert timeline.duration() == otio.opentime.RationalTime(total_frames(sb) * 3, 24)
    rendered = {p.name for p in (film.root / "renders" / "animatic").glob("*.mp4")}
    for clip, sc in zip(clips, sb.scenes):
        url = clip.media_reference.target_url
        assert url.startswith("../film/renders/animatic/"), url
        assert media_file(out, url).is_file() and media_file(out, url).name in rendered
        if suffix != ".edl":  # an EDL keeps the clip names in comments, but an event per side of a dissolve
            assert clip.name == sc.title
    dissolves = [t for t in timeline.tracks[0] if isinstance(t, otio.schema.Transition)]
    assert len(dissolves) == (0 if suffix == ".fcpxml" else 1)  # the FCPXML adapter writes no transitions
    if suffix == ".fcpxml":
        assert f'width="{sb.width}" height="{sb.height}"' in out.read_text()


def test_timelines_can_point_at_absolute_paths(film, tmp_path):
    for suffix, adapter in ((".otio", "otio_json"), (".xml", "fcp_xml")):
        out = export(film, tmp_path / f"film{suffix}", absolute_paths=True)
        for clip in otio.adapters.read_from_file(str(out), adapter_name=adapter).find_clips():
            url = clip.media_reference.target_url
            assert url.startswith("file:///") and media_file(out, url).is_file()


def test_each_format_has_typed_options_and_refuses_what_it_does_not_have(film, tmp_path):
    from flowdrafter.generators.export import formats

    assert set(formats()) == {".mp4", ".pdf", ".otio", ".xml", ".fcpxml", ".edl", ".zip", ".png"}
    with pytest.raises(RenderError, match=r"^\.mp4 export has no option 'rows' \(its options: faststart, audio, title_card_seconds, force\)$"):
        export(film, tmp_path / "film.mp4", rows=2)
    with pytest.raises(RenderError, match=r"^\.edl export has no option 'page_size'"):
        export(film, tmp_path / "film.edl", page_size="a4")
    with pytest.raises(RenderError, match=r"option columns: input should be less than or equal to 8 \(got 9\)"):
        export(film, tmp_path / "film.pdf", columns=9)
    with pytest.raises(RenderError, match=r"option audio: audio file .*missing.wav does not exist"):
        export(film, tmp_path / "film.mp4", audio=tmp_path / "missing.wav")
    assert not list(tmp_path.glob("film.*"))  # refused before anything is rendered or written
    assert not (film.root / "renders" / "animatic").exists()


def test_zip_opens_as_a_project_with_its_renders_and_timelines_that_find_them(film, tmp_path):
    out = export(film, tmp_path / "share.zip")
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        zf.extractall(tmp_path / "elsewhere")
    shutil.rmtree(film.root)  # the archive must not depend on the original folder
    assert sum(n.endswith(".mp4") for n in names) == 3
    copy = Project.open(tmp_path / "elsewhere" / "film")
    assert copy.load().title == "Test film"
    index = json.loads((copy.renders_dir / "animatic" / "index.json").read_text())
    assert all((copy.root / rel).is_file() for rel in index.values())
    for suffix, adapter in ((".otio", "otio_json"), (".xml", "fcp_xml"), (".fcpxml", "fcpx_xml"), (".edl", "cmx_3600")):
        timeline_file = copy.root / "exports" / f"test-film{suffix}"
        clips = list(otio.adapters.read_from_file(str(timeline_file), adapter_name=adapter).find_clips())
        assert len(clips) == 3 and all(media_file(timeline_file, c.media_reference.target_url).is_file() for c in clips)
    with zipfile.ZipFile(export(Project.open(copy.root), tmp_path / "lean.zip", include_renders=False)) as zf:
        assert not any(n.endswith((".mp4", ".otio", ".xml", ".edl")) for n in zf.namelist())


def test_contact_sheet_png(film, tmp_path):
    out = export(film, tmp_path / "sheet.png", columns=3)
    img = Image.open(out)
    assert img.width > 3 * 160 and img.height > 3 * 96


def test_bad_outputs_are_clear_errors_and_keep_the_previous_file(film, tmp_path):
    previous = tmp_path / "film.mp4"
    previous.write_bytes(b"the previous export")
    with pytest.raises(RenderError, match="does not exist"):
        export(film, tmp_path / "no" / "such" / "film.mp4")
    with pytest.raises(RenderError, match="cannot export to '.mov'"):
        export(film, tmp_path / "film.mov")
    with pytest.raises(RenderError, match="is a folder"):
        export(film, tmp_path)
    bad_audio = tmp_path / "not-audio.wav"
    bad_audio.write_text("this is not audio")
    with pytest.raises(RenderError):
        export(film, previous, audio=bad_audio)  # fails after the clips are rendered, mid-way
    assert previous.read_bytes() == b"the previous export"
    assert not list(tmp_path.glob(".film.mp4.*"))
    with pytest.raises(RenderError, match=".pdf export has no option 'colour'"):
        export(film, tmp_path / "x.pdf", colour="red")


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-c", "import sys; from flowdrafter.ui.cli import main; sys.exit(main())", *args],
                          cwd=ROOT, capture_output=True, text=True, **kw)  # fmt: skip


def test_full_disk_and_empty_storyboard_are_one_line_errors(film, tmp_path):
    import resource

    from flowdrafter.generators.render import render_storyboard

    render_storyboard(film)  # so the export only writes the archive
    limit = export(film, tmp_path / "full.zip").stat().st_size // 2
    previous = tmp_path / "share.zip"
    previous.write_bytes(b"old archive")

    def small_disk():  # writes beyond half the archive fail, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    r = subprocess.run([sys.executable, "-c", "import sys; from flowdrafter.ui.cli import main; sys.exit(main())", "export", str(film.root), "-o", str(previous)],
                       cwd=ROOT, capture_output=True, text=True, preexec_fn=small_disk)  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "flowdrafter: error:" in r.stderr and "previous file" in r.stderr
    assert previous.read_bytes() == b"old archive"

    doc = json.loads(film.storyboard_path.read_text())
    doc["scenes"] = []
    film.storyboard_path.write_text(json.dumps(doc))
    r = _cli("export", str(film.root), "-o", str(previous))
    assert r.returncode == 2 and "at least one scene" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert previous.read_bytes() == b"old archive"


def test_mp4_with_an_audio_track_trimmed_to_the_film(film, tmp_path):
    import math
    import struct
    import wave

    from flowdrafter.generators.video import ffmpeg_exe

    wav = tmp_path / "tone.wav"
    with wave.open(str(wav), "wb") as w:  # 10 s of a quiet tone, longer than the 3 s film
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"".join(struct.pack("<h", int(3000 * math.sin(i / 8))) for i in range(160000)))
    out = export(film, tmp_path / "film.mp4", audio=wav)
    info = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(out)], capture_output=True, text=True).stderr
    assert "Audio: aac" in info
    duration = re.search(r"Duration: (\d+):(\d+):([\d.]+)", info)
    seconds = int(duration.group(1)) * 3600 + int(duration.group(2)) * 60 + float(duration.group(3))
    assert abs(seconds - 25 / 8) < 0.15
    assert probe(out).frames == 25


def test_bundled_example_renders_and_exports_from_the_cli(tmp_path):
    from flowdrafter.core.examples import DEFAULT_EXAMPLE, copy_example

    project = copy_example(DEFAULT_EXAMPLE, tmp_path / "example")
    r = _cli("render", str(project.root))
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr  # every reference image is usable
    out = tmp_path / "example.mp4"
    r = _cli("export", str(project.root), "-o", str(out))
    assert r.returncode == 0, r.stderr
    sb = project.load()
    info = probe(out)
    assert (info.frames, info.width, info.height) == (total_frames(sb), sb.width, sb.height)
