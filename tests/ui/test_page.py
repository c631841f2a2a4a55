"""The page built from parts: every tab shows only what it declares, by component; the element ids stay."""

from __future__ import annotations

import pytest

from flowdrafter.core.settings import Settings
from flowdrafter.core.storyboard import parse_storyboard
from flowdrafter.ui import state, views
from flowdrafter.ui.app import build_app, page_of
from flowdrafter.ui.services import Services

DOCUMENTED_IDS = """plan-prompt plan-button plan-cancel plan-log replan-button fd-quality render-target scene-list scene-add scene-duplicate scene-up scene-down
scene-delete scene-title scene-event scene-frames scene-background scene-camera scene-transition layout-editor frame-slider
frame-note entity-gallery entity-select entity-name entity-description entity-reference entity-upload entity-cutout
entity-clear entity-delete entity-add entity-generate entity-candidates preview-button preview-video render-generator
render-button rerender-button cancel-button render-log render-clips export-mp4 export-pdf export-zip export-otio export-xml
export-fcpxml export-edl export-absolute export-file undo-button redo-button""".split()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from flowdrafter.core.examples import copy_example

    root = tmp_path_factory.mktemp("page")
    project = copy_example("kitten-garden", root / "p")
    services = Services(Settings(data_dir=root / "data"))
    session = state.open_session(project.root)
    demo = build_app(session, services)
    yield demo, session
    services.cleanup()


def test_every_tab_returns_only_the_components_it_declares(built):
    demo, session = built
    page = page_of(demo)
    shown = views.shown(session, views.focus("s2", 7, "ball"), lambda path: str(path))
    for part in page.parts():
        assert set(part.view(shown)) <= set(part.viewed()), type(part).__name__
    everything = page.view(shown)
    assert everything[page.storyboard.title] == "The chase"
    assert everything[page.storyboard.frame]["value"] == 7
    assert everything[page.entities.name] == "red ball"
    assert everything[page.storyboard.editor]["scene"] == "s2" and everything[page.storyboard.editor]["frame"] == 7


def test_without_a_project_only_the_header_changes(built):
    demo, _ = built
    page = page_of(demo)
    shown = views.shown(state.empty_session(), {}, lambda path: str(path))
    assert set(page.view(shown)) == {*page.header.viewed(), page.storyboard.editor}


def test_the_element_ids_stay_and_are_unique(built):
    demo, _ = built
    ids = [b.elem_id for b in demo.blocks.values() if getattr(b, "elem_id", None)]
    assert len(ids) == len(set(ids))
    assert set(DOCUMENTED_IDS) <= set(ids)


def test_the_shown_scene_carries_its_plan_quality(built):
    demo, session = built
    page = page_of(demo)
    kitten = page.view(views.shown(session, views.focus("s1", 0, None), lambda path: str(path)))[page.storyboard.quality]
    chase = page.view(views.shown(session, views.focus("s2", 0, None), lambda path: str(path)))[page.storyboard.quality]
    assert "Plan quality 21/21" in kitten and "✗" not in kitten
    assert "✓ layout" in chase and "✗" not in chase
    # the kitten jumps across the cut between s1 and s2: s2 says so
    doc = state.storyboard(session).model_dump(mode="json")
    doc["scenes"][1]["tracks"][0]["keyframes"][0]["box"] = [0.6, 0.48, 0.83, 0.92]
    jumped = views.scene_quality(parse_storyboard(doc), "s2")
    assert "Plan quality 19/21" in jumped and "✗ layout" in jumped and "the previous scene ended with it" in jumped


def test_the_render_button_says_where_renders_run(tmp_path):
    from flowdrafter.core.examples import copy_example

    session = state.open_session(copy_example("kitten-garden", tmp_path / "p").root)
    for address, where in ((None, "this process"), ("ray://10.1.2.3:10001", "the Ray cluster at ray://10.1.2.3:10001")):
        services = Services(Settings(data_dir=tmp_path / "data", ray_address=address))
        try:
            target = page_of(build_app(session, services)).output.target
            assert target.value == f"Renders run in {where}"
        finally:
            services.cleanup()


def test_the_render_log_ends_with_the_generators_warnings():
    from types import SimpleNamespace

    log = views.RenderLog()
    log.progress(0.5, "s1: video: step 1/2")
    report = SimpleNamespace(rendered=["s1"], reused=[], warnings=["the SVD model ignores the action text"])
    text = log.done(report)
    assert text.startswith("done: 1 rendered, 0 reused\ns1: video: step 1/2")
    assert text.endswith("\nwarning: the SVD model ignores the action text")
