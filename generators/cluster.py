"""Render scenes as Ray tasks: on a private Ray instance on this machine, or on a cluster that is running.

`render_storyboard` comes here when the `ray_address` setting is set and some scenes need rendering. The
driver (this process) keeps the render cache: it keys every scene, sends each changed scene as one task to
a `SceneWorker` actor (one actor per generator and device, kept between renders so its models stay
loaded), and commits the clip bytes that come back into the same cache with the same keys and atomic
commits as a local render. Workers share no filesystem with the driver: the storyboard, the scene's
reference images and the settings travel through Ray's object store (never the LLM's API key).

Faults: a scene whose worker dies is sent again (`ray_retries` times); a scene that fails ends as one line,
never as a partial clip, and the scenes that finished stay committed. Cancelling tells the busy workers to
stop at their next frame or step and ends the render within seconds.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowdrafter.core import errors
from flowdrafter.core.errors import Cancelled, RenderError
from flowdrafter.core.project import Project
from flowdrafter.core.settings import Settings
from flowdrafter.core.storyboard import Storyboard

from .base import Generator
from .cache import SceneJob, file_digest
from .cluster_worker import SceneWorker, versions

log = logging.getLogger("flowdrafter.cluster")

LOCAL = "local"
INSTALL_HINT = "rendering on Ray needs the cluster extra: pip install 'flowdrafter[cluster]'"
CANCEL_GRACE = 3.0  # seconds busy workers get to stop at their next frame/step before they are killed
PROGRESS_EVERY = 0.25  # seconds between progress polls of the busy workers
START_TIMEOUT = 60.0  # seconds for new workers to start (a node may need to pull resources first)
INIT_RETRY_S = 1.0  # seconds before joining again through Ray Client when the head failed to start our server

# Settings that stay on the driver: secrets, the planner's, the editor's, local paths and Ray's own.
_DRIVER_ONLY = {"data_dir", "ui_auth", "host", "port", "max_upload_bytes", "history_keep", "undo_limit"}


def worker_settings(settings: Settings) -> dict[str, Any]:
    """The settings a worker renders with: everything that shapes a clip, nothing secret or local."""
    return {
        name: value
        for name, value in settings.model_dump().items()
        if name not in _DRIVER_ONLY and not name.startswith(("llm", "ray_"))
    }


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RenderError(INSTALL_HINT) from None
    return ray


@dataclass
class _Worker:
    handle: Any
    node: str


@dataclass
class _Connection:
    address: str
    ours: bool  # we called ray.init (so we may shut it down and start over)
    pools: dict[tuple, list[_Worker]] = field(default_factory=dict)


_CONN: _Connection | None = None
_LOOPBACK_ENV: dict[str, bool] = {}
_LOCK = threading.Lock()


# -- connecting ---------------------------------------------------------------------------------------


def _quiet(ray: Any) -> None:
    """Ray prints messages about dead workers straight to stdout; ours are the one line per scene."""
    worker_mod = ray._private.worker
    if getattr(worker_mod.print_to_stdstream, "_flowdrafter", False):
        return

    def to_log(data: dict, ignore_prefix: bool = False) -> None:
        for line in data.get("lines", []):
            log.debug("ray %s: %s", data.get("pid"), line)

    to_log._flowdrafter = True  # type: ignore[attr-defined]
    worker_mod.print_to_stdstream = to_log


def _split_address(address: str) -> tuple[str, int] | None:
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def _reason(err: BaseException) -> str:
    """One line for a failed join. Ray Client's "Initialization failure from server:" carries the head's
    traceback below it: its last line (the head's own error) is the reason."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()] or [type(err).__name__]
    if lines[0].endswith(":") and len(lines) > 1:
        return f"{lines[0]} {lines[-1]}"
    return lines[0]


def _init_kwargs() -> dict[str, Any]:
    return {"logging_level": logging.ERROR, "log_to_driver": False, "namespace": "flowdrafter"}


def _start_local(ray: Any, settings: Settings) -> None:
    """A private Ray instance that listens on 127.0.0.1 only (Ray would pick the machine's address)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # makes Ray use the loopback address; workers inherit it
    _LOOPBACK_ENV["set"] = True
    ray._private.ray_constants.ENABLE_RAY_CLUSTER = False
    ray.init(num_cpus=settings.ray_local_cpus, include_dashboard=False, **_init_kwargs())
    host = ray.get_runtime_context().gcs_address.rpartition(":")[0].strip("[]")
    if not ipaddress.ip_address(host).is_loopback:
        ray.shutdown()
        raise RenderError(f"refusing to run a Ray head on {host}: a local Ray instance must listen on 127.0.0.1 only")


@contextlib.contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """Ray's C++ core writes its connection warnings straight to file descriptor 2: keep them in a log."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError:
        yield
        return
    saved = os.dup(2)
    os.dup2(target, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(target)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


def _join(ray: Any, address: str, timeout: float, log_file: Path) -> None:
    """Join a running cluster, or fail with one line within `timeout` (Ray itself would wait minutes)."""
    if _LOOPBACK_ENV.pop("set", False):  # left by an earlier local instance of ours
        os.environ.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
    target = address
    if address == "auto":
        try:
            target = ray._private.services.get_ray_address_from_environment("auto", None)
        except ConnectionError:
            raise RenderError("no Ray cluster is running on this machine (address 'auto'); start one with `ray start --head`") from None
    hostport = _split_address(target)
    # Ray would swap a loopback address for the machine's own, where a head started on 127.0.0.1 is not
    ray._private.ray_constants.ENABLE_RAY_CLUSTER = not (hostport and _is_loopback(hostport[0]))
    with contextlib.suppress(Exception):  # send Ray's auth token (RAY_AUTH_TOKEN, ~/.ray/auth_token) when there is one
        from ray._private.authentication.authentication_token_setup import maybe_enable_token_auth_if_token_available

        maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    deadline = time.monotonic() + timeout
    if hostport is not None:
        try:
            socket.create_connection(hostport, timeout=min(5.0, timeout)).close()
        except OSError as err:
            why = "no answer" if isinstance(err, TimeoutError | socket.timeout) else (err.strerror or type(err).__name__)
            raise RenderError(f"no Ray cluster at {address}: {why}") from None
    outcome: list[BaseException | None] = []

    def init() -> None:
        while True:
            try:
                ray.init(address=target, **_init_kwargs())
                outcome.append(None)
                return
            except ConnectionAbortedError as err:  # the head could not start this client's server process
                # (ray-project/ray#63202: its fork races gRPC); Ray Client gives up, a new connection gets a new one
                if "Initialization failure" not in str(err) or time.monotonic() + INIT_RETRY_S * 2 > deadline:
                    outcome.append(err)
                    return
                time.sleep(INIT_RETRY_S)
            except BaseException as err:  # noqa: BLE001 - reported below as one line
                outcome.append(err)
                return

    with _stderr_to(log_file):
        thread = threading.Thread(target=init, name="ray-connect", daemon=True)
        thread.start()
        thread.join(max(0.1, deadline - time.monotonic()))
    if not outcome:
        with contextlib.suppress(OSError):
            if "InvalidAuthToken" in log_file.read_text(errors="replace")[-4000:]:
                raise RenderError(
                    f"the Ray cluster at {address} refused this machine's token: put the cluster's token in "
                    "RAY_AUTH_TOKEN or ~/.ray/auth_token (`ray get-auth-token` on the head prints it)"
                )
        raise RenderError(f"no Ray cluster answered at {address} within {timeout:.0f} s (details: {log_file})")
    if outcome[0] is not None:
        raise RenderError(f"cannot join the Ray cluster at {address}: {_reason(outcome[0])[:300]}")


def connect(settings: Settings) -> Any:
    """Ray, connected as `settings.ray_address` says. An application that already called `ray.init`
    keeps its own connection. Returns the `ray` module."""
    global _CONN
    ray = import_ray()
    logging.getLogger("ray").setLevel(logging.ERROR)  # its notes are for Ray's users; ours go through one line
    address = settings.ray_address or LOCAL
    if _CONN is not None and ray.is_initialized():
        if _CONN.address == address or not _CONN.ours:
            return ray
        shutdown()
    if ray.is_initialized():  # someone else's connection (a Ray job, a notebook): use it as it is
        _CONN = _Connection(address, ours=False)
    elif address == LOCAL:
        _start_local(ray, settings)
        _CONN = _Connection(address, ours=True)
    else:
        _join(ray, address, settings.ray_connect_timeout, settings.data_dir / "logs" / "ray-driver.log")
        _CONN = _Connection(address, ours=True)
    _quiet(ray)
    return ray


def shutdown() -> None:
    """Stop our workers and disconnect (a local instance stops with it)."""
    global _CONN
    conn, _CONN = _CONN, None
    if conn is None:
        return
    ray = import_ray()
    for pool in conn.pools.values():
        for w in pool:
            with contextlib.suppress(Exception):
                ray.kill(w.handle)
    if conn.ours and ray.is_initialized():
        ray.shutdown()


# -- workers ------------------------------------------------------------------------------------------


def _resources(gen: Generator, settings: Settings) -> dict[str, float]:
    """What one scene of `gen` asks for: CPUs, plus GPUs for the diffusion generators."""
    res = {"num_cpus": settings.ray_num_cpus}
    if gen.needs_gpu and settings.ray_num_gpus > 0:
        res["num_gpus"] = settings.ray_num_gpus
    return res


def _fits(amounts: dict[str, float], res: dict[str, float]) -> int:
    counts = [math.floor(amounts.get(name, 0.0) / need + 1e-9) for name, need in (("CPU", res["num_cpus"]), ("GPU", res.get("num_gpus", 0.0))) if need > 0]
    return min(counts)


def check_cluster_fits(gen: Generator, settings: Settings) -> None:
    """One line when the cluster cannot run a single scene of `gen`: called before the generator's own
    preparation (e.g. the drafter making references), so that work is not done for nothing."""
    _check_fits(connect(settings).cluster_resources(), gen, _resources(gen, settings))


def _check_fits(total: dict[str, float], gen: Generator, res: dict[str, float]) -> None:
    if _fits(total, res) == 0:
        what = f"{res['num_gpus']:g} GPU" if "num_gpus" in res and total.get("GPU", 0) < res["num_gpus"] else f"{res['num_cpus']:g} CPU"
        hint = "; set FLOWDRAFTER_RAY_NUM_GPUS=0 to render it on CPUs" if "num_gpus" in res else ""
        raise RenderError(
            f"the Ray cluster has {total.get('CPU', 0):g} CPUs and {total.get('GPU', 0):g} GPUs; "
            f"generator {gen.name} asks for {what} per scene{hint}"
        )


def _workers(ray: Any, gen: Generator, settings: Settings, wanted: int) -> list[_Worker]:
    """The pool of workers for this generator and device, grown to `wanted` if the cluster fits them."""
    assert _CONN is not None
    res = _resources(gen, settings)
    pool_key = (gen.name, tuple(sorted(res.items())))
    pool = _CONN.pools.setdefault(pool_key, [])
    total = ray.cluster_resources()
    _check_fits(total, gen, res)
    limit = min(wanted, settings.ray_workers or wanted, _fits(total, res))
    if len(pool) >= limit:
        return pool[:limit]
    free = _fits(ray.available_resources(), res)
    if free < limit - len(pool):  # workers of other generators hold what we need: let them go
        for other_key, other in list(_CONN.pools.items()):
            if other_key != pool_key:
                for w in other:
                    with contextlib.suppress(Exception):
                        ray.kill(w.handle)
                del _CONN.pools[other_key]
        time.sleep(0.2)
        free = _fits(ray.available_resources(), res)
    grow = max(0, min(limit - len(pool), free)) if pool else max(1, min(limit, free))
    actor_cls = ray.remote(SceneWorker)
    new = [
        actor_cls.options(**res, max_concurrency=4, max_restarts=-1, max_task_retries=0).remote()
        for _ in range(grow)
    ]  # fmt: skip
    try:
        hellos = ray.get([a.hello.remote() for a in new], timeout=START_TIMEOUT)
    except ray.exceptions.GetTimeoutError:
        for a in new:
            ray.kill(a)
        raise RenderError(f"Ray workers for {gen.name} did not start within {START_TIMEOUT:.0f} s (is the cluster busy? see `ray status`)") from None
    except ray.exceptions.RayError as err:
        for a in new:
            with contextlib.suppress(Exception):
                ray.kill(a)
        raise RenderError(f"Ray workers for {gen.name} could not start: {_first_line(err)}") from None
    mine = versions()
    for a, hello in zip(new, hellos, strict=True):
        theirs = {k: hello.get(k) for k in mine}
        if theirs != mine:
            for b in new:
                ray.kill(b)
            raise RenderError(
                f"refusing the Ray worker on {hello.get('node')}: it runs "
                + ", ".join(f"{k} {theirs[k]}" for k in mine)
                + "; this machine runs "
                + ", ".join(f"{k} {mine[k]}" for k in mine)
                + "; install the same versions on every node"
            )
    pool.extend(_Worker(a, h["node"]) for a, h in zip(new, hellos, strict=True))
    return list(pool)


def _first_line(err: BaseException) -> str:
    cause = getattr(err, "cause", None)
    if isinstance(cause, BaseException) and not isinstance(cause, type(err)):
        err = cause
    text = str(err).strip()
    return ((text.splitlines() or [""])[0] or type(err).__name__)[:300]


def _drop_worker(ray: Any, worker: _Worker) -> None:
    with contextlib.suppress(Exception):
        ray.kill(worker.handle)
    if _CONN is not None:
        for pool in _CONN.pools.values():
            if worker in pool:
                pool.remove(worker)


def worker_status() -> list[dict[str, Any]]:
    """Per worker of ours: the scene it renders now (None when idle), its process id and node."""
    if _CONN is None:
        return []
    ray = import_ray()
    handles = [w.handle for pool in _CONN.pools.values() for w in pool]
    return list(ray.get([h.status.remote() for h in handles], timeout=30)) if handles else []


# -- one render ---------------------------------------------------------------------------------------


@dataclass
class _Running:
    job: SceneJob
    worker: _Worker
    token: str


def _assets(project: Project, sb: Storyboard, scene_id: str) -> dict[str, Path]:
    """The reference images a scene shows that exist in the project (others render as placeholders)."""
    scene = sb.scene(scene_id)
    assert scene is not None
    used = {t.entity for t in scene.tracks} | ({scene.background} if scene.background else set())
    out = {}
    for e in sb.entities:
        if e.id in used and e.reference is not None and project.asset_problem(e.reference.image) is None:
            out[e.reference.image] = project.resolve_asset(e.reference.image)
    return out


def _error(kind: str, message: str) -> errors.FlowDrafterError:
    cls = getattr(errors, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, errors.FlowDrafterError)) or cls is errors.StoryboardError:
        cls = RenderError
    return cls(message)


def render_scenes(
    project: Project,
    sb: Storyboard,
    gen: Generator,
    jobs: list[SceneJob],
    *,
    settings: Settings,
    options: dict[str, Any],
    commit: Callable[[SceneJob, bytes], None],
    on_progress: Callable[[str, float, str], None],
    is_cancelled: Callable[[], bool],
) -> tuple[list[str], list[errors.FlowDrafterError], list[str]]:
    """Render `jobs` on Ray; `commit(job, clip_bytes)` stores each verified clip as it arrives.

    Returns (the scene ids committed, one error per scene that failed, the generator's warnings). Raises `Cancelled` when cancelled
    (the scenes committed until then stay), `RenderError` when the cluster cannot be used at all."""
    # 1. connect, and get workers for this generator and device
    with _LOCK:
        ray = connect(settings)
        pool = _workers(ray, gen, settings, len(jobs))

    # 2. what every task shares goes into the object store once
    sb_ref = ray.put(sb.model_dump(mode="json"))
    shared = {
        "generator": gen.name,
        "version": gen.version,
        "cache_settings": gen.cache_settings(),
        "settings": worker_settings(settings),
        "options": dict(options),
    }
    asset_refs: dict[str, Any] = {}
    scene_assets: dict[str, dict[str, str]] = {}  # scene id -> {relative path: sha256}
    for job in jobs:
        digests = {}
        for rel, path in _assets(project, sb, job.scene_id).items():
            try:
                digests[rel] = file_digest(path)
                if rel not in asset_refs:
                    asset_refs[rel] = ray.put(path.read_bytes())
            except OSError as err:
                raise RenderError(f"cannot read {rel}: {err.strerror or err}") from None
        scene_assets[job.scene_id] = digests

    # 3. hand out scenes to idle workers; take back clips and failures as they come, poll progress
    queue = deque(jobs)
    idle = deque(pool)
    running: dict[Any, _Running] = {}  # the pending result of each scene being rendered
    recovering: dict[Any, _Worker] = {}  # a restarting worker's pending hello
    attempts: dict[str, int] = {}
    done: list[str] = []
    failed: list[errors.FlowDrafterError] = []
    warnings: list[str] = []

    def submit(job: SceneJob, worker: _Worker) -> None:
        token = uuid.uuid4().hex
        rels = sorted(scene_assets[job.scene_id])
        spec = {**shared, "scene_id": job.scene_id, "assets": rels}
        result = worker.handle.render.remote(token, spec, sb_ref, *(asset_refs[r] for r in rels))
        running[result] = _Running(job, worker, token)

    def take(result: Any) -> None:
        run = running.pop(result)
        sid, node = run.job.scene_id, run.worker.node
        back = True  # the worker takes the next scene at once
        try:
            item = ray.get(result)
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                ray.exceptions.ObjectLostError) as err:  # fmt: skip
            if isinstance(err, ray.exceptions.ActorDiedError):  # gone for good (its node died): not reused
                _drop_worker(ray, run.worker)
                pool.remove(run.worker)
            elif run.worker in pool:  # Ray restarts it: it takes scenes again once it answers
                back = False
                recovering[run.worker.handle.hello.remote()] = run.worker
            tries = attempts.get(sid, 0)
            if tries < settings.ray_retries:
                attempts[sid] = tries + 1
                queue.appendleft(run.job)
                on_progress(sid, 0.0, f"its worker on {node} died; retrying ({tries + 1}/{settings.ray_retries})")
            else:
                retried = f"retried {tries} time{'s' if tries != 1 else ''}" if tries else "retries are off"
                failed.append(RenderError(f"scene {sid}: its worker on {node} died ({_first_line(err)}); {retried}"))
            item = None
        except ray.exceptions.RayError as err:  # a bug on the worker: one line, the other scenes go on
            failed.append(RenderError(f"scene {sid} failed on {node}: {_first_line(err)}"))
            item = None
        finally:
            if back and run.worker in pool:
                idle.append(run.worker)
        if item is None:
            return
        if item[0] == "error":
            if item[1] != "Cancelled":
                failed.append(_error(item[1], f"{item[2]} (on {node})"))
            return
        data, meta = item[1], item[2]
        try:
            _check(run.job, data, meta, scene_assets[sid])
            commit(run.job, data)
        except errors.FlowDrafterError as err:
            failed.append(err)
            return
        done.append(sid)
        warnings.extend(w for w in meta.get("warnings", []) if w not in warnings)
        on_progress(sid, 1.0, f"rendered on {node}")

    restart_by: dict[int, float] = {}  # id of a restarting worker -> when to give up on it

    def welcome(hello: Any) -> None:
        """A restarted worker answered (it takes scenes again), is still restarting, or is gone for good."""
        worker = recovering.pop(hello)
        deadline = restart_by.setdefault(id(worker), time.monotonic() + START_TIMEOUT)
        try:
            ray.get(hello)
            restart_by.pop(id(worker), None)
        except ray.exceptions.ActorUnavailableError:
            if time.monotonic() < deadline:  # ask again shortly
                time.sleep(0.1)
                recovering[worker.handle.hello.remote()] = worker
                return
            _drop_worker(ray, worker)
            if worker in pool:
                pool.remove(worker)
            return
        except ray.exceptions.RayError:
            _drop_worker(ray, worker)
            if worker in pool:
                pool.remove(worker)
            return
        if worker in pool:
            idle.append(worker)

    seen: dict[str, tuple[float, str]] = {}

    def poll_progress() -> None:
        """Ask the busy workers how far their scenes are (they answer from another thread at once)."""
        by_token = {run.token: run for run in running.values()}
        asks = {run.worker.handle.progress.remote(): run.worker for run in running.values()}
        ready, _ = ray.wait(list(asks), num_returns=len(asks), timeout=1.0)
        for ask in ready:
            with contextlib.suppress(ray.exceptions.RayError):
                for token, (fraction, message) in ray.get(ask).items():
                    run = by_token.get(token)
                    if run is not None and seen.get(token) != (fraction, message):
                        seen[token] = (fraction, message)
                        on_progress(run.job.scene_id, fraction, message)

    last_poll = 0.0
    try:
        while queue or running:
            if is_cancelled():
                raise Cancelled("render cancelled")
            while queue and idle:
                submit(queue.popleft(), idle.popleft())
            if not running and not recovering:  # every worker is gone for good: start new ones
                with _LOCK:
                    pool[:] = _workers(ray, gen, settings, len(queue))
                idle.extend(pool)
                continue
            ready, _ = ray.wait([*running, *recovering], num_returns=1, timeout=PROGRESS_EVERY)
            for result in ready:
                if result in recovering:
                    welcome(result)
                else:
                    take(result)
            if running and time.monotonic() - last_poll >= PROGRESS_EVERY:
                poll_progress()
                last_poll = time.monotonic()
    except (Cancelled, KeyboardInterrupt):
        _stop(ray, running, take)
        raise
    return done, failed, warnings


def _check(job: SceneJob, data: bytes, meta: dict[str, Any], digests: dict[str, str]) -> None:
    """The clip is the one asked for: made from the same reference bytes, and arrived whole."""
    import hashlib

    if meta.get("scene_id") != job.scene_id or meta.get("assets") != digests:
        raise RenderError(f"scene {job.scene_id}: the worker on {meta.get('node')} rendered from other inputs; not cached")
    if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
        raise RenderError(f"scene {job.scene_id}: the clip from {meta.get('node')} arrived damaged; not cached")
    got = [meta.get("frames"), meta.get("width"), meta.get("height")]
    if got != [job.expected.frames, job.expected.width, job.expected.height]:
        raise RenderError(f"scene {job.scene_id}: the worker on {meta.get('node')} made {got}, expected {job.expected}")


def _stop(ray: Any, running: dict[Any, _Running], take: Callable[[Any], None]) -> None:
    """Cancel: busy workers stop at their next frame or step; any still busy after a grace time is killed."""
    for run in running.values():
        with contextlib.suppress(Exception):
            run.worker.handle.cancel.remote(run.token)
    deadline = time.monotonic() + CANCEL_GRACE
    while running and time.monotonic() < deadline:
        ready, _ = ray.wait(list(running), num_returns=1, timeout=0.1)
        for result in ready:
            with contextlib.suppress(Exception):
                take(result)  # a scene that finishes now is still committed
    for run in list(running.values()):
        _drop_worker(ray, run.worker)
    running.clear()
