"""The example projects that ship with FlowDrafter (`assets/examples/`, package data of `flowdrafter.assets`)."""

from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path

from .errors import ProjectError
from .project import Project

# a wheel installs onto the file system, so the resource folder is a real folder that copytree can read
EXAMPLES_DIR = Path(str(files("flowdrafter.assets") / "examples"))
DEFAULT_EXAMPLE = "kitten-garden"


def list_examples() -> list[str]:
    if not EXAMPLES_DIR.is_dir():
        return []
    return sorted(p.name for p in EXAMPLES_DIR.iterdir() if (p / "storyboard.json").is_file())


def example_path(name: str) -> Path:
    names = list_examples()
    if name not in names:
        raise ProjectError(f"no example named '{name}'; examples: {', '.join(names) or 'none installed'}")
    return EXAMPLES_DIR / name


def copy_example(name: str, dest: Path | str) -> Project:
    """Copy an example into `dest` (which must not exist or be empty) and return it as a project."""
    src = example_path(name)
    dest = Path(dest).expanduser().absolute()
    if dest.exists() and not dest.is_dir():
        raise ProjectError(f"{dest} exists and is not a folder; choose a new folder")
    if dest.exists() and any(dest.iterdir()):
        raise ProjectError(f"{dest} is not empty; choose a new folder")
    try:
        shutil.copytree(src, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("renders", "exports", ".history", "*.py"))
        for sub in ("renders", "exports"):
            (dest / sub).mkdir(exist_ok=True)
    except OSError as err:
        raise ProjectError(f"cannot create {dest}: {err.strerror or err}") from None
    return Project.open(dest)
