"""The bundled example projects: valid, complete, with real drawn references, reproducible from the script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flowdrafter.core.examples import DEFAULT_EXAMPLE, EXAMPLES_DIR, copy_example, list_examples
from flowdrafter.core.project import Project
from flowdrafter.core.storyboard import CameraMotion, EntityKind, Storyboard, TransitionKind
from flowdrafter.ui.cli.project_cmds import check_project

SCRIPT = EXAMPLES_DIR / "make_examples.py"
EXAMPLES = list_examples()


def load(name: str) -> tuple[Project, Storyboard]:
    project = Project.open(EXAMPLES_DIR / name)
    return project, project.load()


def reference_image(project: Project, rel: str) -> Image.Image:
    img = Image.open(project.resolve_asset(rel))
    img.load()
    return img


def test_there_are_several_examples_and_the_default_is_one_of_them():
    assert DEFAULT_EXAMPLE in EXAMPLES
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_passes_check(name):
    assert check_project(EXAMPLES_DIR / name) == []
    _, sb = load(name)
    assert 3 <= len(sb.scenes) <= 5
    assert 2 <= len(sb.entities) <= 4
    assert any(e.kind is EntityKind.background for e in sb.entities)


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_entity_has_a_drawn_reference_that_exists(name):
    project, sb = load(name)
    for e in sb.entities:
        assert e.reference is not None, f"{name}: entity {e.id} has no reference"
        assert e.reference.source == "drawn"
        assert e.reference.cutout is (e.kind is EntityKind.foreground)
        assert project.resolve_asset(e.reference.image).is_file()
        assert project.resolve_asset(e.reference.image).stat().st_size < 300_000, "keep the repository small"


@pytest.mark.parametrize("name", EXAMPLES)
def test_foreground_references_are_clean_cutouts(name):
    project, sb = load(name)
    for e in sb.entities:
        if e.kind is not EntityKind.foreground:
            continue
        img = reference_image(project, e.reference.image)
        assert img.mode == "RGBA", f"{e.id}: a cut-out needs an alpha channel"
        rgba = np.asarray(img)
        alpha = rgba[..., 3]
        assert (alpha == 0).mean() > 0.05, f"{e.id}: no transparent background"
        assert (alpha == 255).mean() > 0.3, f"{e.id}: the figure itself is not opaque"
        soft = ((alpha > 0) & (alpha < 255)).sum()
        assert soft > 0.2 * (img.width + img.height), f"{e.id}: the edge is not anti-aliased"
        assert not rgba[alpha == 0][:, :3].any(), f"{e.id}: transparent pixels carry colour (halo when scaled)"
        # cropped to the figure: every side of the image touches it, within a small margin
        ys, xs = np.nonzero(alpha)
        assert xs.min() <= 8 and ys.min() <= 8 and xs.max() >= img.width - 9 and ys.max() >= img.height - 9
        assert len(np.unique(rgba[alpha == 255][:, :3], axis=0)) > 50, f"{e.id}: looks like a flat placeholder"


@pytest.mark.parametrize("name", EXAMPLES)
def test_backgrounds_are_opaque_and_larger_than_the_frame(name):
    project, sb = load(name)
    for e in sb.entities:
        if e.kind is not EntityKind.background:
            continue
        img = reference_image(project, e.reference.image)
        assert img.width > sb.width and img.height > sb.height, f"{e.id}: {img.size} leaves nothing to pan over"
        assert img.convert("RGBA").getextrema()[3][0] == 255, f"{e.id}: a background must be opaque"
        assert len(img.getcolors(maxcolors=1 << 20) or range(1 << 20)) > 1000, f"{e.id}: looks like a flat placeholder"


def test_examples_together_show_every_kind_of_motion_and_transition():
    boards = [load(n)[1] for n in EXAMPLES]
    scenes = [s for sb in boards for s in sb.scenes]
    families = {s.camera.motion.value.split("_")[0] for s in scenes}
    assert {"static", "pan", "tilt", "zoom"} <= families
    assert len({s.camera.motion for s in scenes}) >= len(CameraMotion) - 1
    assert {s.transition.kind for s in scenes} == set(TransitionKind)
    assert any(s.background_motion.dx for s in scenes) and any(s.background_motion.dy for s in scenes)
    assert any(len(t.keyframes) >= 3 and t.easing.value == "ease_in_out" for s in scenes for t in s.tracks)
    assert all(len(s.frames) >= 2 for s in scenes), "every scene describes at least its first and last keyframe"
    for s in scenes:  # frame descriptions sit on the keyframes of the scene's tracks
        keyframes = {k.frame for t in s.tracks for k in t.keyframes}
        assert {n.frame for n in s.frames} <= keyframes | {0, s.num_frames - 1}, s.id


@pytest.mark.parametrize("name", EXAMPLES)
def test_new_project_from_example_is_complete(tmp_path, name):
    project = copy_example(name, tmp_path / "p")
    assert check_project(project.root) == []
    assert not list(project.root.rglob("*.py"))
    sb = project.load()
    for e in sb.entities:
        src = EXAMPLES_DIR / name / e.reference.image
        assert project.resolve_asset(e.reference.image).read_bytes() == src.read_bytes()


def test_make_examples_reproduces_every_file_from_scratch(tmp_path):
    """Deleting the drawings and references and re-running the script gives back the committed bytes."""
    work = tmp_path / "examples"
    for name in EXAMPLES:
        skip = shutil.ignore_patterns("assets", ".history", "renders", "exports")
        shutil.copytree(EXAMPLES_DIR / name, work / name, ignore=skip)
        path = work / name / "storyboard.json"
        data = json.loads(path.read_text())
        for e in data["entities"]:
            e["reference"] = None
        path.write_text(json.dumps(data))
    run = subprocess.run([sys.executable, str(SCRIPT), str(work)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    expected = sorted(p.relative_to(EXAMPLES_DIR) for n in EXAMPLES for p in (EXAMPLES_DIR / n).rglob("*") if p.is_file())
    produced = sorted(p.relative_to(work) for p in work.rglob("*") if p.is_file())
    assert produced == expected
    for rel in expected:
        if rel.suffix == ".png":  # compare pixels: PNG bytes also depend on the zlib build
            got, want = Image.open(work / rel), Image.open(EXAMPLES_DIR / rel)
            assert (got.mode, got.size) == (want.mode, want.size), rel
            assert np.array_equal(np.asarray(got), np.asarray(want)), f"{rel} differs after re-running the script"
        else:
            assert (work / rel).read_bytes() == (EXAMPLES_DIR / rel).read_bytes(), f"{rel} differs after re-running the script"


def test_make_examples_refuses_an_entity_it_cannot_draw(tmp_path):
    work = tmp_path / "examples"
    shutil.copytree(EXAMPLES_DIR / DEFAULT_EXAMPLE, work / DEFAULT_EXAMPLE)
    path = work / DEFAULT_EXAMPLE / "storyboard.json"
    data = json.loads(path.read_text())
    data["entities"].append({"id": "dragon", "name": "dragon", "kind": "foreground", "description": "a dragon"})
    path.write_text(json.dumps(data))
    before = path.read_bytes()
    run = subprocess.run([sys.executable, str(SCRIPT), str(work)], capture_output=True, text=True, timeout=600)
    assert run.returncode != 0
    assert "no drawing for entity 'dragon'" in run.stderr
    assert path.read_bytes() == before, "a failed run must not rewrite the storyboard"


def test_make_examples_refuses_a_broken_storyboard_before_drawing(tmp_path):
    work = tmp_path / "examples"
    shutil.copytree(EXAMPLES_DIR / DEFAULT_EXAMPLE, work / DEFAULT_EXAMPLE, ignore=shutil.ignore_patterns("assets"))
    path = work / DEFAULT_EXAMPLE / "storyboard.json"
    data = json.loads(path.read_text())
    data["scenes"][0]["tracks"][0]["keyframes"][0]["box"] = [0.7, 0.2, 0.4, 0.9]
    path.write_text(json.dumps(data))
    run = subprocess.run([sys.executable, str(SCRIPT), str(work)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 2
    assert "scene s1, track kitten, frame 0" in run.stderr and "x0 0.7 must be less than x1 0.4" in run.stderr
    assert not (work / DEFAULT_EXAMPLE / "assets").exists(), "nothing is drawn for a broken storyboard"
