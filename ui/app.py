"""The FlowDrafter editor: plan, edit the script, entities and boxes, preview, render and export.

The layout reads top-down in nested `with` blocks. Per-session state is one `gr.State` holding plain data
(see `ui.state`); every edit is a pure function from `ui.handlers`, applied through `ui.state.apply`
(undo history + atomic autosave), after which the views are recomputed from the document (`ui.views`).
Plumbing events are hidden from the API; `plan`, `render`, `preview` and `export_*` have `api_name`s (see
docs/editor.md). Work that runs models or renders shares one queue (`services.GPU_QUEUE`, one at a time).
"""

from __future__ import annotations

import functools
import inspect
import queue
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from flowdrafter.core.errors import Cancelled, FlowDrafterError, ProjectError
from flowdrafter.core.examples import DEFAULT_EXAMPLE, copy_example, list_examples
from flowdrafter.core.images import store_image
from flowdrafter.core.layout import keyframe_frames
from flowdrafter.core.project import Project, is_project
from flowdrafter.core.storyboard import MAX_MOTION, Storyboard, slugify

from . import handlers, state, views
from .layout_editor import layout_editor, editor_value
from .services import GPU_QUEUE, Services
from .state import Session

PRIVATE = "private"  # api_visibility of UI plumbing


# -- errors at the edge --------------------------------------------------------------------------------


def user_errors(fn: Callable) -> Callable:
    """Turn a FlowDrafterError into gr.Error with its message: a person sees why, never a traceback."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from fn(*args, **kwargs)
            except FlowDrafterError as err:
                raise gr.Error(str(err), print_exception=False) from None

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FlowDrafterError as err:
            raise gr.Error(str(err), print_exception=False) from None

    return wrapper


def run_in_thread(work: Callable[[Callable[..., None]], Any]) -> Iterator[tuple[str, Any]]:
    """Run `work(report)` in a thread; yield ("progress", args) for each report, then ("done", result).

    Lets a generator event stream live progress from library code that takes a plain callback.
    """
    q: queue.Queue = queue.Queue()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = work(lambda *a: q.put(a))
        except BaseException as err:  # noqa: BLE001 - re-raised in the event's thread below
            box["error"] = err
        finally:
            q.put(None)

    threading.Thread(target=target, daemon=True).start()
    while (item := q.get()) is not None:
        yield "progress", item
    if "error" in box:
        raise box["error"]
    yield "done", box.get("result")


# -- the app -------------------------------------------------------------------------------------------


def build_app(start: Session | None = None, services: Services | None = None) -> gr.Blocks:
    """The editor for one starting project (`start` from `state.open_session`); each browser tab gets a copy."""
    services = services or Services()
    start = start or state.empty_session()
    generators = services.generators()

    with gr.Blocks(title="FlowDrafter", delete_cache=(3600, 24 * 3600)) as demo:  # Gradio's copies of served files
        session = gr.State(start)
        candidates = gr.State([])  # [(relative path, seed)] offered for the selected entity
        focus = gr.State({})  # what to show after an edit: {"scene", "frame", "entity"}, "fast" = editor already shown

        # -- header: title, undo/redo ------------------------------------------------------------------
        with gr.Row(elem_id="fd-header"):
            header = gr.Markdown(views.header(None, None))
            undo_btn = gr.Button("Undo", elem_id="undo-button", size="sm", interactive=False, scale=0, min_width=90)
            redo_btn = gr.Button("Redo", elem_id="redo-button", size="sm", interactive=False, scale=0, min_width=90)

        with gr.Accordion("Project: open another or start a new one", open=not state.has_project(start)):
            with gr.Row():
                open_dir = gr.Textbox(label="Project folder", placeholder="/path/to/project", scale=3)
                open_btn = gr.Button("Open", scale=1)
            with gr.Row():
                new_dir = gr.Textbox(label="New project folder (new or empty)", scale=3)
                example = gr.Dropdown(list_examples(), value=DEFAULT_EXAMPLE if DEFAULT_EXAMPLE in list_examples() else None, label="Example", scale=1)
                new_btn = gr.Button("New from example", scale=1)

        with gr.Tabs(selected="storyboard") as tabs:
            # -- plan ----------------------------------------------------------------------------------
            with gr.Tab("1 · Plan", id="plan", visible=services.plan is not None):
                plan_prompt = gr.Textbox(label="What should the video show?", lines=3, elem_id="plan-prompt",
                                         placeholder="a kitten chases a red ball through a garden, then falls asleep in the sun")
                with gr.Row():
                    plan_scenes = gr.Slider(1, 12, value=3, step=1, label="Scenes")
                    plan_llm = gr.Textbox(label="LLM (.gguf file, or hub repo:file pattern)", value=services.settings.llm, scale=2)
                with gr.Row():
                    plan_into = gr.Radio([("Replace this project's storyboard (undo brings it back)", "this"), ("Create a new project folder", "new")],
                                         value="this", label="Put the plan in", scale=2)
                    plan_dir = gr.Textbox(label="New project folder", placeholder="e.g. ~/videos/fox-and-log", scale=2, visible=False)
                plan_btn = gr.Button("Plan the storyboard", variant="primary", elem_id="plan-button")
                plan_log = gr.Textbox(label="Planner progress", lines=6, max_lines=12, interactive=False, elem_id="plan-log")
                with gr.Accordion("Redo one stage", open=False, visible=services.replan is not None):
                    with gr.Row():
                        replan_stage = gr.Dropdown([("script", "script"), ("entities", "entities"), ("layout (boxes)", "layout")], value="layout", label="Stage")
                        replan_scene = gr.Dropdown([], label="Scene (layout only; empty = all)")
                        replan_btn = gr.Button("Redo", elem_id="replan-button")

            # -- storyboard: scenes + layout editor -------------------------------------------------------
            with gr.Tab("2 · Storyboard", id="storyboard"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=300):
                        start_sb = state.storyboard(start) if state.has_project(start) else None
                        scene_list = gr.Radio(views.scene_choices(start_sb) if start_sb else [], value=start_sb.scenes[0].id if start_sb else None,
                                              label="Scenes", elem_id="scene-list")
                        with gr.Row(elem_classes="fd-small"):
                            add_scene_btn = gr.Button("Add", size="sm", elem_id="scene-add")
                            dup_scene_btn = gr.Button("Duplicate", size="sm", elem_id="scene-duplicate")
                            up_btn = gr.Button("Up", size="sm", elem_id="scene-up")
                            down_btn = gr.Button("Down", size="sm", elem_id="scene-down")
                            del_scene_btn = gr.Button("Delete", size="sm", variant="stop", elem_id="scene-delete")
                        warnings_md = gr.Markdown("")
                        with gr.Group():
                            f_title = gr.Textbox(label="Title", elem_id="scene-title")
                            f_event = gr.Textbox(label="What happens (event)", lines=2, elem_id="scene-event")
                            f_frames = gr.Slider(1, 256, step=1, value=16, label="Length (frames)", elem_id="scene-frames")
                            f_background = gr.Dropdown([], label="Background", elem_id="scene-background")
                        with gr.Accordion("Camera, background motion, transition", open=False):
                            with gr.Row():
                                f_camera = gr.Dropdown(views.CAMERA_CHOICES, label="Camera", elem_id="scene-camera")
                                f_strength = gr.Slider(0, 1, step=0.05, label="Camera strength")
                            with gr.Row():
                                f_dx = gr.Slider(-MAX_MOTION, MAX_MOTION, step=0.005, label="Background drift x (fraction of the frame per frame)")
                                f_dy = gr.Slider(-MAX_MOTION, MAX_MOTION, step=0.005, label="Background drift y")
                            with gr.Row():
                                f_transition = gr.Dropdown(views.TRANSITION_CHOICES, label="Transition to next", elem_id="scene-transition")
                                f_tframes = gr.Slider(0, 16, step=1, label="Transition frames")
                    with gr.Column(scale=2, min_width=480):
                        editor = layout_editor()
                        frame = gr.Slider(0, 15, step=1, value=0, label="Frame", elem_id="frame-slider")
                        note = gr.Textbox(label="Description on this frame", elem_id="frame-note", lines=1)

            # -- entities --------------------------------------------------------------------------------
            with gr.Tab("3 · Entities", id="entities"):
                with gr.Row():
                    with gr.Column(scale=2):
                        gallery = gr.Gallery(label="Entities (click one to edit it)", columns=4, height="auto",
                                             allow_preview=False, elem_id="entity-gallery", object_fit="contain")
                    with gr.Column(scale=1, min_width=300):
                        entity_dd = gr.Dropdown([], label="Entity", elem_id="entity-select")
                        e_name = gr.Textbox(label="Name", elem_id="entity-name")
                        e_desc = gr.Textbox(label="Description", lines=3, elem_id="entity-description")
                        e_ref = gr.Image(label="Reference image", interactive=False, height=180, elem_id="entity-reference", buttons=[])
                        e_upload = gr.UploadButton("Upload a photo (PNG, JPEG, WebP)", file_types=[".png", ".jpg", ".jpeg", ".webp"],
                                                   type="filepath", elem_id="entity-upload", variant="primary", size="md")
                        with gr.Row():
                            cutout_btn = gr.Button("Cut out background", size="sm", visible=services.remove_background is not None, elem_id="entity-cutout")
                            clear_ref_btn = gr.Button("Remove image", size="sm", elem_id="entity-clear")
                            del_entity_btn = gr.Button("Delete entity", size="sm", variant="stop", elem_id="entity-delete")
                        with gr.Accordion("Generate reference images", open=False, visible=services.make_reference_candidates is not None):
                            with gr.Row():
                                n_candidates = gr.Slider(1, 4, value=2, step=1, label="How many", scale=1)
                                gen_btn = gr.Button("Generate", elem_id="entity-generate", scale=1)
                            cand_gallery = gr.Gallery(label="Click one to use it", columns=4, height=160, allow_preview=False, elem_id="entity-candidates")
                        with gr.Accordion("Add an entity", open=False):
                            new_e_name = gr.Textbox(label="Name")
                            new_e_kind = gr.Radio(["foreground", "background"], value="foreground", label="Kind")
                            new_e_btn = gr.Button("Add entity", elem_id="entity-add")

            # -- preview, render, export -----------------------------------------------------------------
            with gr.Tab("4 · Preview, render, export", id="output"):
                with gr.Row():
                    with gr.Column(scale=2):
                        video = gr.Video(label="Preview", elem_id="preview-video", autoplay=True, height=360)
                    with gr.Column(scale=1, min_width=300):
                        preview_scope = gr.Radio([("This scene", "scene"), ("Whole storyboard", "all")], value="scene", label="Animatic preview of")
                        preview_btn = gr.Button("▶ Preview", variant="primary", elem_id="preview-button",
                                                visible=services.render_storyboard is not None and services.export is not None)
                        gen_dd = gr.Dropdown(generators, value="animatic" if "animatic" in generators else (generators[0] if generators else None),
                                             label="Generator", elem_id="render-generator")
                        force = gr.Checkbox(False, label="Re-render unchanged scenes too")
                        with gr.Row():
                            render_btn = gr.Button("Render", variant="primary", elem_id="render-button", visible=services.render_storyboard is not None)
                            rerender_btn = gr.Button("Re-render this scene", elem_id="rerender-button", visible=services.render_storyboard is not None)
                            cancel_btn = gr.Button("Cancel", variant="stop", elem_id="cancel-button", visible=services.render_storyboard is not None)
                        render_log = gr.Textbox(label="Render progress", lines=4, interactive=False, elem_id="render-log")
                clips = gr.Gallery(label="Rendered clips, per scene", columns=4, height="auto", elem_id="render-clips")
                with gr.Row(visible=services.export is not None):
                    exp_mp4 = gr.Button("Export MP4", elem_id="export-mp4")
                    exp_pdf = gr.Button("Export PDF storyboard", elem_id="export-pdf")
                    exp_otio = gr.Button("Export OTIO timeline", elem_id="export-otio")
                    exp_zip = gr.Button("Export project zip", elem_id="export-zip")
                download = gr.File(label="Download", elem_id="export-file", interactive=False)

        # ===============================================================================================
        # views
        # ===============================================================================================

        scene_form = [f_title, f_event, f_frames, f_background, f_camera, f_strength, f_dx, f_dy, f_transition, f_tframes]
        entity_form = [entity_dd, e_name, e_desc, e_ref]
        ALL = [header, undo_btn, redo_btn, scene_list, warnings_md, *scene_form, editor, frame, note,
               gallery, *entity_form, replan_scene]  # fmt: skip

        def editor_view(s: Session, scene_id: str, f: int) -> dict:
            if not state.has_project(s):
                return {"empty": True}
            sb = state.storyboard(s)
            scene_id = views.pick_scene(sb, scene_id)
            num = sb.scene(scene_id).num_frames
            f = max(0, min(int(f or 0), num - 1))
            image = services.compose_frame(state.project(s), sb, scene_id, f, captions=False) if services.compose_frame else None
            return editor_value(sb, scene_id, f, image)

        def undo_redo(s: Session) -> list:
            return [gr.update(interactive=state.can_undo(s)), gr.update(interactive=state.can_redo(s))]

        def note_view(sb: Storyboard, scene_id: str, f: int) -> Any:
            text, hint = views.frame_note(sb, scene_id, f)
            return gr.update(value=text, placeholder=hint, label=f"Description on frame {f}")

        def refresh(s: Session, scene_id: str | None, f: int | float | None, entity_id: str | None) -> list:
            if not state.has_project(s):
                return [views.header(None, None), *undo_redo(s)] + [gr.update()] * (len(ALL) - 3)
            sb = state.storyboard(s)
            project = state.project(s)
            serve_media(demo, project)
            sid = views.pick_scene(sb, scene_id)
            scene = sb.scene(sid)
            f = max(0, min(int(f or 0), scene.num_frames - 1))
            eid = views.pick_entity(sb, entity_id)
            entity = sb.entity(eid) if eid else None
            return [
                views.header(sb, s["project"]),
                *undo_redo(s),
                gr.update(choices=views.scene_choices(sb), value=sid),
                views.scene_warnings(sb, sid),
                scene.title,
                scene.event,
                gr.update(value=scene.num_frames, maximum=max(256, scene.num_frames)),
                gr.update(choices=views.background_choices(sb), value=scene.background or ""),
                scene.camera.motion.value,
                scene.camera.strength,
                scene.background_motion.dx,
                scene.background_motion.dy,
                scene.transition.kind.value,
                gr.update(value=scene.transition.frames, maximum=min(120, scene.num_frames)),
                editor_view(s, sid, f),
                gr.update(maximum=max(1, scene.num_frames - 1), value=f, label=f"Frame (keyframes on {', '.join(map(str, keyframe_frames(scene))) or 'none'})"),
                note_view(sb, sid, f),
                views.gallery_items(project, sb),
                gr.update(choices=views.entity_choices(sb), value=eid),
                entity.name if entity else "",
                entity.description if entity else "",
                views.reference_path(project, sb, eid),
                gr.update(choices=[("all scenes", "")] + [(label, v) for label, v in views.scene_choices(sb)], value=""),
            ]

        def edit(fn: Callable[..., tuple[Storyboard, str] | Storyboard]) -> Callable:
            """Wrap a pure handler `fn(sb, scene_id, frame, entity_id, *args)` into an edit event.

            `fn` returns the new storyboard, or (new storyboard, id of the scene to show next).
            """

            @user_errors
            def event(s: Session, scene_id: str, f: float, entity_id: str, *args: Any) -> list:
                def change(sb: Storyboard) -> tuple[Storyboard, tuple[str, str | None]]:
                    sid = views.pick_scene(sb, scene_id)
                    result = fn(sb, sid, int(f or 0), entity_id, *args)
                    new, picked = result if isinstance(result, tuple) else (result, None)
                    return new, (sid, picked)

                s, (sid, picked) = state.apply(s, change)
                return shown(s, picked or sid, f, entity_id)

            return event

        CTX = [session, scene_list, frame, entity_dd]

        def shown(s: Session, scene_id: str | None, f: Any, entity_id: str | None, **extra: Any) -> tuple[Session, dict]:
            return s, {"scene": scene_id, "frame": int(f or 0), "entity": entity_id, **extra}

        def show(s: Session, where: dict) -> list:
            if where.get("fast"):
                return [gr.update()] * len(ALL)
            return refresh(s, where.get("scene"), where.get("frame"), where.get("entity"))

        def on(trigger: Any, fn: Callable, inputs: list | None = None, outputs: list | None = None, *, context: bool = True,
               **kw: Any) -> Any:
            """An edit event: `fn(*CTX, *inputs)` returns the new session and focus (so an error lands on invisible
            state, not on every view), then the views are recomputed."""
            dep = trigger(fn, inputs=(CTX if context else []) + (inputs or []), outputs=outputs or [session, focus],
                          api_visibility=PRIVATE, **kw)
            return dep.success(show, [session, focus], ALL, api_visibility=PRIVATE, show_progress="hidden")

        # -- load, open, new ------------------------------------------------------------------------------

        @user_errors
        def on_load(s: Session) -> list:
            """A new tab reads the project from disk: another tab may have changed it since the app started."""
            s = state.open_session(s["project"]) if state.has_project(s) else s
            return [s, *refresh(s, None, 0, None)]

        demo.load(on_load, [session], [session, *ALL], api_visibility=PRIVATE, queue=False, show_progress="hidden")

        @user_errors
        def open_project(folder: str) -> list:
            if not (folder or "").strip():
                raise ProjectError("type the path of a project folder to open")
            s = state.open_session(Path(folder.strip()).expanduser())
            return shown(s, None, 0, None)

        on(open_btn.click, open_project, [open_dir], context=False)
        on(open_dir.submit, open_project, [open_dir], context=False)

        @user_errors
        def new_project(folder: str, name: str) -> list:
            if not (folder or "").strip():
                raise ProjectError("type a folder for the new project")
            copy_example(name or DEFAULT_EXAMPLE, Path(folder.strip()).expanduser())
            s = state.open_session(Path(folder.strip()).expanduser())
            return shown(s, None, 0, None)

        on(new_btn.click, new_project, [new_dir, example], context=False)

        # -- undo / redo ---------------------------------------------------------------------------------

        @user_errors
        def do_undo(s: Session, scene_id: str, f: float, entity_id: str) -> list:
            s, changed = state.undo(s)
            return shown(s, scene_id, f, entity_id)

        @user_errors
        def do_redo(s: Session, scene_id: str, f: float, entity_id: str) -> list:
            s, changed = state.redo(s)
            return shown(s, scene_id, f, entity_id)

        on(undo_btn.click, do_undo)
        on(redo_btn.click, do_redo)

        # -- scenes --------------------------------------------------------------------------------------

        on(scene_list.input, user_errors(lambda s, sid, f, eid: shown(s, sid, 0, eid)))
        on(add_scene_btn.click, edit(lambda sb, sid, f, eid: handlers.add_scene(sb, sid)))
        on(dup_scene_btn.click, edit(lambda sb, sid, f, eid: handlers.duplicate_scene(sb, sid)))
        on(del_scene_btn.click, edit(lambda sb, sid, f, eid: handlers.delete_scene(sb, sid)))
        on(up_btn.click, edit(lambda sb, sid, f, eid: handlers.move_scene(sb, sid, -1)))
        on(down_btn.click, edit(lambda sb, sid, f, eid: handlers.move_scene(sb, sid, +1)))

        def apply_form(sb: Storyboard, sid: str, f: int, eid: str, title: str, event: str, frames: float, background: str,
                       camera: str, strength: float, dx: float, dy: float, transition: str, tframes: float) -> Storyboard:
            return handlers.edit_scene(sb, sid, title=title, event=event, num_frames=int(frames), background=background,
                                       camera_motion=camera, camera_strength=strength, dx=dx, dy=dy,
                                       transition=transition, transition_frames=int(tframes))  # fmt: skip

        form_event = edit(apply_form)
        for box in (f_title, f_event):
            on(box.blur, form_event, scene_form)
            on(box.submit, form_event, scene_form) if box is f_title else None
        for dd in (f_background, f_camera, f_transition):
            on(dd.input, form_event, scene_form)
        for sl in (f_frames, f_strength, f_dx, f_dy, f_tframes):
            on(sl.release, form_event, scene_form)

        # -- the layout editor ---------------------------------------------------------------------------

        @user_errors
        def on_release(s: Session, scene_id: str, f: float, entity_id: str, evt: gr.EventData) -> Any:
            data = evt._data or {}
            sid = views.pick_scene(state.storyboard(s), scene_id)
            if data.get("action") == "add":
                s, eid = state.apply(s, lambda sb: handlers.draw_box(sb, sid, int(f), data.get("entity") or "", data.get("name") or "", data["box"]))
                return (*shown(s, sid, f, eid), gr.update(), gr.update(), gr.update(), gr.update())
            s, _ = state.apply(s, lambda sb: handlers.move_box(sb, sid, int(f), data["entity"], data["box"]))
            # a move changes only the editor and the undo state: answer with those at once (drag latency)
            frames = ", ".join(map(str, keyframe_frames(state.storyboard(s).scene(sid))))
            return (*shown(s, sid, f, entity_id, fast=True), editor_view(s, sid, f), *undo_redo(s), gr.update(label=f"Frame (keyframes on {frames})"))

        on(editor.release, on_release, outputs=[session, focus, editor, undo_btn, redo_btn, frame], trigger_mode="multiple",
           show_progress="hidden", queue=False)

        @user_errors
        def on_delete(s: Session, scene_id: str, f: float, entity_id: str, evt: gr.EventData) -> list:
            sid = views.pick_scene(state.storyboard(s), scene_id)
            s, _ = state.apply(s, lambda sb: handlers.delete_keyframe(sb, sid, int(f), (evt._data or {}).get("entity", "")))
            return shown(s, sid, f, entity_id)

        @user_errors
        def on_pick_frame(s: Session, scene_id: str, evt: gr.EventData) -> list:
            sb = state.storyboard(s)
            sid = views.pick_scene(sb, scene_id)
            f = int((evt._data or {}).get("frame", 0))
            return [editor_view(s, sid, f), gr.update(value=f), note_view(sb, sid, f)]

        @user_errors
        def on_scrub(s: Session, scene_id: str, f: float) -> list:
            sb = state.storyboard(s)
            sid = views.pick_scene(sb, scene_id)
            return [editor_view(s, sid, f), note_view(sb, sid, int(f))]

        on(editor.delete, on_delete)
        editor.select(on_pick_frame, [session, scene_list], [editor, frame, note], show_progress="hidden", queue=False,
                      api_visibility=PRIVATE)
        frame.input(on_scrub, [session, scene_list, frame], [editor, note], trigger_mode="always_last",
                    show_progress="hidden", queue=False, api_visibility=PRIVATE)
        on(note.blur, edit(lambda sb, sid, f, eid, text: handlers.set_frame_note(sb, sid, f, text)), [note])
        on(note.submit, edit(lambda sb, sid, f, eid, text: handlers.set_frame_note(sb, sid, f, text)), [note])

        # -- entities --------------------------------------------------------------------------------------

        on(entity_dd.input, user_errors(lambda s, sid, f, eid: shown(s, sid, f, eid)))

        @user_errors
        def on_gallery(s: Session, scene_id: str, f: float, entity_id: str, evt: gr.SelectData) -> list:
            sb = state.storyboard(s)
            eid = sb.entities[evt.index].id if 0 <= evt.index < len(sb.entities) else entity_id
            return shown(s, scene_id, f, eid)

        on(gallery.select, on_gallery)
        entity_edit = edit(lambda sb, sid, f, eid, name, desc: handlers.edit_entity(sb, eid, name, desc))
        on(e_name.blur, entity_edit, [e_name, e_desc])
        on(e_desc.blur, entity_edit, [e_name, e_desc])

        @user_errors
        def on_upload(s: Session, scene_id: str, f: float, entity_id: str, path: str | None) -> list:
            if not path:
                return shown(s, scene_id, f, entity_id)
            if not entity_id:
                raise ProjectError("pick an entity first, then upload its photo")
            s, _ = state.apply(s, lambda sb: handlers.upload_reference(state.project(s), sb, entity_id, path, name=Path(path).name))
            return shown(s, scene_id, f, entity_id)

        uploaded = e_upload.upload(on_upload, CTX + [e_upload], [session, focus], api_visibility=PRIVATE)
        uploaded.success(show, [session, focus], ALL, api_visibility=PRIVATE, show_progress="hidden")
        on(clear_ref_btn.click, edit(lambda sb, sid, f, eid: handlers.clear_reference(sb, eid)))
        on(del_entity_btn.click, edit(lambda sb, sid, f, eid: handlers.remove_entity(sb, eid)))

        @user_errors
        def on_add_entity(s: Session, scene_id: str, f: float, entity_id: str, name: str, kind: str) -> list:
            s, eid = state.apply(s, lambda sb: handlers.add_entity(sb, name, kind))
            return shown(s, scene_id, f, eid)

        on(new_e_btn.click, on_add_entity, [new_e_name, new_e_kind])

        if services.remove_background is not None:

            @user_errors
            def on_cutout(s: Session, scene_id: str, f: float, entity_id: str) -> list:
                from flowdrafter.core.images import load_asset_image

                sb = state.storyboard(s)
                entity = sb.entity(entity_id) if entity_id else None
                if entity is None or entity.reference is None:
                    raise ProjectError("this entity has no image to cut out; upload or generate one first")
                project = state.project(s)
                rgba = services.remove_background(load_asset_image(project, entity.reference.image), services.settings)
                rel = store_image(project, rgba)
                ref = entity.reference
                s, _ = state.apply(s, lambda sb: handlers.use_reference(sb, entity_id, rel, source=ref.source, cutout=True, seed=ref.seed))
                return shown(s, scene_id, f, entity_id)

            on(cutout_btn.click, on_cutout, concurrency_id=GPU_QUEUE, concurrency_limit=1)

        if services.make_reference_candidates is not None:

            @user_errors
            def on_generate(s: Session, entity_id: str, n: float, progress: gr.Progress = gr.Progress()) -> Any:
                if not entity_id:
                    raise ProjectError("pick an entity first")
                project = state.project(s)
                found = services.make_reference_candidates(project, state.storyboard(s), entity_id, int(n), settings=services.settings,
                                                           progress=lambda frac, msg="": progress(frac, desc=msg))
                return found, [(str(project.resolve_asset(rel)), f"seed {seed}") for rel, seed in found]

            gen_btn.click(on_generate, [session, entity_dd, n_candidates], [candidates, cand_gallery], api_visibility=PRIVATE,
                          concurrency_id=GPU_QUEUE, concurrency_limit=1)

            @user_errors
            def on_pick_candidate(s: Session, scene_id: str, f: float, entity_id: str, found: list, evt: gr.SelectData) -> list:
                rel, seed = found[evt.index]
                s, _ = state.apply(s, lambda sb: handlers.use_reference(sb, entity_id, rel, source="generated", seed=seed))
                return shown(s, scene_id, f, entity_id)

            on(cand_gallery.select, on_pick_candidate, [candidates])

        # -- plan --------------------------------------------------------------------------------------------

        plan_into.change(lambda into: gr.update(visible=into == "new"), plan_into, plan_dir, api_visibility=PRIVATE, queue=False,
                         show_progress="hidden")

        if services.plan is not None:

            @user_errors
            def run_plan(s: Session, prompt: str, n_scenes: float, llm: str, into: str, folder: str) -> Iterator[dict]:
                """Plan a storyboard from a prompt; streams the planner's progress into the log."""
                if not (prompt or "").strip():
                    raise ProjectError("describe the video to plan in the prompt box")
                target = Path(folder.strip()).expanduser() if into == "new" and (folder or "").strip() else None
                if into == "new" and target is None:
                    raise ProjectError("type a folder for the new project, or choose to replace this project's storyboard")
                if into == "new" and target.exists() and (not target.is_dir() or any(target.iterdir())):
                    raise ProjectError(f"{target} is not empty; choose a new folder")
                if into == "this" and not state.has_project(s):
                    raise ProjectError("no project is open; choose 'Create a new project folder'")
                settings = services.settings.model_copy(update={"llm": llm.strip()}) if (llm or "").strip() else services.settings
                lines: list[str] = []
                for kind, item in run_in_thread(lambda report: services.plan(prompt.strip(), settings=settings, scenes=int(n_scenes), progress=report)):
                    if kind == "progress":
                        lines.append(str(item[0]))
                        yield {plan_log: "\n".join(lines[-200:])}
                    else:
                        sb = item
                if target is not None:
                    Project.create(target, sb)
                    s = state.open_session(target)
                else:
                    s = state.commit(s, sb)
                lines.append(f"done: {len(sb.scenes)} scenes, {len(sb.entities)} entities")
                s, where = shown(s, None, 0, None)
                yield {session: s, focus: where, plan_log: "\n".join(lines[-200:]), tabs: gr.Tabs(selected="storyboard")}

            planned = plan_btn.click(run_plan, [session, plan_prompt, plan_scenes, plan_llm, plan_into, plan_dir], [session, focus, plan_log, tabs],
                                     api_name="plan", concurrency_id=GPU_QUEUE, concurrency_limit=1)
            planned.success(show, [session, focus], ALL, api_visibility=PRIVATE, show_progress="hidden")

        if services.replan is not None:

            @user_errors
            def run_replan(s: Session, scene_id: str, f: float, entity_id: str, stage: str, only: str, llm: str) -> Iterator[dict]:
                sb = state.storyboard(s)
                settings = services.settings.model_copy(update={"llm": llm.strip()}) if (llm or "").strip() else services.settings
                lines: list[str] = []
                for kind, item in run_in_thread(lambda report: services.replan(sb, stage=stage, scene_id=(only or None) if stage == "layout" else None,
                                                                              settings=settings, progress=report)):  # fmt: skip
                    if kind == "progress":
                        lines.append(str(item[0]))
                        yield {plan_log: "\n".join(lines[-200:])}
                    else:
                        new = item
                s = state.commit(s, new)
                lines.append(f"done: redid the {stage}" + (f" of scene {only}" if only and stage == "layout" else ""))
                s, where = shown(s, scene_id, f, entity_id)
                yield {session: s, focus: where, plan_log: "\n".join(lines[-200:])}

            on(replan_btn.click, run_replan, [replan_stage, replan_scene, plan_llm], outputs=[session, focus, plan_log],
               concurrency_id=GPU_QUEUE, concurrency_limit=1)

        # -- preview, render, export --------------------------------------------------------------------------

        def render_job(s: Session, generator: str, scene_ids: list[str] | None, force_all: bool, request: gr.Request | None,
                       progress: gr.Progress) -> Iterator[tuple[str, Any]]:
            project = state.project(s)
            flag = services.start_job(request.session_hash if request else None)
            for kind, item in run_in_thread(lambda report: services.render_storyboard(
                    project, generator, scene_ids=scene_ids, force=force_all, settings=services.settings,
                    progress=report, is_cancelled=flag.is_set)):  # fmt: skip
                if kind == "progress":
                    fraction, message = (list(item) + [0.0, ""])[:2]
                    progress(float(fraction), desc=str(message))
                yield kind, item

        def clip_items(report: Any) -> list[tuple[str, str]]:
            out = []
            for sc in getattr(report, "scenes", []) or []:
                path = getattr(sc, "clip", None) or getattr(sc, "path", None)
                if path:
                    how = "reused" if getattr(sc, "reused", False) else "rendered"
                    out.append((str(path), f"{getattr(sc, 'scene_id', '')} · {how}"))
            return out

        if services.render_storyboard is not None:

            @user_errors
            def run_render(s: Session, generator: str, force_all: bool, request: gr.Request,
                           progress: gr.Progress = gr.Progress()) -> Iterator[tuple]:
                """Render every changed scene with `generator`; returns the per-scene clips and a log."""
                per_scene: dict[str, str] = {}  # one line per scene: its latest message
                try:
                    for kind, item in render_job(s, generator, None, bool(force_all), request, progress):
                        if kind == "progress":
                            message = str(item[1]) if len(item) > 1 else ""
                            per_scene[message.split(":", 1)[0]] = message
                            yield gr.update(), f"{float(item[0]) * 100:.0f}% done\n" + "\n".join(per_scene.values())
                        else:
                            report = item
                except Cancelled:  # not an error: finished scenes stay in the cache, the next render reuses them
                    yield gr.update(), "cancelled; scenes finished before the cancel are kept and will be reused\n" + "\n".join(per_scene.values())
                    return
                items = clip_items(report)
                reused = sum(1 for _, c in items if c.endswith("reused"))
                warnings = "".join(f"\nwarning: {w}" for w in getattr(report, "warnings", []) or [])
                yield items, f"done: {len(items) - reused} rendered, {reused} reused\n" + "\n".join(per_scene.values()) + warnings

            render_btn.click(run_render, [session, gen_dd, force], [clips, render_log], api_name="render",
                             concurrency_id=GPU_QUEUE, concurrency_limit=1)

            @user_errors
            def run_rerender(s: Session, scene_id: str, generator: str, request: gr.Request,
                             progress: gr.Progress = gr.Progress()) -> Iterator[tuple]:
                sid = views.pick_scene(state.storyboard(s), scene_id)
                try:
                    for kind, item in render_job(s, generator, [sid], True, request, progress):
                        if kind == "done":
                            yield clip_items(item), f"re-rendered scene {sid}"
                except Cancelled:
                    yield gr.update(), f"cancelled the re-render of scene {sid}"

            rerender_btn.click(run_rerender, [session, scene_list, gen_dd], [clips, render_log], api_visibility=PRIVATE,
                                                concurrency_id=GPU_QUEUE, concurrency_limit=1)

            def do_cancel(request: gr.Request) -> str:
                return "cancelling…" if services.cancel(request.session_hash if request else None) else "nothing to cancel"

            cancel_btn.click(do_cancel, None, render_log, api_visibility=PRIVATE, queue=False)

        if services.render_storyboard is not None and services.export is not None:

            @user_errors
            def run_preview(s: Session, scene_id: str, scope: str, request: gr.Request, progress: gr.Progress = gr.Progress()) -> Iterator[Any]:
                """The animatic of the shown scene, or of the whole storyboard, played in the page."""
                sb = state.storyboard(s)
                if scope == "all":
                    out = services.session_dir(request.session_hash if request else None) / "preview.mp4"
                    project = state.project(s)
                    for kind, item in run_in_thread(lambda report: services.export(project, out, generator="animatic",
                                                                                   settings=services.settings, progress=report)):
                        if kind == "progress":
                            progress(float(item[0]), desc=str(item[1]) if len(item) > 1 else "")
                    yield str(out)
                    return
                sid = views.pick_scene(sb, scene_id)
                for kind, item in render_job(s, "animatic", [sid], False, request, progress):
                    if kind == "done":
                        items = clip_items(item)
                        yield items[0][0] if items else None

            preview_btn.click(run_preview, [session, scene_list, preview_scope], [video], api_name="preview",
                              concurrency_id=GPU_QUEUE, concurrency_limit=1)

        if services.export is not None:

            def make_export(ext: str) -> Callable:
                @user_errors
                def run_export(s: Session, generator: str, progress: gr.Progress = gr.Progress()) -> str:
                    project = state.project(s)
                    sb = state.storyboard(s)
                    project.exports_dir.mkdir(parents=True, exist_ok=True)
                    out = project.exports_dir / f"{slugify(sb.title, fallback='storyboard')}.{ext}"
                    result = None
                    for kind, item in run_in_thread(lambda report: services.export(project, out, generator=generator or "animatic",
                                                                                   settings=services.settings, progress=report)):
                        if kind == "progress":
                            progress(float(item[0]), desc=str(item[1]) if len(item) > 1 else "")
                        else:
                            result = item
                    return str(result or out)

                run_export.__name__ = f"export_{ext}"
                return run_export

            for btn, ext in ((exp_mp4, "mp4"), (exp_pdf, "pdf"), (exp_otio, "otio"), (exp_zip, "zip")):
                btn.click(make_export(ext), [session, gen_dd], [download], api_name=f"export_{ext}",
                          concurrency_id=GPU_QUEUE, concurrency_limit=1)

    demo.services = services  # type: ignore[attr-defined]
    return demo


# -- starting --------------------------------------------------------------------------------------------


def start_session(folder: Path | None, example: str = DEFAULT_EXAMPLE, data_dir: Path | None = None) -> Session:
    """The project the app opens: `folder` if it is a project, else a copy of `example` made there.

    Without a folder, the example is copied once into the data folder and reopened on later starts.
    """
    if folder is None:
        from flowdrafter.core.settings import get_settings

        folder = (data_dir or get_settings().data_dir) / "projects" / example
    folder = Path(folder).expanduser()
    if is_project(folder):
        return state.open_session(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ProjectError(f"{folder} is not a FlowDrafter project (no storyboard.json) and is not empty")
    copy_example(example, folder)
    return state.open_session(folder)


def serve_media(demo: gr.Blocks, project: Project) -> None:
    """Let Gradio hand out an open project's media (assets, renders, exports), wherever the folder is.

    Gradio serves only its temp folder, the working directory and `allowed_paths`; a project elsewhere
    (the default one lives in the data folder) would otherwise show no images. `storyboard.json` and
    `.history/` stay private.
    """
    for folder in (project.assets_dir, project.renders_dir, project.exports_dir):
        path = str(folder.resolve())
        if path not in demo.allowed_paths:
            demo.allowed_paths.append(path)


LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|localhost|::1)$")


def exposure_warning(host: str, auth: tuple[str, str] | None) -> str | None:
    """The loud warning printed when the editor is reachable from other machines without a password."""
    if LOOPBACK.match(host) or auth is not None:
        return None
    bar = "!" * 78
    return (f"{bar}\n  WARNING: the FlowDrafter editor is listening on {host}, reachable from other machines,\n"
            f"  WITHOUT a password. Anyone who can reach this port can read and change your projects.\n"
            f"  Set FLOWDRAFTER_UI_AUTH=user:password, or bind to 127.0.0.1.\n{bar}")  # fmt: skip


def launch(demo: gr.Blocks, *, host: str, port: int, auth: tuple[str, str] | None = None, block: bool = True, quiet: bool = False) -> Any:
    """Start the server: never a share link; only the app's own files are served; uploads are capped."""
    from flowdrafter.core.settings import get_settings

    from .theme import CSS, THEME

    settings = get_settings()
    warning = exposure_warning(host, auth)
    if warning:
        print(warning, flush=True)
    services: Services = demo.services  # type: ignore[attr-defined]
    demo.queue(default_concurrency_limit=4)
    result = demo.launch(
        server_name=host,
        server_port=port,
        share=False,
        auth=auth,
        prevent_thread_lock=True,
        quiet=True,
        show_error=False,
        allowed_paths=[str(services.temp_dir)],
        max_file_size=settings.max_upload_bytes,
        theme=THEME,
        css=CSS,
        footer_links=["api"],
        ssr_mode=False,
        mcp_server=False,
    )
    if not quiet:
        print(f"FlowDrafter editor: {result[1]}  (Ctrl+C stops it)", flush=True)
    if block:
        demo.block_thread()
    return result
