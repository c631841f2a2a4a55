"""The layout editor: one frame's animatic preview under draggable, resizable, labelled boxes.

A small `gr.HTML` component with its own JS, because the editor needs things no stock widget does: boxes
that show whether they sit on a keyframe or are interpolated, a keyframe strip per entity under the frame,
and drawing a box for a chosen entity. Its value is plain data built by `editor_value`; the browser sends
back only what the person did, as event data (pixels in the storyboard's frame size):

- ``release``: ``{"action": "move", "entity": id, "box": [x0, y0, x1, y1]}`` after a drag or resize, or
  ``{"action": "add", "entity": id or "", "name": new entity name, "box": [...]}`` after drawing a box;
- ``delete``: ``{"entity": id}`` to delete that entity's keyframe on the shown frame;
- ``select``: ``{"frame": n}`` when a frame is picked on the keyframe strip.

The pixel -> normalized conversion happens in the handlers through `core.layout.pixels_to_norm`.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import gradio as gr
from PIL import Image

from flowdrafter.core.layout import frame_layout, norm_to_pixels
from flowdrafter.core.storyboard import EntityKind, Storyboard
from flowdrafter.generators.drawing import entity_hex

def image_data_url(img: Image.Image | None) -> str:
    """A JPEG data URL: small, needs no file serving, and arrives with the boxes in one message."""
    if img is None:
        return ""
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def editor_value(
    sb: Storyboard,
    scene_id: str,
    frame: int,
    image: Image.Image | None = None,
) -> dict[str, Any]:
    """Everything the browser draws for one frame of one scene; boxes have the entities' animatic colours."""
    scene = sb.scene(scene_id)
    if scene is None:
        return {"empty": True}
    frame = max(0, min(frame, scene.num_frames - 1))
    names = {e.id: e.name for e in sb.entities}
    boxes = []
    for entity_id, box in frame_layout(scene, frame).items():
        track = scene.track(entity_id)
        on_key = any(k.frame == frame for k in track.keyframes) if track else False
        boxes.append(
            {
                "entity": entity_id,
                "label": names.get(entity_id, entity_id),
                "box": list(norm_to_pixels(box, sb.width, sb.height)),
                "keyframe": on_key,
                "color": entity_hex(entity_id),
            }
        )
    tracks = [
        {
            "entity": t.entity,
            "label": names.get(t.entity, t.entity),
            "color": entity_hex(t.entity),
            "frames": [k.frame for k in t.keyframes],
        }
        for t in scene.tracks
    ]
    on_scene = {t.entity for t in scene.tracks}
    addable = [
        {"id": e.id, "name": e.name}
        for e in sb.entities
        if e.kind is EntityKind.foreground and e.id not in on_scene
    ]
    return {
        "scene": scene.id,
        "frame": frame,
        "num_frames": scene.num_frames,
        "width": sb.width,
        "height": sb.height,
        "image": image_data_url(image),
        "boxes": boxes,
        "tracks": tracks,
        "notes": [n.frame for n in scene.frames],
        "addable": addable,
    }


HTML_TEMPLATE = '<div class="fd-editor"></div>'

CSS = """
.fd-editor { font-size: 13px; user-select: none; }
.fd-tools { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin-bottom: 6px; }
.fd-tools .fd-hint { color: var(--body-text-color-subdued); flex: 1 1 260px; }
.fd-tools select, .fd-tools input { font-size: 13px; padding: 3px 6px; border: 1px solid var(--border-color-primary);
  border-radius: 6px; background: var(--input-background-fill); color: var(--body-text-color); }
.fd-tools button { font-size: 13px; font-weight: 400; padding: 3px 10px; border-radius: 6px; border: 1px solid var(--border-color-primary);
  background: var(--button-secondary-background-fill); color: var(--body-text-color); cursor: pointer; }
.fd-tools button:disabled { opacity: .45; cursor: default; }
.fd-stage:focus { outline: none; }
.fd-stage { position: relative; width: 100%; background: #d9d9d9 repeating-linear-gradient(45deg, #d0d0d0 0 10px, #dadada 10px 20px);
  border-radius: 6px; overflow: hidden; touch-action: none; cursor: crosshair; }
.fd-stage img { position: absolute; inset: 0; width: 100%; height: 100%; pointer-events: none; }
.fd-box { position: absolute; box-sizing: border-box; border: 3px solid; cursor: move; }
.fd-box.fd-interp { border-style: dashed; }
.fd-box.fd-sel { outline: 2px solid #fff; box-shadow: 0 0 0 4px rgba(0,0,0,.35); }
.fd-box .fd-tag { position: absolute; left: -3px; top: -22px; padding: 1px 6px; color: #fff; font-weight: 600;
  border-radius: 4px 4px 0 0; white-space: nowrap; font-size: 12px; text-shadow: 0 0 3px rgba(0,0,0,.9); }
.fd-box .fd-h { position: absolute; width: 12px; height: 12px; background: #fff; border: 2px solid; box-sizing: border-box; }
.fd-h.nw { left: -7px; top: -7px; cursor: nwse-resize; } .fd-h.se { right: -7px; bottom: -7px; cursor: nwse-resize; }
.fd-h.ne { right: -7px; top: -7px; cursor: nesw-resize; } .fd-h.sw { left: -7px; bottom: -7px; cursor: nesw-resize; }
.fd-draw { position: absolute; border: 2px dashed #111; background: rgba(255,255,255,.25); pointer-events: none; }
.fd-strip { margin-top: 8px; display: grid; grid-template-columns: 110px 1fr; row-gap: 3px; align-items: center; }
.fd-strip .fd-name::before { content: ''; display: inline-block; width: 9px; height: 9px; border-radius: 2px; margin-right: 5px; background: var(--dot); }
.fd-strip .fd-name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; padding-right: 6px; }
.fd-lane { position: relative; height: 16px; background: var(--block-background-fill); border: 1px solid var(--border-color-primary);
  border-radius: 4px; cursor: pointer; }
.fd-lane .fd-mark { position: absolute; top: 2px; width: 10px; height: 10px; transform: translateX(-50%) rotate(45deg); }
.fd-lane .fd-now { position: absolute; top: -2px; bottom: -2px; width: 2px; background: var(--body-text-color); transform: translateX(-50%); }
.fd-empty { padding: 40px; text-align: center; color: var(--body-text-color-subdued); }
"""

JS_ON_LOAD = r"""
const root = () => element.querySelector('.fd-editor') || element;
let sel = null;          // selected entity id
let drawFor = '';        // entity id to draw, '__new__' for a new entity, '' for none

function pct(v, total) { return (100 * v / total) + '%'; }

function render() {
  const v = props.value || {};
  const r = root();
  r.innerHTML = '';
  if (!v.scene) { r.innerHTML = '<div class="fd-empty">Open or plan a storyboard to edit its layout.</div>'; return; }
  const W = v.width, H = v.height;

  // toolbar
  const tools = document.createElement('div'); tools.className = 'fd-tools';
  const hint = document.createElement('span'); hint.className = 'fd-hint';
  hint.textContent = `Frame ${v.frame} of ${v.num_frames - 1}. Drag a box or its corners: that sets a keyframe here (solid = keyframe, dashed = interpolated).`;
  tools.appendChild(hint);
  const drawSel = document.createElement('select'); drawSel.className = 'fd-draw-entity';
  drawSel.title = 'Pick an entity, then drag on the frame to draw its box';
  const opts = [['', 'Draw a box for…']].concat((v.addable || []).map(a => [a.id, a.name])).concat([['__new__', '+ new entity']]);
  for (const [id, name] of opts) { const o = document.createElement('option'); o.value = id; o.textContent = name; drawSel.appendChild(o); }
  drawSel.value = drawFor; tools.appendChild(drawSel);
  const newName = document.createElement('input'); newName.className = 'fd-new-name'; newName.placeholder = 'new entity name';
  newName.style.display = drawFor === '__new__' ? '' : 'none'; tools.appendChild(newName);
  drawSel.addEventListener('change', () => { drawFor = drawSel.value; newName.style.display = drawFor === '__new__' ? '' : 'none'; if (drawFor === '__new__') newName.focus(); });
  const del = document.createElement('button'); del.className = 'fd-delete'; del.textContent = 'Delete keyframe';
  const selBox = (v.boxes || []).find(b => b.entity === sel);
  del.disabled = !(selBox && selBox.keyframe);
  del.title = 'Delete the selected entity\'s keyframe on this frame';
  del.addEventListener('click', () => { if (sel) trigger('delete', {entity: sel}); });
  tools.appendChild(del);
  r.appendChild(tools);

  // stage
  const stage = document.createElement('div'); stage.className = 'fd-stage'; stage.tabIndex = 0;
  stage.title = 'Delete or Backspace deletes the selected box\'s keyframe on this frame';
  stage.style.aspectRatio = `${W} / ${H}`;
  if (v.image) { const img = document.createElement('img'); img.src = v.image; img.alt = `frame ${v.frame}`; img.draggable = false; stage.appendChild(img); }
  for (const b of (v.boxes || [])) {
    const el = document.createElement('div');
    el.className = 'fd-box' + (b.keyframe ? '' : ' fd-interp') + (b.entity === sel ? ' fd-sel' : '');
    el.dataset.entity = b.entity;
    el.style.borderColor = b.color;
    place(el, b.box, W, H);
    const tag = document.createElement('span'); tag.className = 'fd-tag'; tag.style.background = b.color;
    tag.textContent = b.label + (b.keyframe ? ' ◆' : ''); el.appendChild(tag);
    for (const c of ['nw', 'ne', 'sw', 'se']) { const h = document.createElement('div'); h.className = 'fd-h ' + c; h.dataset.corner = c; h.style.borderColor = b.color; el.appendChild(h); }
    el.addEventListener('pointerdown', ev => startDrag(ev, el, b, stage, W, H));
    stage.appendChild(el);
  }
  stage.addEventListener('pointerdown', ev => { if (ev.target === stage) startDraw(ev, stage, W, H, newName); });
  r.appendChild(stage);

  // keyframe strip
  const strip = document.createElement('div'); strip.className = 'fd-strip';
  const n = Math.max(1, v.num_frames - 1);
  const lane = (label, color, frames, key) => {
    const name = document.createElement('div'); name.className = 'fd-name'; name.textContent = label; name.style.setProperty('--dot', color || '#777');
    const l = document.createElement('div'); l.className = 'fd-lane'; l.dataset.lane = key;
    for (const f of frames) { const m = document.createElement('div'); m.className = 'fd-mark'; m.dataset.frame = f; m.style.left = pct(f, n); m.style.background = color || '#777'; m.title = `keyframe on frame ${f}`; l.appendChild(m); }
    const now = document.createElement('div'); now.className = 'fd-now'; now.style.left = pct(v.frame, n); l.appendChild(now);
    l.addEventListener('click', ev => {
      const rect = l.getBoundingClientRect();
      const f = Math.round(Math.min(1, Math.max(0, (ev.clientX - rect.left) / rect.width)) * n);
      trigger('select', {frame: f});
    });
    strip.appendChild(name); strip.appendChild(l);
  };
  for (const t of (v.tracks || [])) lane(t.label, t.color, t.frames, t.entity);
  lane('descriptions', '', v.notes || [], '__notes__');
  r.appendChild(strip);
}

function place(el, box, W, H) {
  el.style.left = pct(box[0], W); el.style.top = pct(box[1], H);
  el.style.width = pct(box[2] - box[0], W); el.style.height = pct(box[3] - box[1], H);
}

function startDrag(ev, el, b, stage, W, H) {
  ev.preventDefault(); ev.stopPropagation(); stage.focus({preventScroll: true});
  if (sel !== b.entity) { sel = b.entity; for (const o of stage.querySelectorAll('.fd-box')) o.classList.toggle('fd-sel', o === el);
    const del = root().querySelector('.fd-delete'); if (del) del.disabled = !b.keyframe; }
  const corner = ev.target.dataset.corner || null;
  const rect = stage.getBoundingClientRect();
  const sx = W / rect.width, sy = H / rect.height;
  const x0 = ev.clientX, y0 = ev.clientY;
  const start = b.box.slice();
  let box = start.slice(), moved = false;
  el.setPointerCapture(ev.pointerId);
  const move = e => {
    const dx = (e.clientX - x0) * sx, dy = (e.clientY - y0) * sy;
    if (Math.abs(e.clientX - x0) + Math.abs(e.clientY - y0) > 2) moved = true;
    const bw = start[2] - start[0], bh = start[3] - start[1];
    if (!corner) {
      const nx = Math.min(Math.max(start[0] + dx, 0), W - bw), ny = Math.min(Math.max(start[1] + dy, 0), H - bh);
      box = [nx, ny, nx + bw, ny + bh];
    } else {
      box = start.slice();
      if (corner.includes('w')) box[0] = Math.min(Math.max(start[0] + dx, 0), start[2] - 8);
      if (corner.includes('e')) box[2] = Math.max(Math.min(start[2] + dx, W), start[0] + 8);
      if (corner.includes('n')) box[1] = Math.min(Math.max(start[1] + dy, 0), start[3] - 8);
      if (corner.includes('s')) box[3] = Math.max(Math.min(start[3] + dy, H), start[1] + 8);
    }
    place(el, box, W, H);
  };
  const up = e => {
    el.removeEventListener('pointermove', move); el.removeEventListener('pointerup', up); el.removeEventListener('pointercancel', up);
    if (!moved) return;
    b.box = box.map(Math.round);
    el.classList.remove('fd-interp');
    window.__fdReleasedAt = performance.now();
    trigger('release', {action: 'move', entity: b.entity, box: b.box});
  };
  el.addEventListener('pointermove', move); el.addEventListener('pointerup', up); el.addEventListener('pointercancel', up);
}

function startDraw(ev, stage, W, H, newName) {
  if (!drawFor) { sel = null; for (const o of stage.querySelectorAll('.fd-box')) o.classList.remove('fd-sel'); return; }
  ev.preventDefault();
  const rect = stage.getBoundingClientRect();
  const sx = W / rect.width, sy = H / rect.height;
  const px = e => [Math.min(Math.max((e.clientX - rect.left) * sx, 0), W), Math.min(Math.max((e.clientY - rect.top) * sy, 0), H)];
  const p0 = px(ev);
  const band = document.createElement('div'); band.className = 'fd-draw'; stage.appendChild(band);
  let box = null;
  stage.setPointerCapture(ev.pointerId);
  const move = e => { const p = px(e); box = [Math.min(p0[0], p[0]), Math.min(p0[1], p[1]), Math.max(p0[0], p[0]), Math.max(p0[1], p[1])]; place(band, box, W, H); };
  const up = e => {
    stage.removeEventListener('pointermove', move); stage.removeEventListener('pointerup', up);
    if (!box || box[2] - box[0] < 8 || box[3] - box[1] < 8) { band.remove(); return; }
    const entity = drawFor === '__new__' ? '' : drawFor;
    const name = drawFor === '__new__' ? (newName.value || '').trim() : '';
    sel = entity || null; drawFor = '';
    window.__fdReleasedAt = performance.now();
    trigger('release', {action: 'add', entity: entity, name: name, box: box.map(Math.round)});
  };
  stage.addEventListener('pointermove', move); stage.addEventListener('pointerup', up);
}

element.addEventListener('keydown', ev => { if ((ev.key === 'Delete' || ev.key === 'Backspace') && sel && ev.target.tagName !== 'INPUT') trigger('delete', {entity: sel}); });
render();
watch('value', () => { render(); window.__fdRenderedAt = performance.now(); });
"""


def layout_editor(**kwargs: Any) -> gr.HTML:
    """The editor component; bind `.release`, `.delete` and `.select` on it."""
    return gr.HTML(
        value={"empty": True},
        html_template=HTML_TEMPLATE,
        css_template=CSS,
        js_on_load=JS_ON_LOAD,
        elem_id="layout-editor",
        **kwargs,
    )
