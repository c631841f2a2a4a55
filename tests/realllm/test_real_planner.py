"""Planning with a real small instruct model (SmolLM2-135M-Instruct, Q4_1): the prompts of issue 13 that
the planner used to get wrong. A 135M model writes weak stories; these tests hold the planner to what it
promises whatever the model writes: the subjects are entities, nothing repeats the prompt, one entity per
thing, a valid project, and a log that ends with the quality score."""

from __future__ import annotations

import pytest

from flowdrafter.core.project import Project
from flowdrafter.planners.pipeline import plan
from flowdrafter.planners.quality import plan_quality
from flowdrafter.planners.words import head, repeats, same_thing
from flowdrafter.ui.cli.project_cmds import check_project

pytestmark = pytest.mark.realllm


def planned(prompt: str, settings, tmp_path):
    log: list[str] = []
    sb = plan(prompt, settings=settings, scenes=3, seed=0, progress=log.append, use_cache=False)
    Project.create(tmp_path / "p", sb)
    assert check_project(tmp_path / "p") == []
    assert log[-1] == plan_quality(sb).summary()
    texts = [e.description for e in sb.entities] + [s.title for s in sb.scenes] + [n.description for s in sb.scenes for n in s.frames]
    assert [t for t in texts + [s.event for s in sb.scenes] if repeats(t, prompt)] == []  # no copy of the prompt
    pairs = [(a.name, b.name) for i, a in enumerate(sb.entities) for b in sb.entities[i + 1 :] if same_thing(a.name, b.name) == "same"]
    assert pairs == []  # one entity per thing
    return sb


def foreground_heads(sb) -> set[str]:
    return {head(sb.entity(t.entity).name) for s in sb.scenes for t in s.tracks}


def test_the_insect_that_used_to_be_missing(real_settings, tmp_path):
    sb = planned("an insect crosses a garden from left to right, then climbs a flower", real_settings, tmp_path)
    assert "insect" in sb.cast and "insect" in foreground_heads(sb)
    assert "butterfly" not in {head(e.name) for e in sb.entities}  # the old few-shot example's subject


def test_rider_and_horse_are_two_entities_once_each(real_settings, tmp_path):
    sb = planned("a rider on a brown horse gallops across a beach at sunset, then the horse drinks from the sea", real_settings, tmp_path)
    assert {"rider", "horse"} <= foreground_heads(sb)


def test_a_city_is_planned_from_its_own_words(real_settings, tmp_path):
    prompt = "a busy city at night: cars drive along a bridge while fireworks rise over the river"
    sb = planned(prompt, real_settings, tmp_path)
    assert {"car", "firework"} <= {head(e.name) for e in sb.entities}
    assert not {"meadow", "frog", "puddle", "gutter"} & {head(e.name) for e in sb.entities}  # nothing from an example
