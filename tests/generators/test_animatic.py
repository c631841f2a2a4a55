"""The animatic frame: where entities land, which way the background moves, what happens to bad images."""

from __future__ import annotations

import numpy as np
from PIL import Image

from flowdrafter.core.layout import norm_to_pixels
from flowdrafter.generators.animatic import compose_frame, reference_warnings

from .conftest import H, W, edit_scene, make_project, scene, set_reference, stripe_image


def _frame(project, sid, f, captions=False) -> np.ndarray:
    return np.asarray(compose_frame(project, project.load(), sid, f, captions=captions)).astype(int)


def _stripe_x(frame: np.ndarray) -> float:
    """Centre column of the dark stripe, from the top rows (no entities there)."""
    band = frame[: H // 5].mean(axis=(0, 2))
    dark = np.where(band < 100)[0]
    assert dark.size, "stripe not visible"
    return float(dark.mean())


def test_placeholder_card_sits_inside_its_box(tmp_path):
    p = make_project(tmp_path / "p", [scene("s1", tracks=[{"entity": "hero", "keyframes": [{"frame": 0, "box": [0.5, 0.2, 0.8, 0.7]}]}])])
    set_reference(p, "field", Image.new("RGB", (64, 64), (128, 128, 128)))
    frame = _frame(p, "s1", 0)
    x0, y0, x1, y1 = norm_to_pixels((0.5, 0.2, 0.8, 0.7), W, H)
    changed = np.abs(frame - 128).sum(axis=2) > 12
    ys, xs = np.nonzero(changed)
    assert xs.min() >= x0 - 1 and xs.max() <= x1 and ys.min() >= y0 - 1 and ys.max() <= y1
    assert changed[y0:y1, x0:x1].mean() > 0.9  # the card fills its box


def test_cutout_is_scaled_into_box_and_stands_on_its_bottom(tmp_path):
    box = (0.1, 0.1, 0.7, 0.8)  # wide box, square cut-out: aspect kept, centred, on the bottom edge
    p = make_project(tmp_path / "p", [scene("s1", tracks=[{"entity": "hero", "keyframes": [{"frame": 0, "box": list(box)}]}])])
    set_reference(p, "field", Image.new("RGB", (64, 64), (255, 255, 255)))
    disc = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    disc.paste((220, 20, 20, 255), (10, 10, 90, 90))  # transparent margin is trimmed away
    set_reference(p, "hero", disc)
    frame = _frame(p, "s1", 0)
    red = (frame[..., 0] > 150) & (frame[..., 1] < 90)
    ys, xs = np.nonzero(red)
    x0, y0, x1, y1 = norm_to_pixels(box, W, H)
    assert ys.max() >= y1 - 2 and ys.min() >= y0 - 1  # stands on the bottom edge
    assert abs((xs.max() - xs.min()) - (ys.max() - ys.min())) <= 2  # square stays square
    assert abs((xs.min() + xs.max()) / 2 - (x0 + x1) / 2) <= 2  # centred horizontally
    assert xs.min() >= x0 and xs.max() <= x1


def test_entity_follows_its_interpolated_box(tmp_path):
    track = {"entity": "hero", "keyframes": [{"frame": 0, "box": [0.0, 0.3, 0.2, 0.9]}, {"frame": 7, "box": [0.8, 0.3, 1.0, 0.9]}]}
    p = make_project(tmp_path / "p", [scene("s1", tracks=[track])])
    set_reference(p, "field", Image.new("RGB", (64, 64), (128, 128, 128)))
    centres = []
    for f in (0, 7):
        changed = np.abs(_frame(p, "s1", f) - 128).sum(axis=2) > 12
        centres.append(np.nonzero(changed)[1].mean() / W)
    assert centres[0] < 0.15 and centres[1] > 0.85


def test_pan_right_moves_the_background_left(tmp_path):
    p = make_project(tmp_path / "p", [scene("s1", camera={"motion": "pan_right", "strength": 0.6}, tracks=[])])
    set_reference(p, "field", stripe_image())
    xs = [_stripe_x(_frame(p, "s1", f)) for f in (0, 4, 7)]
    assert xs[0] > xs[1] > xs[2]
    assert xs[0] - xs[2] > W * 0.15


def test_background_motion_moves_the_background_with_dx(tmp_path):
    p = make_project(tmp_path / "p", [scene("s1", background_motion={"dx": 0.03, "dy": 0.0}, tracks=[])])
    set_reference(p, "field", stripe_image())
    x0, x7 = _stripe_x(_frame(p, "s1", 0)), _stripe_x(_frame(p, "s1", 7))
    assert abs((x7 - x0) - 7 * 0.03 * W) < 3  # cumulative: dx of the frame width per frame


def test_zoom_in_magnifies(tmp_path):
    p = make_project(tmp_path / "p", [scene("s1", camera={"motion": "zoom_in", "strength": 1.0}, tracks=[])])
    set_reference(p, "field", stripe_image())

    def stripe_width(frame):
        return int((frame[: H // 5].mean(axis=(0, 2)) < 128).sum())

    assert stripe_width(_frame(p, "s1", 7)) >= 1.8 * stripe_width(_frame(p, "s1", 0))


def test_missing_and_corrupt_references_give_placeholders_and_warnings(tmp_path):
    p = make_project(tmp_path / "p", [scene("s1")])
    reference_warnings()
    set_reference(p, "field", rel="assets/missing.png")
    (p.assets_dir / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 50)
    set_reference(p, "hero", rel="assets/broken.png")
    frame = _frame(p, "s1", 0, captions=True)
    assert frame.shape == (H, W, 3) and frame.std() > 5  # a real picture, not a blank or a crash
    warnings = " ".join(reference_warnings())
    assert "entity field" in warnings and "entity hero" in warnings


def test_captions_fill_the_lower_third_only(tmp_path):
    p = make_project(tmp_path / "p", [scene("s1", tracks=[])])
    plain, captioned = _frame(p, "s1", 0), _frame(p, "s1", 0, captions=True)
    diff = np.abs(plain - captioned).sum(axis=2)
    assert diff[: H // 2].max() == 0
    assert (diff[int(H * 0.7) :] > 30).mean() > 0.05


def test_edits_are_seen_by_the_preview_cache(tmp_path):
    p = make_project(tmp_path / "p", [scene("s1")])
    before = _frame(p, "s1", 0)
    edit_scene(p, "s1", tracks=[{"entity": "hero", "keyframes": [{"frame": 0, "box": [0.6, 0.3, 0.9, 0.9]}]}])
    after = _frame(p, "s1", 0)
    assert np.abs(before - after).sum() > 0


def test_preview_is_safe_from_several_threads(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    p = make_project(tmp_path / "p", [scene("s1", 16, camera={"motion": "zoom_in", "strength": 0.5}), scene("s2", 16)])
    set_reference(p, "field", stripe_image())
    sb = p.load()
    expected = {(sid, f): np.asarray(compose_frame(p, sb, sid, f)) for sid in ("s1", "s2") for f in range(0, 16, 3)}
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda k: (k, np.asarray(compose_frame(p, sb, *k))), list(expected) * 3))
    assert all(np.array_equal(img, expected[k]) for k, img in got)
