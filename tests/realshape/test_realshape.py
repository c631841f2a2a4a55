"""The default models at their real shapes (random weights, hub-shaped offline cache): `make test-realshape`.

One `flowdrafter selftest --real-shapes` run renders with every generator; probes check what a real-size
mistake would break. Slow (minutes, ~11 GB of RAM per job): marked `realshape`, outside `make test`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from flowdrafter.generators.testing import realshape_run
from flowdrafter.generators.testing.realshape_run import FRAMES, GENERATOR_JOBS, HEIGHT, LONG_FRAMES, WIDTH

pytestmark = pytest.mark.realshape

LINE = re.compile(r"^ok   (\S+): (\d+)x(\d+), (\d+) frames, (\d+) steps?, [\d.]+ s/step, peak RSS [\d.]+ GiB( \(model at \d+x\d+\))?$")


@pytest.fixture(scope="session")
def root() -> Path:
    return realshape_run.prepare(log=lambda m: print(m, file=sys.stderr))


@pytest.fixture(scope="session")
def selftest(root, tmp_path_factory):
    """The command a person runs, offline, with the default settings; its output and its JSON report."""
    report = tmp_path_factory.mktemp("realshape") / "report.json"
    cli = Path(sys.executable).with_name("flowdrafter")
    proc = subprocess.run([str(cli), "selftest", "--real-shapes", "--models-dir", str(root), "--report", str(report)],
                          capture_output=True, text=True)  # fmt: skip
    results = {r["job"]: r for r in json.loads(report.read_text())} if report.is_file() else {}
    return proc, results


@pytest.fixture(scope="session")
def probe(root, tmp_path_factory):
    work = tmp_path_factory.mktemp("probes")
    cache: dict[str, realshape_run.Result] = {}

    def run(job: str) -> realshape_run.Result:
        if job not in cache:
            cache[job] = realshape_run.run_job(job, root, work)
            print(f"{cache[job].line()} in {cache[job].seconds:.0f} s", file=sys.stderr)  # seen with -s
        assert cache[job].ok, cache[job].error
        return cache[job]

    return run


def test_selftest_passes_offline_with_the_default_settings_one_line_per_generator(selftest):
    proc, _ = selftest
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert [LINE.match(ln).group(1) if LINE.match(ln) else ln for ln in lines] == GENERATOR_JOBS
    assert "Traceback" not in proc.stderr


def test_every_generator_makes_the_planned_frames_at_the_storyboard_size(selftest):
    _, results = selftest
    assert set(results) == set(GENERATOR_JOBS)
    assert (results["refs"]["width"], results["refs"]["height"], results["refs"]["facts"]["mode"]) == (512, 512, "RGBA")
    assert (results["scene-image"]["width"], results["scene-image"]["height"]) == (WIDTH, HEIGHT)
    for job in ("drafter", "drafter-svd", "drafter-cogvideox", "layout-video"):
        assert (results[job]["frames"], results[job]["width"], results[job]["height"]) == (FRAMES, WIDTH, HEIGHT), job


def test_models_run_at_their_real_non_square_sizes(selftest):
    _, results = selftest
    sizes = {job: r["model_size"] for job, r in results.items()}
    assert sizes["scene-image"] == "512x320"  # SD-1.5 native 512 on the long side: latents 64x40
    assert sizes["drafter-cogvideox"] == "720x480"  # learned positions: CogVideoX-5b-I2V's one size
    assert sizes["drafter"] == "256x160"  # Wan2.2-TI2V-5B, capped for the CPU (i2v_max_side), in multiples of 32
    assert sizes["drafter-svd"] == "256x128"  # SVD-XT, capped for the CPU (i2v_max_side), in multiples of 64
    assert sizes["layout-video"] == "256x160"  # capped for the CPU


def test_the_default_drafter_render_makes_the_missing_reference_before_the_video(selftest):
    _, results = selftest
    assert results["drafter"]["facts"]["references_made"] == 1  # the ball's (SD-1.5, 512x512, then cut out)


def test_layout_video_120_frame_scene_peaks_at_most_1_5x_the_memory_of_16_frames(probe):
    result = probe("layout-video-long")  # 16 and 120 frames in one process, at 128x80 for CPU time
    assert (result.frames, result.width, result.height, result.model_size) == (LONG_FRAMES, WIDTH, HEIGHT, "128x80")
    renders = result.facts["renders"]
    short, long = renders[str(FRAMES)], renders[str(LONG_FRAMES)]
    assert (short["frames"], long["frames"]) == (FRAMES, LONG_FRAMES)
    gib = 2**30
    assert long["peak"] <= 1.5 * short["peak"], f"120 frames peaked at {long['peak'] / gib:.1f} GiB, 16 at {short['peak'] / gib:.1f}"
    # what each render added on top of the loaded weights: one 16-frame window at a time, whatever the length
    assert long["added"] <= 1.5 * short["added"], f"120 frames added {long['added'] / gib:.2f} GiB, 16 frames {short['added'] / gib:.2f}"


def test_ip_adapter_weights_load_with_no_missing_or_unexpected_keys(probe):
    facts = probe("ip-adapter-keys").facts
    plain, plus = facts["ip-adapter_sd15.safetensors"], facts["ip-adapter-plus_sd15.safetensors"]
    for f in (plain, plus):
        assert f["missing"] == [] and f["unexpected"] == [] and f["differs"] == []
        assert f["layers"] == 16  # every cross-attention layer of SD-1.5's UNet
    assert (plain["projection"], plain["image_tokens"]) == ("ImageProjection", 4)
    assert (plus["projection"], plus["image_tokens"]) == ("IPAdapterPlusImageProjection", 16)


def test_layout_video_motion_loras_load_onto_the_default_adapter_with_no_dropped_keys(probe):
    facts = probe("motion-lora-keys").facts
    assert set(facts) == {"zoom_in", "zoom_out", "pan_left", "pan_right", "tilt_up", "tilt_down"}
    for move, f in facts.items():
        assert f["file_keys"] == f["loaded_keys"] == 336, move  # 21 motion modules x 2 attentions x 4 x (A, B)
        assert f["mid_block_loaded"], move


def test_layout_video_keeps_each_entity_text_in_its_box_at_every_cross_attention_layer(probe):
    facts = probe("attention-masks").facts
    assert facts["latent"] == [HEIGHT // 8, WIDTH // 8]
    assert facts["layers"] == 16
    assert facts["resolutions"] == [[5, 8], [10, 16], [20, 32], [40, 64]]
    assert facts["blocks"] == 3  # the scene's text, then the kitten's and the ball's
    assert facts["max_mass_outside_box"] < 1e-6  # words, end-of-text and padding of each entity
    assert facts["fast_vs_explicit"] < 1e-3  # renders compute the same attention block by block


def test_layout_video_frame_1_attends_to_frame_0s_keys_at_every_self_attention_layer(probe):
    facts = probe("attention-masks").facts  # chunks of one row: frame 0's keys come from another chunk
    assert facts["self_layers"] == 16
    assert facts["key_frames"] == [[[0, 0], [1, 0]], [[0, 0], [1, 0]]]  # [half][frame] = frames of its keys
    assert facts["frame_0_keys"]


def test_every_bundled_example_renders_with_layout_video(probe):
    from flowdrafter.core.examples import list_examples

    examples = probe("layout-video-examples").facts["examples"]
    assert sorted(examples) == list_examples()
    for name, example in examples.items():
        for scene in example["scenes"]:
            assert scene["frames"] == scene["planned"] and scene["size"] == example["size"], (name, scene)
