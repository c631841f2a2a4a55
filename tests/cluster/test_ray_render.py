"""Rendering on a private local Ray instance (2 CPUs): the same clips as a local render, through the same
cache; killed workers, failures, cancel, version checks, models on workers, and what never travels."""

from __future__ import annotations

import pickle
import socket
import threading
import time

import numpy as np
import pytest
from PIL import Image

from flowdrafter.core.errors import Cancelled, ModelUnavailableError, RenderError
from flowdrafter.core.images import store_image
from flowdrafter.core.project import Project
from flowdrafter.core.settings import load_settings
from flowdrafter.core.storyboard import parse_storyboard
from flowdrafter.generators import cluster, cluster_worker
from flowdrafter.generators.export import export
from flowdrafter.generators.render import render_storyboard

from .conftest import copy_project, make_film, ray

pytestmark = pytest.mark.timeout(180)


def give_hero_a_photo(project: Project) -> str:
    """A reference image that exists only in the driver's project folder."""
    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.integers(0, 255, (64, 40, 3), dtype=np.uint8))
    rel = store_image(project, img)
    doc = project.load().model_dump(mode="json")
    doc["entities"][0]["reference"] = {"image": rel, "source": "upload", "cutout": False}
    project.save(parse_storyboard(doc))
    return rel


def clips(report) -> dict[str, bytes]:
    return {s.scene_id: s.clip.read_bytes() for s in report.scenes}


def names(report) -> dict[str, str]:
    return {s.scene_id: s.clip.relative_to(s.clip.parents[2]).as_posix() for s in report.scenes}


def leftovers(project: Project) -> list[str]:
    return sorted(p.name for p in (project.renders_dir / "animatic").glob(".*.tmp"))


def test_local_ray_listens_on_loopback_only(local_ray):
    host = ray.get_runtime_context().gcs_address.rpartition(":")[0]
    assert host == "127.0.0.1"


def test_ray_render_equals_local_render_and_both_are_cache_hits(local_ray, projects_root, tmp_path):
    here = make_film(projects_root / "here")
    rel = give_hero_a_photo(here)
    there = copy_project(here, projects_root / "there")

    # the worker really cannot read the project folder (the sandbox is on)
    probe = ray.remote(lambda p: open(p, "rb").read()).options(num_cpus=0)
    with pytest.raises(ray.exceptions.RayTaskError, match="may not read"):
        ray.get(probe.remote(str(there.resolve_asset(rel))))

    local = render_storyboard(here)
    seen: list[str] = []
    remote = render_storyboard(there, settings=local_ray, progress=lambda f, m: seen.append(m))
    assert remote.rendered == [f"s{i}" for i in range(1, 13)]
    assert names(remote) == names(local)  # same cache keys
    assert clips(remote) == clips(local)  # byte-identical clips, the photo included
    assert f"s7: rendered on {socket.gethostname()} (127.0.0.1)" in seen  # progress names the node

    a, b = export(here, tmp_path / "here.mp4"), export(there, tmp_path / "there.mp4")
    assert a.read_bytes() == b.read_bytes()

    # a second run is all cache hits, through Ray or locally, whichever rendered the clips
    assert render_storyboard(there, settings=local_ray).reused == remote.rendered
    assert render_storyboard(there).reused == remote.rendered
    assert render_storyboard(here, settings=local_ray).reused == local.rendered


def kill_when(scene_id: str, frame: int, log: list[str]):
    """A progress callback that SIGKILLs the worker rendering `scene_id` once it reports `frame`."""
    import os
    import signal

    killed: list[int] = []

    def progress(fraction: float, message: str) -> None:
        log.append(message)
        if killed or not message.startswith(f"{scene_id}: frame "):
            return
        if int(message.split("frame ")[1].split("/")[0]) >= frame:
            for w in cluster.worker_status():
                if w["scene"] == scene_id:
                    os.kill(w["pid"], signal.SIGKILL)
                    killed.append(w["pid"])

    return progress, killed


def test_a_killed_worker_is_retried_and_the_result_is_identical(local_ray, projects_root):
    here = make_film(projects_root / "kill-here", 6, long={"s2": 600})
    there = copy_project(here, projects_root / "kill-there")
    local = render_storyboard(here)
    log: list[str] = []
    progress, killed = kill_when("s2", 10, log)
    remote = render_storyboard(there, settings=local_ray.model_copy(update={"ray_retries": 1}), progress=progress)
    assert killed, "the worker was never caught mid-scene"
    assert any(m.startswith("s2: its worker on ") and "retrying (1/1)" in m for m in log)
    assert clips(remote) == clips(local)
    assert leftovers(there) == []


def test_with_retries_off_a_killed_scene_fails_in_one_line_and_the_rest_is_cached(local_ray, projects_root):
    there = make_film(projects_root / "noretry", 6, long={"s2": 600})
    progress, killed = kill_when("s2", 10, [])
    with pytest.raises(RenderError) as err:
        render_storyboard(there, settings=local_ray.model_copy(update={"ray_retries": 0}), progress=progress)
    message = str(err.value)
    assert killed and "\n" not in message
    assert message.startswith("scene s2: its worker on ") and "died" in message and "retries are off" in message
    assert message.endswith("; 5 scenes cached")
    clips_dir = there.renders_dir / "animatic"
    assert not list(clips_dir.glob("s2-*")) and leftovers(there) == []
    again = render_storyboard(there)  # locally: the five finished scenes are hits, only s2 is rendered
    assert again.rendered == ["s2"] and sorted(again.reused) == ["s1", "s3", "s4", "s5", "s6"]


def test_cancel_stops_the_outstanding_tasks_within_5_seconds(local_ray, projects_root):
    there = make_film(projects_root / "cancel", 6, frames=400)
    flag = threading.Event()
    busy = threading.Event()
    outcome: list[BaseException | None] = []

    def progress(fraction: float, message: str) -> None:
        if " frame " in message and sum(1 for w in cluster.worker_status() if w["scene"]) == 2:
            busy.set()

    def run() -> None:
        try:
            render_storyboard(there, settings=local_ray, progress=progress, is_cancelled=flag.is_set)
            outcome.append(None)
        except BaseException as err:  # noqa: BLE001
            outcome.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    assert busy.wait(60), "two scenes never rendered at once"
    flag.set()
    t0 = time.monotonic()
    thread.join(30)
    stopped = time.monotonic() - t0
    assert isinstance(outcome[0], Cancelled)
    assert stopped < 5.0
    assert [w["scene"] for w in cluster.worker_status()] == [None, None]  # nothing still rendering
    assert leftovers(there) == []
    assert len(list((there.renders_dir / "animatic").glob("*.mp4"))) < 6


def test_workers_with_other_versions_are_refused_naming_both(local_ray, projects_root, monkeypatch):
    there = make_film(projects_root / "versions", 2)
    mine = {"flowdrafter": "0.0.1", "torch": "1.0.0"}
    monkeypatch.setattr(cluster, "versions", lambda: mine)  # this driver claims old versions
    with pytest.raises(RenderError) as err:
        # half a CPU per scene: a new pool of workers, so they are checked
        render_storyboard(there, settings=local_ray.model_copy(update={"ray_num_cpus": 0.5}))
    theirs = cluster_worker.versions()
    message = str(err.value)
    assert message.startswith("refusing the Ray worker on ")
    assert f"flowdrafter {theirs['flowdrafter']}, torch {theirs['torch']}" in message
    assert "this machine runs flowdrafter 0.0.1, torch 1.0.0" in message
    assert not list((there.renders_dir / "animatic").glob("*.mp4"))


def test_a_missing_model_on_a_worker_is_the_local_error_naming_the_node(local_ray, projects_root, tmp_path):
    there = make_film(projects_root / "models", 1)
    missing = {"image_encoder": str(tmp_path / "no-encoder"), "t2i_model": str(tmp_path / "no-model")}
    settings = local_ray.model_copy(update={**missing, "ray_num_gpus": 0.0})
    with pytest.raises(ModelUnavailableError) as here_err:
        render_storyboard(there, "drafter", settings=settings.model_copy(update={"ray_address": None}))
    with pytest.raises(ModelUnavailableError) as ray_err:
        render_storyboard(there, "drafter", settings=settings)
    message = str(ray_err.value)
    assert message.startswith(f"{here_err.value} (on ") and "\n" not in message
    assert message.endswith("; 0 scenes cached")


def test_a_gpu_generator_on_a_cluster_without_gpus_says_so(local_ray, projects_root):
    there = make_film(projects_root / "gpus", 1)
    with pytest.raises(RenderError, match=r"has 2 CPUs and 0 GPUs; generator drafter asks for 1 GPU per scene; set FLOWDRAFTER_RAY_NUM_GPUS=0"):
        render_storyboard(there, "drafter", settings=local_ray)


def test_the_llm_api_key_and_the_editor_password_never_reach_workers():
    settings = load_settings(llm_api_key="sk-very-secret", ui_auth="ann:hunter2", llm_url="http://10.0.0.9:8080/v1")
    sent = pickle.dumps(cluster.worker_settings(settings))
    for secret in (b"sk-very-secret", b"hunter2", b"10.0.0.9"):
        assert secret not in sent
    assert cluster.worker_settings(settings)["t2i_model"] == settings.t2i_model
