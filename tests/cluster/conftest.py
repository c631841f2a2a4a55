"""Ray for the cluster tests: one private local instance (2 CPUs) per module, stopped at the end.

Every Ray worker in these tests runs with the test sandbox (`builders/sandbox/sitecustomize.py`): it may
not open any file under the folder that holds the test projects, so each scene must render from what
the driver sent through the object store.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from flowdrafter.core.project import Project  # noqa: E402
from flowdrafter.core.settings import Settings, load_settings  # noqa: E402
from flowdrafter.core.storyboard import parse_storyboard  # noqa: E402
from flowdrafter.generators import cluster  # noqa: E402

SANDBOX = Path(__file__).resolve().parents[1] / "builders" / "sandbox"
W, H, FPS = 160, 96, 8


def sandbox_env(forbidden: Path) -> dict[str, str]:
    """Environment for Ray processes that must not read `forbidden`."""
    path = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": f"{SANDBOX}{os.pathsep}{path}" if path else str(SANDBOX), "FLOWDRAFTER_TEST_FORBID": str(forbidden)}


def film_doc(n: int = 12, frames: int = 8, *, long: dict[str, int] | None = None) -> dict:
    """`n` scenes; each shows the hero (reference image optional) in the park, with varied cameras."""
    motions = ["pan_right", "zoom_in", "static", "pan_left", "tilt_up", "zoom_out"]
    long = long or {}
    return {
        "schema_version": 1, "title": "Cluster film", "fps": FPS, "width": W, "height": H, "seed": 5,
        "entities": [
            {"id": "hero", "name": "hero", "kind": "foreground", "description": "a hero"},
            {"id": "park", "name": "park", "kind": "background", "description": "a park"},
        ],
        "scenes": [
            {
                "id": f"s{i + 1}", "title": f"Scene {i + 1}", "event": f"the hero crosses the park, take {i + 1}",
                "background": "park", "num_frames": long.get(f"s{i + 1}", frames),
                "camera": {"motion": motions[i % len(motions)], "strength": 0.4},
                "frames": [{"frame": 0, "description": f"take {i + 1}"}],
                "tracks": [{"entity": "hero", "keyframes": [{"frame": 0, "box": [0.05 + 0.05 * (i % 6), 0.3, 0.4, 0.9]}]}],
                "transition": {"kind": "crossfade" if i % 2 else "cut", "frames": 2 if i % 2 else 0},
            }
            for i in range(n)
        ],
    }  # fmt: skip


def make_film(root: Path, n: int = 12, frames: int = 8, **kw) -> Project:
    return Project.create(root, parse_storyboard(film_doc(n, frames, **kw)))


def copy_project(src: Project, dst: Path) -> Project:
    shutil.copytree(src.root, dst, ignore=shutil.ignore_patterns("renders", ".history"))
    return Project.open(dst)


def ray_settings(**overrides) -> Settings:
    return load_settings(**{"ray_address": "local", "ray_local_cpus": 2, **overrides})


@pytest.fixture(scope="module")
def projects_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder every Ray-rendered test project lives in; Ray workers may not read it."""
    return tmp_path_factory.mktemp("ray-projects")


@pytest.fixture(scope="module")
def local_ray(projects_root: Path) -> Iterator[Settings]:
    """A private local Ray instance started by FlowDrafter itself (settings ray_address='local')."""
    cluster.shutdown()
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "FLOWDRAFTER_TEST_FORBID")}
    os.environ.update(sandbox_env(projects_root))  # inherited by Ray's processes only: restored below
    try:
        cluster.connect(ray_settings())
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        yield ray_settings()
    finally:
        cluster.shutdown()
