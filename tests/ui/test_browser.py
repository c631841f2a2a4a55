"""The editor in a real browser: Debian Chromium driven by Playwright against the app on 127.0.0.1.

One app for the module; each test gets a fresh copy of the example project and a fresh browser context
(its own session) that opens it through the project bar, so every test passes alone and in any order.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); browser tests skipped", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> object:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def app(tmp_path_factory, request):
    from flowdrafter.core.settings import Settings
    from flowdrafter.ui.app import build_app, launch, start_session
    from flowdrafter.ui.services import Services

    root = tmp_path_factory.mktemp("ui")
    llm = ""
    try:
        from builders.tiny_gguf import write_tiny_gguf

        llm = str(write_tiny_gguf(root / "tiny.gguf"))
    except ImportError:
        pass
    tiny: dict = {}
    try:  # tiny random-weight diffusion models for every role, so reference generation and cut-out run here
        from flowdrafter.generators.testing.tiny import build_all

        tiny = {**build_all(request.config.cache.mkdir("flowdrafter-tiny-models")), "steps": 2}  # keyed by recipe
    except ImportError:
        pass
    settings = Settings(data_dir=root / "data", llm=llm or "none", llm_max_tokens=96, llm_refine_rounds=0, **tiny)
    services = Services(settings)
    # Projects live like the default one (in the data folder): outside the temp dir and the working directory,
    # and the editor must still show their images and clips.
    home = Path.home() / ".cache"
    home.mkdir(parents=True, exist_ok=True)
    outside = Path(tempfile.mkdtemp(prefix="flowdrafter-ui-test-", dir=home))
    request.addfinalizer(lambda: shutil.rmtree(outside, ignore_errors=True))
    session = start_session(outside / "start", "kitten-garden", settings)
    demo = build_app(session, services)
    port = free_port()
    launch(demo, host="127.0.0.1", port=port, block=False, quiet=True)
    yield {"url": f"http://127.0.0.1:{port}", "start": Path(session["project"]), "outside": outside, "root": root,
           "services": services, "tiny": bool(tiny)}  # fmt: skip
    demo.close()
    services.cleanup()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def project(app, request) -> Path:
    """A fresh copy of the example for this test, outside the temp dir and the working directory."""
    from flowdrafter.core.examples import copy_example

    return copy_example("kitten-garden", app["outside"] / request.node.name).root


@pytest.fixture
def page(app, browser, project):
    """A new browser session with this test's project open in the editor."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    open_project(pg, app["url"], project)
    yield pg
    ctx.close()


def open_project(pg, url: str, folder: Path) -> None:
    pg.goto(url)
    pg.wait_for_selector("#layout-editor .fd-box")
    pg.get_by_text("Project: open another or start a new one").click()
    pg.get_by_label("Project folder").first.fill(str(folder))
    pg.get_by_role("button", name="Open", exact=True).click()
    pg.wait_for_function(f"document.body.innerText.includes({json.dumps(str(folder))})")
    pg.wait_for_selector("#layout-editor .fd-box")


def saved(project: Path) -> dict:
    return json.loads((project / "storyboard.json").read_text())


def scene(doc: dict, sid: str) -> dict:
    return next(s for s in doc["scenes"] if s["id"] == sid)


def keyframes(doc: dict, sid: str, entity: str) -> list[int]:
    track = next((t for t in scene(doc, sid)["tracks"] if t["entity"] == entity), None)
    return [k["frame"] for k in track["keyframes"]] if track else []


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def pick_frame(page, lane_index: int, frame: int, num_frames: int) -> None:
    """Click the keyframe strip where `frame` is, the way a person jumps to a frame."""
    lane = page.locator("#layout-editor .fd-lane").nth(lane_index)
    box = lane.bounding_box()
    lane.click(position={"x": box["width"] * frame / (num_frames - 1), "y": box["height"] / 2})
    page.wait_for_function(f"document.querySelector('#layout-editor .fd-hint').textContent.startsWith('Frame {frame} of')")


def upload(page, path: Path) -> None:
    with page.expect_file_chooser() as chooser:
        page.locator("#entity-upload").click()
    chooser.value.set_files(str(path))


def error_toast(page, text: str) -> None:
    page.get_by_text(text, exact=False).first.wait_for(state="visible")


def close_toasts(page) -> None:
    for btn in page.locator(".toast-close").all():
        try:
            btn.click(timeout=1000)
        except Exception:  # noqa: BLE001 - a toast that closed itself meanwhile
            pass


def show_the_chase(page) -> None:
    """Show scene s2, "The chase" (24 frames)."""
    page.locator("#scene-list label", has_text="The chase").click()
    page.wait_for_function("document.querySelector('#layout-editor .fd-hint').textContent.includes('of 23')")


def drag_the_kitten(page, project: Path) -> tuple[int, list[int], tuple]:
    """Drag the kitten on a frame of s2 without a keyframe, up and to the right, until it is saved.

    Returns (frame, the kitten's keyframes before, its interpolated box on that frame before)."""
    from flowdrafter.core.layout import track_box
    from flowdrafter.core.storyboard import parse_storyboard

    show_the_chase(page)
    before = keyframes(saved(project), "s2", "kitten")
    f = next(i for i in range(3, 23) if i not in before)
    old_box = track_box(parse_storyboard(saved(project)).scene("s2").track("kitten"), f)
    pick_frame(page, 0, f, 24)
    kitten = page.locator('#layout-editor .fd-box[data-entity="kitten"]')
    assert "fd-interp" in kitten.get_attribute("class")  # the frame is interpolated before the drag
    b = kitten.bounding_box()
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] / 2 + 120, b["y"] + b["height"] / 2 - 30, steps=6)
    page.mouse.up()
    wait_for(lambda: keyframes(saved(project), "s2", "kitten") == sorted(before + [f]), what="the new keyframe in storyboard.json")
    page.wait_for_function("!document.querySelector('#layout-editor .fd-box[data-entity=\"kitten\"]').classList.contains('fd-interp')")
    return f, before, old_box


# -- the tests: each starts from a fresh copy of the example in its own session -------------------------------------------------------


def test_opens_the_example_with_its_scenes_and_boxes(page, app):
    assert page.locator("#scene-list label").count() == 3
    assert page.locator("#layout-editor .fd-box").count() == 2
    assert page.locator("#layout-editor .fd-stage img").get_attribute("src").startswith("data:image/jpeg")
    per_tab = {"1 · Plan": ["plan-prompt", "plan-button"], "3 · Entities": ["entity-gallery", "entity-upload"],
               "4 · Preview, render, export": ["preview-button", "preview-video", "render-button", "export-mp4"],
               "2 · Storyboard": ["scene-list", "layout-editor", "frame-slider", "undo-button"]}  # fmt: skip
    for name, elems in per_tab.items():  # tabs render their contents when first opened
        tab(page, name)
        for elem in elems:
            page.locator(f"#{elem}").first.wait_for(state="visible")
            assert page.locator(f"#{elem}").count() == 1, elem
    shot(page, "01-editor")


def test_dragging_a_box_saves_a_keyframe_on_that_frame(page, project):
    f, before, old_box = drag_the_kitten(page, project)
    track = next(t for t in scene(saved(project), "s2")["tracks"] if t["entity"] == "kitten")
    new = next(k["box"] for k in track["keyframes"] if k["frame"] == f)
    assert new[0] > old_box[0] + 0.1 and new[1] < old_box[1]  # moved right and up, as dragged
    shot(page, "02-dragged-box")


def test_deleting_the_keyframe_and_undo_brings_it_back(page, project):
    f, before, _ = drag_the_kitten(page, project)
    page.locator('#layout-editor .fd-box[data-entity="kitten"] .fd-tag').click()  # select the box
    page.locator("#layout-editor .fd-delete").click()
    wait_for(lambda: keyframes(saved(project), "s2", "kitten") == before, what="the deleted keyframe to leave storyboard.json")
    page.wait_for_function("document.querySelector('#layout-editor .fd-box[data-entity=\"kitten\"]').classList.contains('fd-interp')")
    page.locator("#undo-button").click()
    wait_for(lambda: keyframes(saved(project), "s2", "kitten") == sorted(before + [f]), what="undo to bring the keyframe back")
    page.wait_for_function("!document.querySelector('#layout-editor .fd-box[data-entity=\"kitten\"]').classList.contains('fd-interp')")


def test_edit_the_script_add_duplicate_reorder_delete(page, project):
    ids = lambda: [s["id"] for s in saved(project)["scenes"]]  # noqa: E731
    start = ids()
    show_the_chase(page)
    page.locator("#scene-duplicate").click()  # duplicates s2, the shown scene, and shows the copy
    wait_for(lambda: len(ids()) == len(start) + 1, what="the duplicated scene")
    copy = next(i for i in ids() if i not in start)
    assert ids().index(copy) == ids().index("s2") + 1
    page.wait_for_function("document.querySelectorAll('#scene-list label').length === 4")
    title = page.locator("#scene-title textarea, #scene-title input").first
    title.fill("The chase, again")
    title.press("Enter")
    wait_for(lambda: scene(saved(project), copy)["title"] == "The chase, again", what="the new title")
    page.get_by_text("Camera, background motion, transition").click()
    page.locator("#scene-camera input").click()
    page.get_by_role("option", name="zoom out").click()
    wait_for(lambda: scene(saved(project), copy)["camera"]["motion"] == "zoom_out", what="the new camera motion")
    page.locator("#scene-up").click()
    wait_for(lambda: ids().index(copy) == ids().index("s2") - 1, what="the scene to move up")
    page.locator("#scene-delete").click()
    wait_for(lambda: ids() == start, what="the copy to be deleted")
    page.wait_for_function("document.querySelectorAll('#scene-list label').length === 3")
    page.locator("#scene-list label", has_text="The chase").click()
    page.wait_for_function("document.querySelector('#layout-editor .fd-hint').textContent.includes('of 23')")


def test_undo_reverts_the_last_edit(page, project):
    show_the_chase(page)
    page.locator("#scene-delete").click()
    wait_for(lambda: len(saved(project)["scenes"]) == 2, what="the scene deletion")
    page.wait_for_function("document.querySelectorAll('#scene-list label').length === 2")
    page.locator("#undo-button").click()  # brings the deleted scene back
    wait_for(lambda: len(saved(project)["scenes"]) == 3, what="undo of the scene deletion")
    page.wait_for_function("document.querySelectorAll('#scene-list label').length === 3")
    page.locator("#redo-button").click()
    wait_for(lambda: len(saved(project)["scenes"]) == 2, what="redo of the scene deletion")


def test_drawing_a_box_adds_a_new_entity_to_the_scene(page, project):
    show_the_chase(page)
    f = 9
    pick_frame(page, 0, f, 24)
    page.select_option("#layout-editor .fd-draw-entity", "__new__")
    page.fill("#layout-editor .fd-new-name", "butterfly")
    stage = page.locator("#layout-editor .fd-stage").bounding_box()
    x, y = stage["x"] + stage["width"] * 0.1, stage["y"] + stage["height"] * 0.1
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 80, y + 60, steps=5)
    page.mouse.up()
    wait_for(lambda: keyframes(saved(project), "s2", "butterfly") == [f], what="the drawn entity in storyboard.json")
    assert any(e["id"] == "butterfly" and e["kind"] == "foreground" for e in saved(project)["entities"])
    page.locator('#layout-editor .fd-box[data-entity="butterfly"]').wait_for()


def test_frame_description_is_saved(page, project):
    show_the_chase(page)
    f = 9
    pick_frame(page, 0, f, 24)
    note = page.locator("#frame-note textarea")
    note.fill("the kitten leaps")
    note.press("Enter")
    wait_for(lambda: {"frame": f, "description": "the kitten leaps"} in scene(saved(project), "s2")["frames"], what="the frame note")


def test_uploads_a_photo_and_refuses_bad_files_without_changing_anything(page, project, app, tmp_path):
    tab(page, "3 · Entities")
    for name in ("red ball", "kitten"):  # kitten is shown first: pick another one before, to see the pick land
        page.locator("#entity-gallery").get_by_text(name, exact=True).click()
        page.wait_for_function(f"document.querySelector('#entity-name textarea, #entity-name input').value === {json.dumps(name)}")
    desc = page.locator("#entity-description textarea")
    desc.fill("a fluffy orange kitten")
    desc.blur()
    wait_for(lambda: next(e for e in saved(project)["entities"] if e["id"] == "kitten")["description"] == "a fluffy orange kitten",
             what="the entity description")  # fmt: skip
    photo = tmp_path / "my-cat.jpg"
    Image.radial_gradient("L").resize((320, 240)).convert("RGB").save(photo, quality=90)
    before_ref = next(e for e in saved(project)["entities"] if e["id"] == "kitten")["reference"]
    upload(page, photo)
    wait_for(lambda: next(e for e in saved(project)["entities"] if e["id"] == "kitten")["reference"] != before_ref, what="the uploaded reference")
    ref = next(e for e in saved(project)["entities"] if e["id"] == "kitten")["reference"]
    assert ref["source"] == "upload" and (project / ref["image"]).is_file()
    shot(page, "03-entities")

    truncated = tmp_path / "truncated.png"
    truncated.write_bytes((project / ref["image"]).read_bytes()[:300])
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(bomb)
    for bad, message in ((truncated, "damaged"), (text, "is not an image"), (bomb, "decompression bomb")):
        close_toasts(page)
        doc = saved(project)
        assets = sorted(p.name for p in (project / "assets").iterdir())
        upload(page, bad)
        error_toast(page, message)
        shot(page, f"04-upload-refused-{bad.stem}")
        assert saved(project) == doc
        assert sorted(p.name for p in (project / "assets").iterdir()) == assets
    close_toasts(page)


def reference(project: Path, entity_id: str) -> dict | None:
    return next(e for e in saved(project)["entities"] if e["id"] == entity_id)["reference"]


def test_generate_reference_candidates_pick_one_and_cut_it_out(page, project, app):
    services = app["services"]
    if not (app["tiny"] and services.make_reference_candidates and services.cut_out):
        pytest.skip("reference generation or cut-out is not available")
    tab(page, "3 · Entities")
    page.locator("#entity-gallery").get_by_text("red ball", exact=True).click()
    page.wait_for_function("document.querySelector('#entity-name textarea, #entity-name input').value === 'red ball'")
    page.get_by_text("Generate reference images").click()
    page.locator("#entity-generate").click()
    page.locator("#entity-candidates img").first.wait_for(timeout=120_000)
    page.locator("#entity-candidates img").first.click()
    wait_for(lambda: (reference(project, "ball") or {}).get("source") == "generated", what="the picked candidate")
    picked = reference(project, "ball")
    assert (project / picked["image"]).is_file() and picked["seed"] is not None
    page.locator("#entity-cutout").click()
    wait_for(lambda: reference(project, "ball")["cutout"], what="the cut-out reference")
    cut = reference(project, "ball")
    assert cut["image"] != picked["image"]
    assert Image.open(project / cut["image"]).mode == "RGBA"
    shot(page, "04-generated-and-cut-out")


def test_preview_plays_the_scene_animatic_in_the_page(page):
    tab(page, "4 · Preview, render, export")
    page.locator("#preview-button").click()
    page.wait_for_function("(() => { const v = document.querySelector('#preview-video video'); return v && v.src && v.readyState >= 1; })()",
                           timeout=60_000)
    first = page.locator("#preview-video video").get_attribute("src")
    page.get_by_label("Whole storyboard").check()
    page.locator("#preview-button").click()
    page.wait_for_function(f"(() => {{ const v = document.querySelector('#preview-video video'); return v && v.src && v.src !== {json.dumps(first)} && v.readyState >= 1; }})()",
                           timeout=60_000)  # fmt: skip
    shot(page, "05-preview")


def test_render_with_the_animatic_shows_per_scene_clips_and_redoes_only_changed_scenes(page, project):
    tab(page, "4 · Preview, render, export")
    page.locator("#render-button").click()
    page.wait_for_function("document.querySelector('#render-log textarea').value.startsWith('done:')", timeout=90_000)
    page.wait_for_function("document.querySelectorAll('#render-clips video, #render-clips img').length >= 3")
    assert len(sorted((project / "renders").rglob("*.mp4"))) >= 3
    # change one scene (s2), render again: only that scene is rendered
    tab(page, "2 · Storyboard")
    show_the_chase(page)
    note = page.locator("#frame-note textarea")
    note.fill("the kitten stops to sniff a flower")
    note.press("Enter")
    wait_for(lambda: any(n["description"] == "the kitten stops to sniff a flower" for n in scene(saved(project), "s2")["frames"]),
             what="the changed scene")  # fmt: skip
    tab(page, "4 · Preview, render, export")
    page.locator("#render-button").click()
    page.wait_for_function("document.querySelector('#render-log textarea').value.startsWith('done: 1 rendered, 2 reused')", timeout=90_000)
    shot(page, "06-rendered")


def test_cancel_stops_a_render(page, app):
    if not app["tiny"] or "drafter" not in app["services"].generators():
        pytest.skip("no slower generator to cancel")
    tab(page, "4 · Preview, render, export")
    page.locator("#render-button").click()  # the animatic first: its clips must stay shown after the cancel
    page.wait_for_function("document.querySelector('#render-log textarea').value.startsWith('done:')", timeout=90_000)
    page.wait_for_function("document.querySelectorAll('#render-clips video, #render-clips img').length >= 3")
    page.locator("#render-generator input").click()
    page.get_by_role("option", name="drafter").click()
    page.locator("#render-button").click()
    page.wait_for_function("document.querySelector('#render-log textarea').value.includes('% done')", timeout=60_000)
    page.locator("#cancel-button").click()
    page.wait_for_function("document.querySelector('#render-log textarea').value.startsWith('cancelled')", timeout=60_000)
    assert page.locator("#render-clips img, #render-clips video").count() >= 3  # the last render's clips stay shown
    page.locator("#render-generator input").click()
    page.get_by_role("option", name="animatic").click()
    shot(page, "07-cancelled")


def test_export_mp4_downloads_a_playable_video(page, project, tmp_path):
    from flowdrafter.generators.video import probe

    tab(page, "4 · Preview, render, export")
    page.locator("#export-mp4").click()
    link = page.locator("#export-file a").first
    link.wait_for(timeout=90_000)
    exported = sorted((project / "exports").glob("*.mp4"))
    assert exported
    doc = saved(project)
    info = probe(exported[-1])
    assert (info.width, info.height) == (doc["width"], doc["height"])
    assert info.frames >= sum(s["num_frames"] for s in doc["scenes"]) - 8  # minus crossfade overlaps
    with page.expect_download() as dl:
        link.click()
    target = tmp_path / "download.mp4"
    dl.value.save_as(target)
    assert target.read_bytes() == exported[-1].read_bytes()
    shot(page, "07-exported")


def test_rerender_one_scene(page):
    show_the_chase(page)  # the scene shown in the storyboard tab is the one re-rendered
    tab(page, "4 · Preview, render, export")
    page.locator("#rerender-button").click()
    page.wait_for_function("document.querySelector('#render-log textarea').value.startsWith('re-rendered scene s2')", timeout=60_000)


def test_plan_render_and_export_are_usable_from_gradio_client(app):
    from gradio_client import Client

    from flowdrafter.generators.video import probe

    client = Client(app["url"], verbose=False)
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/plan", "/render", "/preview", "/export_mp4", "/export_pdf", "/export_otio", "/export_zip"} <= set(endpoints)
    assert not any("undo" in name or "release" in name for name in endpoints)  # plumbing stays private
    path = client.predict("animatic", api_name="/export_mp4")
    assert probe(path).frames > 0


def test_the_server_refuses_files_it_did_not_hand_out(app, tmp_path, project):
    import urllib.error
    import urllib.request

    secret = tmp_path / "secret.txt"
    secret.write_text("not for the browser")
    for path in (secret, Path("/etc/hostname"), project / "storyboard.json"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{app['url']}/gradio_api/file={path}", timeout=10)
        assert err.value.code in (403, 404), path


def test_two_tabs_on_two_projects_never_mix(page, project, app, tmp_path):
    from flowdrafter.core.examples import copy_example

    other = copy_example("kitten-garden", tmp_path / "second").root
    first_before = (project / "storyboard.json").read_text()
    ctx = page.context.browser.new_context(viewport={"width": 1400, "height": 1000})
    tab2 = ctx.new_page()
    tab2.goto(app["url"])
    tab2.wait_for_selector("#layout-editor .fd-box")
    tab2.get_by_text("Project: open another or start a new one").click()
    tab2.get_by_label("Project folder").first.fill(str(other))
    tab2.get_by_role("button", name="Open", exact=True).click()
    tab2.wait_for_function(f"document.body.innerText.includes({json.dumps(str(other))})")
    b = tab2.locator('#layout-editor .fd-box[data-entity="ball"]').bounding_box()
    tab2.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)
    tab2.mouse.down()
    tab2.mouse.move(b["x"] + b["width"] / 2 + 60, b["y"] + b["height"] / 2, steps=4)
    tab2.mouse.up()
    wait_for(lambda: json.loads((other / "storyboard.json").read_text()) != json.loads((project / "storyboard.json").read_text()),
             what="the second project to change")  # fmt: skip
    assert (project / "storyboard.json").read_text() == first_before
    assert str(project) in page.inner_text("body") and str(other) not in page.inner_text("body")
    ctx.close()


def test_plan_a_new_storyboard_with_a_tiny_llm(page, app, tmp_path):
    if not app["services"].plan or not app["services"].settings.llm.endswith(".gguf"):
        pytest.skip("the planner or its tiny GGUF is not available")
    tab(page, "1 · Plan")
    page.fill("#plan-prompt textarea", "a fox jumps over a log")
    page.get_by_label("Create a new project folder").check()
    target = tmp_path / "planned"
    folder = page.get_by_role("textbox", name="New project folder", exact=True)  # shown once "new" is picked
    folder.wait_for(state="visible")
    folder.fill(str(target))
    page.locator("#plan-button").click()
    page.wait_for_function("document.querySelector('#plan-log textarea').value.includes('done:')", timeout=150_000)
    # the planner's own last line also starts with "done:", a moment before the project is written
    wait_for(lambda: (target / "storyboard.json").is_file(), what="the planned project")
    doc = json.loads((target / "storyboard.json").read_text())
    assert doc["prompt"] == "a fox jumps over a log"
    # the editor now shows the new project
    page.wait_for_function(f"document.body.innerText.includes({json.dumps(str(target))})")
    shot(page, "08-planned")


def test_cancel_stops_planning_and_keeps_the_project(page, project, app):
    if not app["services"].plan or not app["services"].settings.llm.endswith(".gguf"):
        pytest.skip("the planner or its tiny GGUF is not available")
    before = (project / "storyboard.json").read_text()
    tab(page, "1 · Plan")
    page.fill("#plan-prompt textarea", "a heron waits in the reeds, then catches a fish")
    page.locator("#plan-button").click()
    page.wait_for_function("document.querySelector('#plan-log textarea').value.length > 0", timeout=60_000)
    page.locator("#plan-cancel").click()
    page.wait_for_function("document.querySelector('#plan-log textarea').value.includes('planning cancelled; the project is as it was')", timeout=30_000)
    assert "done:" not in page.locator("#plan-log textarea").input_value()
    assert (project / "storyboard.json").read_text() == before
    shot(page, "09-plan-cancelled")


def test_the_scene_shows_its_plan_quality_and_a_moved_box_updates_it(page, project):
    quality = page.locator("#fd-quality")
    assert "Plan quality" in quality.inner_text() and "✗" not in quality.inner_text()  # s1 passes every check
    show_the_chase(page)
    page.wait_for_function("document.querySelector('#fd-quality').innerText.includes('✓ layout')")  # s2 picks up where s1 cut
    # drag the kitten on s2's first frame far from where s1 left it: the kitten now jumps at the cut
    kitten = page.locator('#layout-editor .fd-box[data-entity="kitten"]')
    stage = page.locator("#layout-editor .fd-stage").bounding_box()
    b = kitten.bounding_box()
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] / 2 + 0.5 * stage["width"], b["y"] + b["height"] / 2, steps=6)
    page.mouse.up()
    page.wait_for_function("document.querySelector('#fd-quality').innerText.includes('✗ layout')")
    assert "continues the previous action" in quality.inner_text()
    shot(page, "03-quality")
    page.locator("#undo-button").click()  # the kitten goes back: the check passes again
    page.wait_for_function("document.querySelector('#fd-quality').innerText.includes('✓ layout')")


def test_redo_the_layout_of_one_scene(page, project, app):
    if not app["services"].replan or not app["services"].settings.llm.endswith(".gguf"):
        pytest.skip("the planner or its tiny GGUF is not available")
    before = saved(project)
    tab(page, "1 · Plan")
    page.get_by_text("Redo one stage").click()
    page.locator("#replan-button").click()
    page.wait_for_function("document.querySelector('#plan-log textarea').value.includes('done: redid the layout')", timeout=150_000)
    from flowdrafter.core.project import Project

    after = Project.open(project).load()  # still a valid storyboard on disk, same scenes
    assert [s.id for s in after.scenes] == [s["id"] for s in before["scenes"]]
