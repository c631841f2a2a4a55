"""Every bundled example renders with layout-video (tiny models): every scene's clip, frames and size."""

from __future__ import annotations

import pytest

from flowdrafter.core.examples import copy_example, list_examples

from .conftest import lv_settings


@pytest.mark.parametrize("name", list_examples())
def test_every_bundled_example_renders_with_layout_video(tiny_overrides, tmp_path, name):
    from flowdrafter.generators.render import render_storyboard
    from flowdrafter.generators.video import probe

    project = copy_example(name, tmp_path / name)
    sb = project.load()
    report = render_storyboard(project, "layout-video", settings=lv_settings(tiny_overrides, layout_video_frame_chunk=8))
    assert [s.scene_id for s in report.scenes] == [s.id for s in sb.scenes]
    for rendered, scene in zip(report.scenes, sb.scenes):
        info = probe(rendered.clip)
        assert (info.frames, info.width, info.height) == (scene.num_frames, sb.width, sb.height), scene.id
