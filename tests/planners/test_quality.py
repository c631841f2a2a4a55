"""The plan-quality score: verdicts per check per scene and a total, from the storyboard as it is, shown
by `flowdrafter check DIR --quality`, at the end of the planner's log and next to the scene warnings."""

from __future__ import annotations

from flowdrafter.core.project import Project
from flowdrafter.core.storyboard import parse_storyboard
from flowdrafter.planners.pipeline import plan
from flowdrafter.planners.quality import CHECKS, plan_quality
from flowdrafter.ui.cli import main
from flowdrafter.ui.views import scene_quality

from .conftest import KITTEN


def clean(doc: dict) -> dict:
    """The shared sample, brought to today's rules: a static camera watches the chase (a following pan would
    hold the kitten's box), the garden does not move, and the nap's event names only who is in it."""
    doc["scenes"][0]["camera"]["motion"] = "static"
    doc["scenes"][0]["background_motion"] = {"dx": 0.0, "dy": 0.0}
    doc["scenes"][1]["event"] = "the kitten falls asleep in the grass"
    doc["cast"] = ["kitten", "red ball"]
    return doc


def test_a_clean_plan_passes_and_every_scene_has_every_check(sample_doc):
    report = plan_quality(parse_storyboard(clean(sample_doc)))
    assert [v.check for v in report.at("s1")] == list(CHECKS) and [v.check for v in report.at("s2")] == list(CHECKS)
    assert report.total == 3 + 2 * len(CHECKS)
    assert [(v.where, v.check, v.problems) for v in report.verdicts if not v.ok] == []
    assert report.summary() == f"quality {report.total}/{report.total} checks passed (100%)"


def test_what_a_person_changes_shows_in_the_score(sample_doc):
    clean(sample_doc)
    sample_doc["cast"] = ["kitten", "red ball", "dog"]  # the dog of the story is not an entity
    sample_doc["entities"][2]["description"] = sample_doc["prompt"]  # a background described as the whole story
    sample_doc["scenes"][1]["event"] = sample_doc["scenes"][0]["event"]  # the same moment twice (and a ball not there)
    sample_doc["scenes"][1]["background_motion"] = {"dx": 0.02, "dy": 0.0}  # a garden does not flow
    report = plan_quality(parse_storyboard(sample_doc))
    failed = {(v.where, v.check): v.problems for v in report.verdicts if not v.ok}
    assert set(failed) == {("story", "coverage"), ("story", "copies"), ("s2", "coverage"), ("s2", "order"), ("s2", "motion")}
    assert failed[("story", "coverage")] == ('"dog" is in the story but is not an entity',)
    assert failed[("story", "copies")] == ("entity garden: its description repeats the whole prompt",)
    assert report.summary() == f"quality {report.total - 5}/{report.total} checks passed ({(report.total - 5) / report.total:.0%}); weak: coverage, copies, order, motion"
    html = scene_quality(parse_storyboard(sample_doc), "s2")
    assert f"Plan quality {report.total - 5}/{report.total}" in html and "✗ order" in html and "✓ layout" in html
    assert "whole plan, coverage: &quot;dog&quot; is in the story but is not an entity" in html


def test_check_quality_prints_verdicts_per_scene_and_a_total(tmp_path, sample_doc, capsys):
    project = Project.create(tmp_path / "p", parse_storyboard(clean(sample_doc)))
    assert main(["check", str(project.root), "--quality"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("ok: 'Kitten and the ball'")
    assert out[1] == "story: coverage ok  copies ok  identity ok"
    assert out[2] == "s1: coverage ok  copies ok  order ok  identity ok  motion ok  layout ok"
    assert out[-1].startswith("quality ") and "checks passed" in out[-1]
    assert main(["check", str(project.root)]) == 0 and "quality" not in capsys.readouterr().out


def test_the_planners_log_ends_with_the_score(server_settings):
    messages: list[str] = []
    sb = plan(KITTEN, settings=server_settings, scenes=3, progress=messages.append)
    assert sb.cast == ["kitten", "red ball"]
    assert messages[-1] == plan_quality(sb).summary() and messages[-1].startswith("quality ")
    Project.create(server_settings.data_dir / "p", sb)
