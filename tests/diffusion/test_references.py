"""Entity reference candidates, `flowdrafter refs` and `flowdrafter selftest` on tiny models."""

from __future__ import annotations

import numpy as np
import pytest

from flowdrafter.core.errors import FlowDrafterError
from flowdrafter.core.images import load_asset_image
from flowdrafter.generators.diffusion.references import make_reference_candidates
from flowdrafter.ui.cli import main


def test_candidates_are_stored_assets_with_their_seeds_and_repeat_by_seed(project, sample_storyboard, tiny_settings):
    got = make_reference_candidates(project, sample_storyboard, "kitten", 2, settings=tiny_settings)
    assert len(got) == 2 and got[0][1] != got[1][1]
    for rel, _seed in got:
        assert rel.startswith("assets/") and project.resolve_asset(rel).is_file()
        img = load_asset_image(project, rel)
        assert img.mode == "RGBA"  # a foreground entity is cut out
        assert np.asarray(img)[..., 3].min() < 255
    again = make_reference_candidates(project, sample_storyboard, "kitten", 1, settings=tiny_settings, first_seed=got[0][1])
    assert again[0] == got[0]  # same seed, same pixels, same file


def test_background_references_are_not_cut_out(project, sample_storyboard, tiny_settings):
    [(rel, _)] = make_reference_candidates(project, sample_storyboard, "garden", 1, settings=tiny_settings)
    assert load_asset_image(project, rel).mode == "RGB"


def test_unknown_entity_and_bad_counts_are_user_errors(project, sample_storyboard, tiny_settings):
    with pytest.raises(FlowDrafterError, match="no entity with id 'dragon'"):
        make_reference_candidates(project, sample_storyboard, "dragon", 1, settings=tiny_settings)
    with pytest.raises(FlowDrafterError, match="between 1 and"):
        make_reference_candidates(project, sample_storyboard, "kitten", 0, settings=tiny_settings)


def test_refs_command_stores_candidates_and_sets_a_missing_reference(project, tiny_env, capsys):
    assert main(["refs", str(project.root), "--entity", "ball", "--candidates", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("ball\tassets/") == 2 and "seed" in out
    ref = project.load().entity("ball").reference
    assert ref is not None and ref.source == "generated" and ref.cutout and ref.seed is not None
    assert project.resolve_asset(ref.image).is_file()


def test_refs_command_refuses_an_unknown_entity_in_one_line(project, tiny_env, capsys):
    assert main(["refs", str(project.root), "--entity", "dragon"]) == 2
    err = capsys.readouterr().err
    assert "no entity with id 'dragon'" in err and "Traceback" not in err


def test_selftest_runs_every_named_generator_and_reports_one_line_each(tiny_env, tiny_overrides, request, capsys):
    models_dir = request.config.cache.mkdir("flowdrafter-tiny-models")
    assert main(["selftest", "--models-dir", str(models_dir), "--generator", "drafter", "--generator", "animatic"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("ok   drafter: 8 frames, 64x64") for line in lines)
    assert any(line.startswith("ok   animatic: 8 frames, 64x64") for line in lines)


def test_selftest_fails_with_exit_2_for_a_broken_generator(tiny_env, request, capsys):
    models_dir = request.config.cache.mkdir("flowdrafter-tiny-models")
    assert main(["selftest", "--models-dir", str(models_dir), "--generator", "no-such-generator"]) == 2
    assert "FAIL no-such-generator" in capsys.readouterr().out


def test_an_uploaded_reference_is_cut_out_on_request(project, tiny_env, capsys):
    from PIL import Image

    from flowdrafter.core.edits import set_reference
    from flowdrafter.core.images import import_image
    from flowdrafter.core.storyboard import Reference

    photo = project.root / "photo.png"
    Image.new("RGB", (40, 30), (200, 60, 60)).save(photo)
    rel = import_image(project, photo)
    project.save(set_reference(project.load(), "kitten", Reference(image=rel, source="upload")))
    assert main(["refs", str(project.root), "--entity", "kitten", "--cutout-existing"]) == 0
    ref = project.load().entity("kitten").reference
    assert ref.cutout and ref.source == "upload" and ref.image != rel
    assert load_asset_image(project, ref.image).mode == "RGBA" and project.resolve_asset(rel).is_file()
    assert main(["refs", str(project.root), "--entity", "ball", "--cutout-existing"]) == 2
    assert "ball has no reference image" in capsys.readouterr().err
