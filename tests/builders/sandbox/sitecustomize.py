"""Test-only: a Python process started with this folder on PYTHONPATH and FLOWDRAFTER_TEST_FORBID=<folder>
cannot open any file under that folder (PermissionError). Ray workers inherit the environment of the
Ray instance that starts them, so this proves that scenes render from what the driver sends, not from
the project folder."""

import os
import sys

_FORBID = os.environ.get("FLOWDRAFTER_TEST_FORBID")

if _FORBID:
    _ROOT = os.path.realpath(_FORBID)

    def _audit(event: str, args: tuple) -> None:
        if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            path = os.path.realpath(os.fsdecode(args[0]))
            if path == _ROOT or path.startswith(_ROOT + os.sep):
                raise PermissionError(f"this process may not read {path}")

    sys.addaudithook(_audit)
