"""Events of the Storyboard tab: the scene list and form, the layout editor, the frame slider and note."""

from __future__ import annotations

from typing import Any

import gradio as gr

from .. import handlers, state, views
from ..state import Session
from .common import PRIVATE, Events, user_errors


def wire(ev: Events) -> None:
    page = ev.page
    tab, header = page.storyboard, page.header

    # -- scenes ----------------------------------------------------------------------------------------
    ev.on(tab.scene_list.input, user_errors(lambda s, sid, f, eid: (s, views.focus(sid, 0, eid))))
    ev.edit(tab.add.click, lambda sb, sid, f, eid: handlers.add_scene(sb, sid))
    ev.edit(tab.duplicate.click, lambda sb, sid, f, eid: handlers.duplicate_scene(sb, sid))
    ev.edit(tab.delete.click, lambda sb, sid, f, eid: handlers.delete_scene(sb, sid))
    ev.edit(tab.up.click, lambda sb, sid, f, eid: handlers.move_scene(sb, sid, -1))
    ev.edit(tab.down.click, lambda sb, sid, f, eid: handlers.move_scene(sb, sid, +1))

    def apply_form(sb, sid, f, eid, title, event, frames, background, camera, strength, dx, dy, transition, tframes):  # noqa: ANN001
        return handlers.edit_scene(sb, sid, title=title, event=event, num_frames=int(frames), background=background,
                                   camera_motion=camera, camera_strength=strength, dx=dx, dy=dy, transition=transition,
                                   transition_frames=int(tframes or 0))  # fmt: skip

    form = tab.form()
    for box in (tab.title, tab.event):
        ev.edit(box.blur, apply_form, form)
    ev.edit(tab.title.submit, apply_form, form)
    for dropdown in (tab.background, tab.camera, tab.transition):
        ev.edit(dropdown.input, apply_form, form)
    for slider in (tab.frames, tab.strength, tab.dx, tab.dy, tab.transition_frames):
        ev.edit(slider.release, apply_form, form)

    # -- the layout editor -------------------------------------------------------------------------------

    @user_errors
    def on_release(s: Session, scene_id: str, f: float, entity_id: str, evt: gr.EventData, request: gr.Request) -> dict:
        """A box was moved (answered at once with the editor and undo state: drag latency) or drawn (full refresh)."""
        sid = views.pick_scene(state.storyboard(s), scene_id)

        def change(sb):  # noqa: ANN001, ANN202
            new, eid, added = handlers.released(sb, sid, int(f or 0), evt._data or {})
            return new, (eid, added)

        s, (eid, added) = state.apply(s, change)
        if added:
            return {page.session: s, page.focus: views.focus(sid, f, eid)}
        shown = ev.shown(s, views.focus(sid, f, entity_id), request)
        return {
            page.session: s,
            page.focus: views.focus(sid, f, entity_id, fast=True),
            tab.editor: tab.editor_view(shown),
            tab.quality: views.scene_quality(shown.sb, sid),  # a moved box can mend or break the layout check
            **header.view(shown),
            tab.frame: gr.update(label=views.keyframe_label(shown.sb, sid)),
        }

    ev.on(tab.editor.release, on_release, outputs=[page.session, page.focus, tab.editor, tab.quality, *header.viewed(), tab.frame],
          trigger_mode="multiple", show_progress="hidden", queue=False)  # fmt: skip

    @user_errors
    def on_delete(s: Session, scene_id: str, f: float, entity_id: str, evt: gr.EventData) -> tuple[Session, dict]:
        sid = views.pick_scene(state.storyboard(s), scene_id)
        s, _ = state.apply(s, lambda sb: handlers.delete_keyframe(sb, sid, int(f or 0), (evt._data or {}).get("entity", "")))
        return s, views.focus(sid, f, entity_id)

    ev.on(tab.editor.delete, on_delete)

    @user_errors
    def on_pick_frame(s: Session, scene_id: str, evt: gr.EventData, request: gr.Request) -> dict:
        f = int((evt._data or {}).get("frame", 0))
        shown = ev.shown(s, views.focus(scene_id, f, None), request)
        return {tab.editor: tab.editor_view(shown), tab.frame: gr.update(value=shown.frame), tab.note: tab.note_view(shown.sb, shown.scene_id, shown.frame)}

    @user_errors
    def on_scrub(s: Session, scene_id: str, f: float, request: gr.Request) -> dict:
        shown = ev.shown(s, views.focus(scene_id, f, None), request)
        return {tab.editor: tab.editor_view(shown), tab.note: tab.note_view(shown.sb, shown.scene_id, shown.frame)}

    tab.editor.select(on_pick_frame, [page.session, tab.scene_list], [tab.editor, tab.frame, tab.note], show_progress="hidden",
                      queue=False, api_visibility=PRIVATE)  # fmt: skip
    tab.frame.input(on_scrub, [page.session, tab.scene_list, tab.frame], [tab.editor, tab.note], trigger_mode="always_last",
                    show_progress="hidden", queue=False, api_visibility=PRIVATE)  # fmt: skip
    for trigger in (tab.note.blur, tab.note.submit):
        ev.edit(trigger, lambda sb, sid, f, eid, text: handlers.set_frame_note(sb, sid, f, text), [tab.note])

    # -- the API: a box by numbers -------------------------------------------------------------------------
    api = page.api

    @user_errors
    def move_box(s: Session, scene_id: str, frame: float, entity_id: str, box: Any) -> dict:
        """Set `entity_id`'s box on `frame` of `scene_id` (normalized [x0, y0, x1, y1]); returns its keyframes."""
        s, _ = state.apply(s, lambda sb: handlers.set_box(sb, scene_id, frame, entity_id, box))
        track = state.storyboard(s).scene(scene_id).track(entity_id)
        keyframes = [{"frame": k.frame, "box": list(k.box)} for k in track.keyframes] if track else []
        return {page.session: s, page.focus: views.focus(scene_id, frame, entity_id), api.result: keyframes}

    ev.on(api.move_box.click, move_box, [page.session, api.scene, api.frame, api.entity, api.box],
          outputs=[page.session, page.focus, api.result], context=False, api_name="move_box", queue=False)
