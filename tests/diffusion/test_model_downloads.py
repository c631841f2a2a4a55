"""The first load of hub diffusion weights, through a real HTTP server on 127.0.0.1 posing as the hub
(`HF_ENDPOINT`) that serves the tiny SD pipeline slowly: progress per file, only the files the load reads,
cancel and resume, a gated repository's one line, and the render log and CLI showing it all."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch

import flowdrafter.core.downloads as downloads
from flowdrafter.core.errors import Cancelled, ModelUnavailableError
from flowdrafter.core.project import Project
from flowdrafter.generators import base
from flowdrafter.generators.diffusion import fetch, models

COMMIT = "c0ffee" * 6 + "c0ff"
PIECE, PAUSE = 64 * 1024, 0.002  # 64 KiB every 2 ms: the 5.7 MB UNet takes about 0.2 s
EXTRA = {  # files a real repository has that a safetensors load must not fetch
    "unet/diffusion_pytorch_model.fp16.safetensors": b"x" * 1000,
    "unet/diffusion_pytorch_model.bin": b"x" * 1000,
    "safety_checker/config.json": b"{}",
    "safety_checker/model.safetensors": b"x" * 1000,
    "sd-v1-5.ckpt": b"x" * 1000,
    "README.md": b"# tiny",
}


class FakeHub:
    """Repositories as {path: bytes}; records every file request and its Range header."""

    def __init__(self) -> None:
        self.repos: dict[str, dict[str, bytes]] = {}
        self.gated: set[str] = set()
        self.requests: list[tuple[str, str | None]] = []
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        server.daemon_threads = True
        self.server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def add(self, repo: str, folder: Path, extra: dict[str, bytes] | None = None) -> None:
        files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
        self.repos[repo] = {**files, **(extra or {})}

    def fetched(self) -> list[str]:
        return [path for path, _ in self.requests]

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?")[0]
                m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/revision/main", path)
                if m:
                    files = hub.repos.get(m.group(1))
                    if files is None:  # what the hub says for unknown (and private) repositories
                        return self._send(401, b'{"error": "Repository not found"}', {"X-Error-Code": "RepoNotFound"})
                    siblings = [{"rfilename": p, "size": len(b), "blobId": hashlib.sha1(b).hexdigest(),
                                 "lfs": {"sha256": hashlib.sha256(b).hexdigest(), "size": len(b)}} for p, b in files.items()]  # fmt: skip
                    return self._send(200, json.dumps({"sha": COMMIT, "siblings": siblings}).encode())
                m = re.fullmatch(rf"/([^/]+/[^/]+)/resolve/{COMMIT}/(.+)", path)
                if not m or m.group(2) not in hub.repos.get(m.group(1), {}):
                    return self._send(404, b"not found")
                if m.group(1) in hub.gated:
                    return self._send(403 if self.headers.get("Authorization") else 401, b'{"error": "gated"}', {"X-Error-Code": "GatedRepo"})
                data = hub.repos[m.group(1)][m.group(2)]
                hub.requests.append((m.group(2), self.headers.get("Range")))
                start = int(re.match(r"bytes=(\d+)-", self.headers["Range"]).group(1)) if self.headers.get("Range") else 0
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                try:
                    for i in range(start, len(data), PIECE):
                        self.wfile.write(data[i : i + PIECE])
                        self.wfile.flush()
                        time.sleep(PAUSE)
                except (BrokenPipeError, ConnectionResetError):  # the client cancelled
                    pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        return Handler


@pytest.fixture
def hub(monkeypatch, tmp_path, tiny_settings):
    fake = FakeHub()
    fake.add("owner/tiny-sd", Path(tiny_settings.t2i_model), EXTRA)
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(downloads, "REPORT_EVERY", 0.02)
    monkeypatch.setattr(downloads, "CHUNK", 32 * 1024)
    monkeypatch.setattr(downloads, "hub_token", lambda: None)  # never a token file of this machine
    models.free()
    try:
        yield fake
    finally:
        models.free()
        fake.server.shutdown()
        fake.server.server_close()


def load_sd(settings):
    from diffusers import StableDiffusionPipeline

    return models.from_pretrained(StableDiffusionPipeline, models.T2I, settings, safety_checker=None, requires_safety_checker=False)


def hub_settings(tiny_settings, repo="owner/tiny-sd"):
    return tiny_settings.model_copy(update={"t2i_model": repo})


def test_first_load_shows_each_file_with_bytes_rate_and_eta_and_fetches_only_what_it_reads(hub, tiny_settings, tmp_path):
    lines: list[str] = []
    with downloads.reporting(lines.append):
        pipe = load_sd(hub_settings(tiny_settings))
    local = load_sd(tiny_settings)
    assert torch.equal(pipe.unet.conv_in.weight, local.unet.conv_in.weight)  # the served weights, loaded
    assert sorted(set(hub.fetched())) == sorted(p for p in hub.repos["owner/tiny-sd"] if p not in EXTRA)
    assert len(hub.fetched()) == len(set(hub.fetched()))  # each file once
    assert re.fullmatch(r"download owner/tiny-sd: 11 files, 8\.\d MB to fetch", lines[0])
    unet = [line for line in lines if line.startswith("download unet/diffusion_pytorch_model.safetensors:")]
    assert any(re.fullmatch(r"download unet/diffusion_pytorch_model\.safetensors: [\d.]+ [kM]B of 5\.7 MB \(\d+%\), [\d.]+ [kM]B/s, ETA \d+ s", u) for u in unet)
    assert unet[-1] == "download unet/diffusion_pytorch_model.safetensors: 5.7 MB of 5.7 MB (100%), done"
    cache = tmp_path / "hf-cache" / "models--owner--tiny-sd"
    assert (cache / "refs" / "main").read_text() == COMMIT
    assert (cache / "snapshots" / COMMIT / "unet" / "diffusion_pytorch_model.safetensors").is_symlink()  # the hub cache's own layout

    before = len(hub.requests)
    again: list[str] = []
    models.free()
    with downloads.reporting(again.append):
        load_sd(hub_settings(tiny_settings))
    assert len(hub.requests) == before and again == []  # a second first-load reads the cache


def test_a_cancelled_download_keeps_its_part_and_the_next_load_resumes_it(hub, tiny_settings, tmp_path):
    seen: list[str] = []

    def cancel_in_the_unet() -> bool:
        return any(line.startswith("download unet/diffusion_pytorch_model.safetensors: ") for line in seen)

    with pytest.raises(Cancelled, match="resumes"), downloads.reporting(seen.append, cancel_in_the_unet):
        load_sd(hub_settings(tiny_settings))
    parts = list((tmp_path / "hf-cache").rglob("*.part"))
    assert len(parts) == 1 and 0 < parts[0].stat().st_size < 5_742_160
    kept = parts[0].stat().st_size
    lines: list[str] = []
    with downloads.reporting(lines.append):
        load_sd(hub_settings(tiny_settings))
    unet_requests = [r for p, r in hub.requests if p == "unet/diffusion_pytorch_model.safetensors"]
    assert unet_requests == [None, f"bytes={kept}-"]  # the second attempt asked only for the rest
    assert not list((tmp_path / "hf-cache").rglob("*.part"))


@pytest.mark.parametrize("token", [None, "hf_user_without_access"])
def test_a_gated_repository_is_one_line_that_says_what_to_do(hub, tiny_settings, monkeypatch, token):
    from diffusers import StableVideoDiffusionPipeline

    hub.add("stabilityai/stable-video-diffusion-img2vid-xt", Path(tiny_settings.i2v_model))
    hub.gated.add("stabilityai/stable-video-diffusion-img2vid-xt")
    monkeypatch.setattr(downloads, "hub_token", lambda: token)  # 401 without a token, 403 with one
    settings = tiny_settings.model_copy(update={"i2v_model": "stabilityai/stable-video-diffusion-img2vid-xt"})
    with pytest.raises(ModelUnavailableError) as err:
        models.from_pretrained(StableVideoDiffusionPipeline, models.I2V, settings)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("image-to-video model: the model repository 'stabilityai/stable-video-diffusion-img2vid-xt' needs permission")
    assert f"accept its licence on {hub.url}/stabilityai/stable-video-diffusion-img2vid-xt" in msg
    assert "log in with `hf auth login`" in msg and "choose another model with the setting i2v_model (FLOWDRAFTER_I2V_MODEL)" in msg


def test_an_unknown_repository_is_not_called_gated(hub, tiny_settings):
    with pytest.raises(ModelUnavailableError, match=r"^text-to-image model: no model repository 'owner/typo' .*t2i_model \(FLOWDRAFTER_T2I_MODEL\)$"):
        load_sd(hub_settings(tiny_settings, "owner/typo"))


def test_which_files_a_load_reads():
    paths = ["model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors",
             "unet/diffusion_pytorch_model.bin", "text_encoder/model-00001-of-00002.safetensors", "text_encoder/model-00002-of-00002.safetensors",
             "text_encoder/model.safetensors.index.json", "text_encoder/model.fp16.safetensors.index.json", "tokenizer/vocab.json",
             "tokenizer/merges.txt", "safety_checker/model.safetensors", "image_encoder/model.safetensors", "v1.ckpt", "README.md"]  # fmt: skip
    index = {"_class_name": "X", "unet": ["diffusers", "UNet2DConditionModel"], "text_encoder": ["transformers", "CLIPTextModel"],
             "tokenizer": ["transformers", "CLIPTokenizer"], "safety_checker": ["stable_diffusion", "SafetyChecker"],
             "image_encoder": [None, None]}  # fmt: skip
    assert fetch.needed_files(paths, None, index, {"safety_checker"}) == [
        "model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
        "text_encoder/model-00001-of-00002.safetensors", "text_encoder/model-00002-of-00002.safetensors",
        "text_encoder/model.safetensors.index.json", "tokenizer/merges.txt", "tokenizer/vocab.json",
    ]  # fmt: skip
    assert fetch.needed_files(paths, "unet", None, set()) == ["unet/config.json", "unet/diffusion_pytorch_model.safetensors"]
    assert fetch.needed_files(["config.json", "diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors", "sub/config.json"], None, None, set()) == [
        "config.json", "diffusion_pytorch_model.safetensors"]  # fmt: skip


@base.register
class _HubT2IGenerator(base.Generator):
    """A generator that loads the text-to-image model as a real one does, then draws grey frames."""

    name = "test-hub-t2i"
    version = "1"

    def render_scene(self, ctx, sink) -> None:
        load_sd(self.settings)
        from PIL import Image

        for _ in range(ctx.scene.num_frames):
            sink.write(Image.new("RGB", (ctx.storyboard.width, ctx.storyboard.height), "grey"))


def test_the_first_render_shows_the_downloads_in_its_log_and_the_cli_prints_them_once_per_tenth(hub, tiny_settings, sample_storyboard, tmp_path, monkeypatch, capsys):
    from flowdrafter.generators.render import render_storyboard
    from flowdrafter.ui.cli import main

    sb = sample_storyboard.model_copy(update={"width": 64, "height": 64})
    project = Project.create(tmp_path / "p", sb)
    messages: list[tuple[float, str]] = []
    render_storyboard(project, "test-hub-t2i", scene_ids=["s1"], settings=hub_settings(tiny_settings), progress=lambda f, m: messages.append((f, m)))
    downloads_seen = [m for _, m in messages if m.startswith("download ")]
    assert downloads_seen[0].startswith("download owner/tiny-sd: 11 files")
    assert "download unet/diffusion_pytorch_model.safetensors: 5.7 MB of 5.7 MB (100%), done" in downloads_seen
    assert downloads.progress_fraction(downloads_seen[-2]) is not None or downloads_seen[-2].endswith("done")

    # the CLI, writing to a log: each file's progress at most once per tenth, every file's "done"
    models.free()
    for p in (tmp_path / "hf-cache").glob("models--owner--tiny-sd"):
        import shutil

        shutil.rmtree(p)
    monkeypatch.setenv("FLOWDRAFTER_T2I_MODEL", "owner/tiny-sd")
    for key, value in tiny_settings.model_dump(mode="json").items():
        if key != "t2i_model" and value is not None and not isinstance(value, (dict, list)):
            monkeypatch.setenv(f"FLOWDRAFTER_{key.upper()}", str(value))
    assert main(["render", str(tmp_path / "p"), "--generator", "test-hub-t2i", "--scene", "s2", "--force"]) == 0
    err = capsys.readouterr().err.splitlines()
    unet = [line for line in err if "download unet/diffusion_pytorch_model.safetensors:" in line]
    assert unet[-1].endswith("download unet/diffusion_pytorch_model.safetensors: 5.7 MB of 5.7 MB (100%), done")
    tenths = [int(downloads.progress_fraction(line)[1] * 10) for line in unet[:-1]]
    assert len(tenths) == len(set(tenths))  # never two lines for one tenth of the file
    assert sum("download " in line and ", done" in line for line in err) == 11


def test_the_video_models_family_comes_from_its_model_index_alone_fetched_once(hub, tiny_settings):
    from flowdrafter.generators.diffusion.drafter import i2v_family

    hub.repos["owner/tiny-wan"] = {"model_index.json": json.dumps({"_class_name": "WanPipeline", "expand_timesteps": True}).encode(),
                                   "transformer/diffusion_pytorch_model.safetensors": b"x" * 1000}  # fmt: skip
    settings = tiny_settings.model_copy(update={"i2v_model": "owner/tiny-wan", "i2v_pipeline": "auto"})
    assert i2v_family(settings) == "wan"
    assert i2v_family(settings) == "wan"  # the second time from the cache
    assert hub.fetched() == ["model_index.json"]  # no weights to tell the family


def test_an_unreachable_hub_leaves_the_chosen_video_pipeline_after_one_attempt(monkeypatch, tmp_path, tiny_settings):
    from flowdrafter.generators.diffusion.drafter import i2v_family

    attempts = []
    with socket.socket() as closed:  # accepts and hangs up at once: the hub does not answer
        closed.bind(("127.0.0.1", 0))
        closed.listen()
        port = closed.getsockname()[1]

        def refuse() -> None:
            while True:
                try:
                    conn, _ = closed.accept()
                except OSError:
                    return
                attempts.append(1)
                conn.close()

        threading.Thread(target=refuse, daemon=True).start()
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
        monkeypatch.setattr(downloads, "hub_token", lambda: None)
        settings = tiny_settings.model_copy(update={"i2v_model": "owner/not-cached", "i2v_pipeline": "svd"})
        assert i2v_family(settings) == "svd"
        with pytest.raises(ModelUnavailableError, match="model_index.json, which names the pipeline, could not be read"):
            i2v_family(settings.model_copy(update={"i2v_pipeline": "auto"}))
    assert len(attempts) == 2  # one request each, not huggingface_hub's five retries with backoff
