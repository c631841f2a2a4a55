"""Model downloads a person can watch, stop and pick up again: progress per file (bytes, rate, ETA),
cancel, resume, and one clear line for a gated repository.

A file is fetched into `<dest>.part` and renamed into place only when complete, so an interrupted or
cancelled download leaves the part behind and the next attempt asks the server for the rest (an HTTP
`Range` request). Hub files are plain URLs (`{endpoint}/{repo}/resolve/{revision}/{file}`), the endpoint
from `HF_ENDPOINT` like huggingface_hub, the token from `HF_TOKEN` or `hf auth login`'s store.
"""

from __future__ import annotations

import fnmatch
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from .errors import Cancelled, ModelUnavailableError

CHUNK = 1 << 20
REPORT_EVERY = 0.5  # seconds between progress events of one file
DEFAULT_ENDPOINT = "https://huggingface.co"


@dataclass(frozen=True)
class DownloadProgress:
    file: str
    done: int  # bytes on disk, including a part resumed from an earlier attempt
    total: int | None  # None when the server does not say
    rate: float  # bytes per second in this attempt
    finished: bool = False

    @property
    def fraction(self) -> float | None:
        return self.done / self.total if self.total else None

    @property
    def eta(self) -> float | None:
        return (self.total - self.done) / self.rate if self.total and self.rate > 0 else None

    def line(self) -> str:
        """"download model.gguf: 45.0 MB of 98.4 MB (46%), 12.3 MB/s, ETA 4 s", for logs and the CLI."""
        size = f"{_mb(self.done)} of {_mb(self.total)} ({self.fraction:.0%})" if self.total else _mb(self.done)
        if self.finished:
            return f"download {self.file}: {size}, done"
        eta = f", ETA {self.eta:.0f} s" if self.eta is not None else ""
        return f"download {self.file}: {size}, {_mb(self.rate)}/s{eta}"


_LINE = re.compile(r"^download (?P<file>[^:]+): .*?\((?P<pct>\d+)%\)")


def progress_fraction(message: str) -> tuple[str, float] | None:
    """(file, 0..1) from a progress line of `DownloadProgress.line()`, else None: lets a UI that receives
    the planner's or renderer's log lines drive a progress bar."""
    m = _LINE.match(message)
    return (m.group("file"), int(m.group("pct")) / 100) if m else None


def _mb(n: float | None) -> str:
    n = n or 0
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def gated_message(repo: str, setting: str) -> str:
    return (
        f"the model repository '{repo}' needs permission: accept its licence on {hub_endpoint()}/{repo}, "
        f"log in with `hf auth login`, or choose another model with the setting {setting}"
    )


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT).rstrip("/")


def hub_token() -> str | None:
    token = os.environ.get("HF_TOKEN")
    if token:
        return token
    try:
        from huggingface_hub import get_token

        return get_token()
    except Exception:  # no huggingface_hub, or an unreadable token file: go without
        return None


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def download(
    url: str,
    dest: Path,
    *,
    progress: Callable[[DownloadProgress], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    token: str | None = None,
    name: str | None = None,
    gated: str = "a model",
    timeout: float = 30.0,
) -> Path:
    """`url` saved as `dest`, resuming `dest.part` if an earlier attempt left one. Raises `Cancelled`
    (the part stays for next time) or `ModelUnavailableError` (unreachable, missing, gated)."""
    dest = Path(dest)
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    name = name or dest.name
    headers = {**_headers(token), **({"Range": f"bytes={have}-"} if have else {})}
    try:
        with httpx.stream("GET", url, headers=headers, follow_redirects=True, timeout=timeout) as r:
            if r.status_code in (401, 403):
                raise ModelUnavailableError(gated)
            if r.status_code == 416 and have:  # the part is the whole file already
                os.replace(part, dest)
                return dest
            if r.status_code >= 400:
                raise ModelUnavailableError(f"cannot download {name}: HTTP {r.status_code} from {url}")
            if r.status_code != 206:  # the server sent the whole file: start over
                have = 0
            length = r.headers.get("Content-Length")
            total = have + int(length) if length and length.isdigit() else None
            start = last = time.monotonic()
            got = 0
            with open(part, "ab" if have else "wb") as f:
                for chunk in r.iter_bytes(CHUNK):
                    f.write(chunk)
                    got += len(chunk)
                    now = time.monotonic()
                    if is_cancelled and is_cancelled():
                        f.flush()
                        raise Cancelled(f"download of {name} cancelled at {_mb(have + got)}; the next attempt resumes there")
                    if progress and now - last >= REPORT_EVERY:
                        progress(DownloadProgress(name, have + got, total, got / max(now - start, 1e-6)))
                        last = now
    except httpx.HTTPError as err:
        raise ModelUnavailableError(f"cannot download {name} from {url} ({type(err).__name__}); it resumes when you try again") from None
    if total is not None and part.stat().st_size != total:
        raise ModelUnavailableError(f"the download of {name} ended early ({_mb(part.stat().st_size)} of {_mb(total)}); it resumes when you try again")
    os.replace(part, dest)
    if progress:
        size = dest.stat().st_size
        progress(DownloadProgress(name, size, size, got / max(time.monotonic() - start, 1e-6), finished=True))
    return dest


def hub_files(repo: str, revision: str = "main", *, token: str | None = None, setting: str = "", timeout: float = 30.0) -> list[str]:
    """The file names in a hub model repository."""
    url = f"{hub_endpoint()}/api/models/{repo}/revision/{revision}"
    try:
        r = httpx.get(url, headers=_headers(token), follow_redirects=True, timeout=timeout)
    except httpx.HTTPError as err:
        raise ModelUnavailableError(f"cannot reach the model hub at {hub_endpoint()} for '{repo}' ({type(err).__name__})") from None
    if r.status_code in (401, 403):
        raise ModelUnavailableError(gated_message(repo, setting))
    if r.status_code == 404:
        raise ModelUnavailableError(f"no model repository '{repo}' (revision {revision}) on {hub_endpoint()}")
    if r.status_code >= 400:
        raise ModelUnavailableError(f"the model hub answered HTTP {r.status_code} for '{repo}'")
    try:
        return [s["rfilename"] for s in r.json().get("siblings", [])]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ModelUnavailableError(f"the model hub sent an unexpected file list for '{repo}'") from None


def hub_download(
    repo: str,
    pattern: str,
    root: Path,
    *,
    revision: str = "main",
    setting: str = "",
    progress: Callable[[DownloadProgress], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
) -> Path:
    """The first file of `repo` matching `pattern` (e.g. "*Q4_K_M.gguf"), fetched once into
    `root/owner--name/revision/` and reused afterwards without asking the hub."""
    folder = Path(root) / repo.replace("/", "--") / revision
    done = sorted(p for p in folder.glob("*") if p.is_file() and fnmatch.fnmatch(p.name, pattern) and not p.name.endswith(".part"))
    if done:
        return done[0]
    token = hub_token()
    names = sorted(n for n in hub_files(repo, revision, token=token, setting=setting) if fnmatch.fnmatch(n, pattern))
    if not names:
        raise ModelUnavailableError(f"no file in the model repository '{repo}' matches '{pattern}'")
    url = f"{hub_endpoint()}/{repo}/resolve/{revision}/{names[0]}"
    return download(
        url, folder / Path(names[0]).name, progress=progress, is_cancelled=is_cancelled, token=token,
        name=Path(names[0]).name, gated=gated_message(repo, setting),
    )
