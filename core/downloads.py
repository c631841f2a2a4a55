"""Model downloads a person can watch, stop and pick up again: progress per file (bytes, rate, ETA),
cancel, resume, and one clear line for a gated repository.

A file is fetched into `<dest>.part` and renamed into place only when complete, so an interrupted or
cancelled download leaves the part behind and the next attempt asks the server for the rest (an HTTP
`Range` request). Hub files are plain URLs (`{endpoint}/{repo}/resolve/{revision}/{file}`), the endpoint
from `HF_ENDPOINT` like huggingface_hub, the token from `HF_TOKEN` or `hf auth login`'s store.

Two destinations: a single file into our own folder (`hub_download`, the planner's GGUFs), or chosen files
of a repository into huggingface_hub's cache layout (`fetch_to_hub_cache`, diffusion weights), where
`from_pretrained(repo_id)` then finds them. Code that loads models deep inside a long job (a render) reads
its progress callback and cancel flag from `reporting(...)`, which the job's entry point sets.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import httpx

from .errors import Cancelled, ModelUnavailableError

try:  # POSIX; elsewhere two processes fetching one file at once are not guarded
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

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
        size = f"{size_text(self.done)} of {size_text(self.total)} ({self.fraction:.0%})" if self.total else size_text(self.done)
        if self.finished:
            return f"download {self.file}: {size}, done"
        eta = f", ETA {self.eta:.0f} s" if self.eta is not None else ""
        return f"download {self.file}: {size}, {size_text(self.rate)}/s{eta}"


_LINE = re.compile(r"\bdownload (?P<file>[^:]+): .*?\((?P<pct>\d+)%\)")


def progress_fraction(message: str) -> tuple[str, float] | None:
    """(file, 0..1) from a progress line of `DownloadProgress.line()`, else None: lets a UI that receives
    the planner's or renderer's log lines drive a progress bar."""
    m = _LINE.search(message)
    return (m.group("file"), int(m.group("pct")) / 100) if m else None


class LogLines:
    """Which progress lines a log (not a terminal) should print: every line, except that a download's
    progress is printed once per tenth of its file (a 4 GB file would otherwise fill the log)."""

    def __init__(self) -> None:
        self._tenth: dict[str, int] = {}

    def due(self, message: str) -> bool:
        got = progress_fraction(message)
        if got is None or message.endswith(", done"):
            return True
        name, fraction = got
        tenth = int(fraction * 10)
        if self._tenth.get(name) == tenth:
            return False
        self._tenth[name] = tenth
        return True


def size_text(n: float | None) -> str:
    """"12 kB", "412.0 MB", "3.44 GB"."""
    n = n or 0
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


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
    (the part stays for next time) or `ModelUnavailableError` (unreachable, missing, gated). Two processes
    asking for one file take turns: the second finds it done."""
    dest = Path(dest)
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _locked(dest.with_name(dest.name + ".lock")):
        if dest.is_file():
            return dest
        return _fetch(url, dest, progress, is_cancelled, token, name or dest.name, gated, timeout)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    if fcntl is None:  # pragma: no cover
        yield
        return
    with open(path, "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _fetch(
    url: str, dest: Path, progress: Callable[[DownloadProgress], None] | None, is_cancelled: Callable[[], bool] | None,
    token: str | None, name: str, gated: str, timeout: float,
) -> Path:  # fmt: skip
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
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
                        raise Cancelled(f"download of {name} cancelled at {size_text(have + got)}; the next attempt resumes there")
                    if progress and now - last >= REPORT_EVERY:
                        progress(DownloadProgress(name, have + got, total, got / max(now - start, 1e-6)))
                        last = now
    except httpx.HTTPError as err:
        raise ModelUnavailableError(f"cannot download {name} from {url} ({type(err).__name__}); it resumes when you try again") from None
    if total is not None and part.stat().st_size != total:
        raise ModelUnavailableError(f"the download of {name} ended early ({size_text(part.stat().st_size)} of {size_text(total)}); it resumes when you try again")
    os.replace(part, dest)
    if progress:
        size = dest.stat().st_size
        progress(DownloadProgress(name, size, size, got / max(time.monotonic() - start, 1e-6), finished=True))
    return dest


# -- hub repositories ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HubFile:
    path: str  # inside the repository
    size: int | None
    blob: str | None  # the name huggingface_hub's cache gives its bytes: an LFS file's sha256, else the git blob id


@dataclass(frozen=True)
class HubRepo:
    repo: str
    revision: str
    commit: str
    files: tuple[HubFile, ...]

    def file(self, path: str) -> HubFile | None:
        return next((f for f in self.files if f.path == path), None)


class HubUnreachable(ModelUnavailableError):
    """The hub did not answer at all (offline, DNS, firewall): a model cached before may still load."""


def hub_repo(repo: str, revision: str = "main", *, token: str | None = None, setting: str = "", timeout: float = 30.0) -> HubRepo:
    """The commit a revision points at and the repository's files with their sizes (one API call)."""
    url = f"{hub_endpoint()}/api/models/{repo}/revision/{revision}"
    try:
        r = httpx.get(url, params={"blobs": "true"}, headers=_headers(token), follow_redirects=True, timeout=timeout)
    except httpx.HTTPError as err:
        raise HubUnreachable(f"cannot reach the model hub at {hub_endpoint()} for '{repo}' ({type(err).__name__})") from None
    missing = r.headers.get("X-Error-Code") in ("RepoNotFound", "RevisionNotFound")
    if r.status_code == 404 or (r.status_code == 401 and missing):  # the hub answers 401 for unknown repos too
        raise ModelUnavailableError(
            f"no model repository '{repo}' (revision {revision}) on {hub_endpoint()}; if it is private, log in with "
            f"`hf auth login`, else choose another model with the setting {setting}"
        )
    if r.status_code in (401, 403):
        raise ModelUnavailableError(gated_message(repo, setting))
    if r.status_code >= 400:
        raise ModelUnavailableError(f"the model hub answered HTTP {r.status_code} for '{repo}'")
    try:
        data = r.json()
        files = tuple(
            HubFile(s["rfilename"], (s.get("lfs") or {}).get("size", s.get("size")), (s.get("lfs") or {}).get("sha256") or s.get("blobId"))
            for s in data.get("siblings", [])
        )
        return HubRepo(repo, revision, str(data.get("sha") or revision), files)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ModelUnavailableError(f"the model hub sent an unexpected file list for '{repo}'") from None


def hub_files(repo: str, revision: str = "main", *, token: str | None = None, setting: str = "", timeout: float = 30.0) -> list[str]:
    """The file names in a hub model repository."""
    return [f.path for f in hub_repo(repo, revision, token=token, setting=setting, timeout=timeout).files]


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


def fetch_to_hub_cache(
    repo: HubRepo,
    paths: list[str],
    cache: Path,
    *,
    setting: str = "",
    progress: Callable[[DownloadProgress], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
) -> Path:
    """`paths` of `repo` in huggingface_hub's cache layout under `cache` (`models--owner--name/blobs/<blob>`,
    `snapshots/<commit>/<path>` linking to it, `refs/<revision>`), each fetched only if missing, resumable,
    with progress per file; returns the snapshot folder, which `from_pretrained` reads like any cached model."""
    snapshot = snapshot_dir(cache, repo)
    root = snapshot.parent.parent
    todo = [p for p in paths if not (snapshot / p).is_file()]
    token = hub_token() if todo else None
    for path in todo:
        info = repo.file(path)
        target = snapshot / path
        blob = root / "blobs" / info.blob if info and info.blob else target
        url = f"{hub_endpoint()}/{repo.repo}/resolve/{repo.commit}/{path}"
        download(url, blob, progress=progress, is_cancelled=is_cancelled, token=token, name=path, gated=gated_message(repo.repo, setting))
        if blob != target:
            _link(blob, target)
    if repo.revision != repo.commit:
        refs = root / "refs" / repo.revision
        refs.parent.mkdir(parents=True, exist_ok=True)
        if not refs.is_file() or refs.read_text().strip() != repo.commit:
            tmp = refs.with_name(refs.name + ".tmp")
            tmp.write_text(repo.commit)
            os.replace(tmp, refs)
    return snapshot


def snapshot_dir(cache: Path, repo: HubRepo) -> Path:
    return Path(cache) / f"models--{repo.repo.replace('/', '--')}" / "snapshots" / repo.commit


def _link(blob: Path, target: Path) -> None:
    """The snapshot's entry for a file: a relative symlink to its blob, as huggingface_hub makes it (a copy
    where symlinks are not allowed)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.exists():
        target.unlink()
    try:
        target.symlink_to(os.path.relpath(blob, target.parent))
    except OSError:  # pragma: no cover - e.g. Windows without developer mode
        shutil.copyfile(blob, target)


# -- who hears about downloads inside a long job ------------------------------------------------------------


@dataclass(frozen=True)
class Reporter:
    progress: Callable[[str], None] | None = None  # one line: `DownloadProgress.line()`, or what is to fetch
    is_cancelled: Callable[[], bool] | None = None


_reporter: ContextVar[Reporter] = ContextVar("flowdrafter_download_reporter", default=Reporter())


@contextlib.contextmanager
def reporting(progress: Callable[[str], None] | None, is_cancelled: Callable[[], bool] | None = None) -> Iterator[None]:
    """Downloads started inside this block (in this thread) report to `progress` and stop when
    `is_cancelled()`: a job's entry point (a render) says where its model downloads are shown."""
    token = _reporter.set(Reporter(progress, is_cancelled))
    try:
        yield
    finally:
        _reporter.reset(token)


def reporter() -> Reporter:
    return _reporter.get()
