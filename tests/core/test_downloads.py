"""Model downloads through a real HTTP server on 127.0.0.1 that serves a file slowly, like a hub file on a
slow line: progress events, cancel, resume with a Range request, and one clear line for a gated repo."""

from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import flowdrafter.core.downloads as downloads
from flowdrafter.core.downloads import DownloadProgress, download, hub_download, progress_fraction
from flowdrafter.core.errors import Cancelled, ModelUnavailableError

DATA = bytes(range(256)) * 2048  # 512 KiB
CHUNK, PAUSE = 16 * 1024, 0.01  # the server sends 16 KiB every 10 ms: about 0.3 s for the file


@pytest.fixture
def slow_server(monkeypatch):
    ranges: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path.startswith("/gated") or "/private/" in self.path:
                return self._plain(401 if "401" in self.path or "private" in self.path else 403, b'{"error": "gated"}')
            if self.path == "/api/models/owner/model-GGUF/revision/main":
                return self._plain(200, b'{"siblings": [{"rfilename": "README.md"}, {"rfilename": "model-Q8_0.gguf"}, {"rfilename": "model-Q4_K_M.gguf"}]}')
            if self.path not in ("/file.bin", "/owner/model-GGUF/resolve/main/model-Q4_K_M.gguf"):
                return self._plain(404, b"not found")
            ranges.append(self.headers.get("Range"))
            start = int(re.match(r"bytes=(\d+)-", self.headers["Range"]).group(1)) if self.headers.get("Range") else 0
            self.send_response(206 if start else 200)
            self.send_header("Content-Length", str(len(DATA) - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(DATA) - 1}/{len(DATA)}")
            self.end_headers()
            try:
                for i in range(start, len(DATA), CHUNK):
                    self.wfile.write(DATA[i : i + CHUNK])
                    self.wfile.flush()
                    time.sleep(PAUSE)
            except (BrokenPipeError, ConnectionResetError):  # the client cancelled
                pass

        def _plain(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        block_on_close = False

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(downloads, "REPORT_EVERY", 0.02)
    monkeypatch.setattr(downloads, "CHUNK", 8 * 1024)
    try:
        yield url, ranges
    finally:
        server.shutdown()
        server.server_close()


def test_progress_reports_bytes_rate_and_eta_until_done(slow_server, tmp_path):
    url, _ = slow_server
    events: list[DownloadProgress] = []
    path = download(f"{url}/file.bin", tmp_path / "m" / "file.bin", progress=events.append)
    assert path.read_bytes() == DATA and not (tmp_path / "m" / "file.bin.part").exists()
    assert len(events) >= 3 and events[-1].finished and events[-1].done == len(DATA)
    assert [e.done for e in events] == sorted(e.done for e in events) and all(e.total == len(DATA) for e in events)
    middle = events[len(events) // 2]
    assert middle.rate > 0 and middle.eta is not None and middle.eta > 0
    assert re.fullmatch(r"download file\.bin: \d+\.\d MB of 0\.5 MB \(\d+%\), \d+\.\d MB/s, ETA \d+ s", middle.line())
    assert events[-1].line() == "download file.bin: 0.5 MB of 0.5 MB (100%), done"
    name, fraction = progress_fraction(middle.line())
    assert name == "file.bin" and abs(fraction - middle.fraction) <= 0.01
    assert progress_fraction(events[-1].line()) == ("file.bin", 1.0) and progress_fraction("script: writing 3 scenes") is None


def test_cancel_keeps_the_part_and_the_next_attempt_resumes_it(slow_server, tmp_path):
    url, ranges = slow_server
    dest = tmp_path / "file.bin"
    seen: list[DownloadProgress] = []
    with pytest.raises(Cancelled, match="the next attempt resumes there"):
        download(f"{url}/file.bin", dest, progress=seen.append, is_cancelled=lambda: bool(seen))
    part = dest.with_name("file.bin.part")
    kept = part.stat().st_size
    assert 0 < kept < len(DATA) and not dest.exists()
    events: list[DownloadProgress] = []
    download(f"{url}/file.bin", dest, progress=events.append)
    assert dest.read_bytes() == DATA
    assert ranges == [None, f"bytes={kept}-"]  # the second request asked only for the rest
    assert events[0].done > kept and events[-1].done == len(DATA)
    assert download(f"{url}/file.bin", dest) == dest and len(ranges) == 2  # a finished file is not fetched again


@pytest.mark.parametrize("path", ["/gated-401", "/gated-403"])
def test_a_gated_file_is_one_line_that_says_what_to_do(slow_server, tmp_path, path):
    url, _ = slow_server
    message = downloads.gated_message("stabilityai/stable-video-diffusion-img2vid-xt", "i2v_model")
    with pytest.raises(ModelUnavailableError) as err:
        download(f"{url}{path}", tmp_path / "x", gated=message)
    assert str(err.value) == message and "\n" not in message
    assert "accept its licence on" in message and "log in with `hf auth login`" in message and "choose another model with the setting i2v_model" in message


def test_hub_download_resolves_the_pattern_and_reuses_the_file(slow_server, tmp_path):
    url, ranges = slow_server
    lines: list[str] = []
    path = hub_download("owner/model-GGUF", "*Q4_K_M.gguf", tmp_path, progress=lambda p: lines.append(p.line()))
    assert path == tmp_path / "owner--model-GGUF" / "main" / "model-Q4_K_M.gguf" and path.read_bytes() == DATA
    assert lines[-1] == "download model-Q4_K_M.gguf: 0.5 MB of 0.5 MB (100%), done"
    assert hub_download("owner/model-GGUF", "*Q4_K_M.gguf", tmp_path) == path and len(ranges) == 1
    with pytest.raises(ModelUnavailableError, match="no file in the model repository 'owner/model-GGUF' matches '\\*Q2_K.gguf'"):
        hub_download("owner/model-GGUF", "*Q2_K.gguf", tmp_path)
    with pytest.raises(ModelUnavailableError, match="the model repository 'owner/private' needs permission"):
        hub_download("owner/private", "*.gguf", tmp_path, setting="llm")
