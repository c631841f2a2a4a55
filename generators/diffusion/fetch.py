"""Hub weights fetched before `from_pretrained`, so a first render shows what it is waiting for.

`from_pretrained(repo_id)` downloads silently (or with library progress bars we keep out of the CLI) and
starts over after an interruption. Instead, `models.from_pretrained` first asks `fetch` for the files the
load will read, and `core.downloads` brings them into huggingface_hub's cache with progress per file
(bytes, rate, ETA), cancel and resume; the library then loads them from the cache like anything it
downloaded itself.

Which files a load reads, with `use_safetensors=True` and no variant:

- a pipeline (a repository with `model_index.json`, no subfolder): `model_index.json` and, for each
  component it lists that the caller does not pass in itself (a `safety_checker=None`, an `image_encoder`
  loaded separately), that folder's config files and its plain safetensors weights;
- a model: the same, in its subfolder or at the repository's root.

Plain weights are `name.safetensors` and shards `name-00001-of-00003.safetensors`; variants
(`name.fp16.safetensors`, `name.non_ema.safetensors`) and other formats (`.bin`, `.ckpt`, `.onnx`, ...)
are left out. Anything a load needs beyond this list the library still fetches itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath

from flowdrafter.core import downloads

CONFIG_SUFFIXES = (".json", ".txt", ".model", ".yaml")
_PLAIN_WEIGHTS = re.compile(r"^[^.]+\.safetensors$")  # no variant between the name and the extension
MODEL_INDEX = "model_index.json"


def _in(folder: str, path: str) -> bool:
    return str(PurePosixPath(path).parent) == (folder or ".")


def folder_files(paths: list[str], folder: str) -> list[str]:
    """The files one component loads from `folder` ("" for the root): configs and plain weights."""
    out = []
    for p in paths:
        name = PurePosixPath(p).name
        if not _in(folder, p) or name == MODEL_INDEX:
            continue
        if name.endswith(".safetensors.index.json"):
            if _PLAIN_WEIGHTS.match(name.removesuffix(".index.json")):
                out.append(p)
        elif name.endswith(CONFIG_SUFFIXES) or _PLAIN_WEIGHTS.match(name):
            out.append(p)
    return sorted(out)


def pipeline_folders(model_index: dict, skip: set[str]) -> list[str]:
    """The component folders a pipeline loads: entries that name a library and a class, minus `skip`."""
    return [
        k
        for k, v in model_index.items()
        if not k.startswith("_") and k not in skip and isinstance(v, list) and len(v) == 2 and all(v)
    ]


def needed_files(paths: list[str], subfolder: str | None, model_index: dict | None, skip: set[str]) -> list[str]:
    """Every file of the repository (`paths`) a load reads; `model_index` is the pipeline's, if it is one."""
    if subfolder:
        return folder_files(paths, subfolder.strip("/"))
    if model_index is None:
        return folder_files(paths, "")
    out = [MODEL_INDEX]
    for folder in pipeline_folders(model_index, skip):
        out += folder_files(paths, folder)
    return out


def fetch(repo_id: str, revision: str | None, *, subfolder: str | None, skip: set[str], cache: Path, setting: str) -> Path:
    """The files a load of `repo_id` reads, in the hub cache `cache` (fetched if missing); the snapshot folder.

    Progress and cancel come from `core.downloads.reporting`, set by the job that loads (a render).
    Raises `ModelUnavailableError` (unreachable, unknown, gated) or `Cancelled` (what was fetched stays)."""
    report = downloads.reporter()
    repo = downloads.hub_repo(repo_id, revision or "main", token=downloads.hub_token(), setting=setting)
    paths = [f.path for f in repo.files]

    say = report.progress

    def get(files: list[str], quiet: bool = False) -> Path:
        progress = (lambda p: say(p.line())) if say and not quiet else None
        return downloads.fetch_to_hub_cache(repo, files, cache, setting=setting, progress=progress, is_cancelled=report.is_cancelled)

    model_index = None
    if not subfolder and MODEL_INDEX in paths:  # a pipeline: its index says which folders it loads
        model_index = json.loads((get([MODEL_INDEX], quiet=True) / MODEL_INDEX).read_text())
    files = needed_files(paths, subfolder, model_index, skip)
    missing = [p for p in files if not (downloads.snapshot_dir(cache, repo) / p).is_file()]
    if missing and say:
        size = sum(f.size or 0 for f in (repo.file(p) for p in missing) if f)
        say(f"download {repo_id}: {len(missing)} file{'s' if len(missing) > 1 else ''}, {downloads.size_text(size)} to fetch")
    return get(files)


def fetch_file(repo_id: str, revision: str | None, filename: str, *, cache: Path, setting: str) -> Path:
    """One small file of `repo_id` in the hub cache `cache` (fetched if missing), from a single request to the
    hub: an unreachable hub fails at once (`HubUnreachable`), not after huggingface_hub's retries (~23 s)."""
    repo = downloads.hub_repo(repo_id, revision or "main", token=downloads.hub_token(), setting=setting)
    return downloads.fetch_to_hub_cache(repo, [filename], cache, setting=setting) / filename
