"""The layer rule, checked by import-linter on every `make test` (and so in CI): imports point down only,
`ui -> planners, generators -> core`, and planners and generators never import each other."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_import_contract_is_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(lint), "--no-cache", "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 kept, 0 broken" in r.stdout


def test_the_contract_covers_every_code_layer():
    """A layer added to the package (a new top-level folder with code) must enter the contract too."""
    layers = [name for name in CONFIG["tool"]["setuptools"]["package-dir"] if name != "flowdrafter.assets"]
    assert sorted(CONFIG["tool"]["importlinter"]["root_packages"]) == sorted(layers)
    contract = CONFIG["tool"]["importlinter"]["contracts"][0]
    assert contract["layers"] == ["flowdrafter.ui", "flowdrafter.planners | flowdrafter.generators", "flowdrafter.core"]
