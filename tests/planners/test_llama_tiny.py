"""The real llama.cpp path with the tiny random-weight GGUF: its replies are schema-shaped garbage, so it
fuzzes parsing, validation and repair. Every run must end in a valid storyboard or a PlanningError."""

from __future__ import annotations

import pytest

from flowdrafter.core.errors import ModelUnavailableError, PlanningError
from flowdrafter.core.project import Project
from flowdrafter.core.settings import Settings
from flowdrafter.core.storyboard import Storyboard
from flowdrafter.planners.ask import Asker
from flowdrafter.planners.layout import plan_layout
from flowdrafter.planners.llama_backend import LlamaBackend
from flowdrafter.planners.pipeline import plan
from flowdrafter.planners.schemas import ScriptReply
from flowdrafter.planners.script import write_script
from builders.tiny_gguf import CHAT_TEMPLATE, write_tiny_gguf
from flowdrafter.ui.cli.project_cmds import check_project

PROMPTS = [
    "a kitten chases a red ball through a garden, then falls asleep",
    "un dragon de papier s'envole au-dessus de la ville",
    "a knight rides from left to right, then the castle gate falls",
]


def tiny_settings(path, tmp_path, max_tokens: int = 96) -> Settings:
    return Settings(llm=str(path), data_dir=tmp_path / "data", llm_ctx=4096, llm_max_tokens=max_tokens, llm_refine_rounds=1, llm_temperature=1.0)


def test_tiny_model_loads_through_the_real_path_with_its_chat_template(tiny_gguf, tmp_path, monkeypatch):
    import flowdrafter.planners.llama_backend as llama_backend

    monkeypatch.setattr(llama_backend, "REPORT_EVERY", 0.0)  # report on every token
    backend = LlamaBackend.load(tiny_settings(tiny_gguf, tmp_path))
    seen: list[int] = []
    assert backend.llama.metadata["tokenizer.chat_template"] == CHAT_TEMPLATE
    assert backend.model_id.startswith(f"gguf:{tiny_gguf.resolve()}:")
    reply = backend.complete(
        [{"role": "user", "content": "Story: a fox\nScenes: 1"}],
        schema={"type": "object", "properties": {"title": {"type": "string", "maxLength": 20}}, "required": ["title"], "additionalProperties": False},
        max_tokens=40, temperature=1.0, seed=3, on_tokens=lambda n, secs: seen.append(n),
    )
    assert reply.text.lstrip().startswith("{") and 0 < reply.tokens <= 40
    assert seen and seen == sorted(seen)  # progress during generation (a count of sampling steps)


@pytest.mark.parametrize("case", range(2))
def test_plans_end_in_a_valid_storyboard_or_a_planning_error(tiny_gguf, tmp_path, case):
    messages: list[str] = []
    try:
        sb = plan(PROMPTS[case], settings=tiny_settings(tiny_gguf, tmp_path, 64 + 32 * case), scenes=1,
                  seed=case, progress=messages.append, use_cache=False)
    except PlanningError as err:
        assert str(err)  # a sentence, not a traceback
        return
    assert isinstance(Storyboard.model_validate(sb.model_dump()), Storyboard)
    Project.create(tmp_path / "p", sb)
    assert check_project(tmp_path / "p") == []  # `flowdrafter check` accepts it
    assert any("tokens/s" in m for m in messages)


def test_script_stage_over_many_seeds(tiny_gguf, tmp_path):
    settings = tiny_settings(tiny_gguf, tmp_path, 80)
    llm = LlamaBackend.load(settings)
    outcomes = []
    for seed in range(8):  # one prompt, so llama.cpp reuses its prefill and each seed costs only sampling
        try:
            script, _ = write_script(Asker(llm=llm, settings=settings, seed=seed), PROMPTS[2], 2)
        except PlanningError:
            outcomes.append("error")
            continue
        assert isinstance(script, ScriptReply) and 1 <= len(script.scenes) <= 2
        outcomes.append("ok")
    assert "ok" in outcomes  # repair rescues most garbage; it must not give up on all of it


def test_layout_stage_over_many_seeds(tiny_gguf, tmp_path, sample_storyboard):
    settings = tiny_settings(tiny_gguf, tmp_path, 80).model_copy(update={"llm_refine_rounds": 0})
    llm = LlamaBackend.load(settings)
    for seed in range(5):
        try:
            sb = plan_layout(Asker(llm=llm, settings=settings, seed=seed), sample_storyboard, "s1")
        except PlanningError:
            continue
        sb = Storyboard.model_validate(sb.model_dump())
        assert sb.scenes[1] == sample_storyboard.scenes[1]  # the other scene is untouched
        assert {t.entity for t in sb.scene("s1").tracks} == {"kitten", "ball"}


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelUnavailableError, match=r"LLM model file .*nope\.gguf does not exist; pass a \.gguf file with --llm"):
        plan("a fox runs", settings=Settings(llm=str(tmp_path / "nope.gguf"), data_dir=tmp_path))


def test_broken_model_file(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(ModelUnavailableError, match=r"cannot load the LLM .*broken\.gguf"):
        plan("a fox runs", settings=Settings(llm=str(bad), data_dir=tmp_path))


def test_hub_model_offline_says_how_to_use_a_local_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    messages: list[str] = []
    with pytest.raises(ModelUnavailableError, match=r"offline mode is on \(HF_HUB_OFFLINE\) and it was never downloaded; pass a \.gguf file with --llm"):
        plan("a fox runs", settings=Settings(llm="someone/Some-Model-GGUF:*Q4_K_M.gguf", data_dir=tmp_path), progress=messages.append)
    assert messages and "the first use downloads it" in messages[0]


def test_rewritten_model_file_is_loaded_again(tmp_path):
    path = write_tiny_gguf(tmp_path / "m.gguf", seed=1)
    first = LlamaBackend.load(tiny_settings(path, tmp_path))
    import os

    write_tiny_gguf(path, seed=2)
    os.utime(path, ns=(first_ns := path.stat().st_mtime_ns + 10**9, first_ns))
    second = LlamaBackend.load(tiny_settings(path, tmp_path))
    assert second.model_id != first.model_id  # so cached replies of the old model are not reused


def test_hub_model_downloads_once_with_progress_then_loads(tiny_gguf, tmp_path, monkeypatch):
    """A hub spec goes through `core.downloads` (a real HTTP server on 127.0.0.1 standing in for the hub):
    progress in the planner's log, a cancelled first attempt resumes, the second plan reuses the file."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import flowdrafter.core.downloads as downloads
    from flowdrafter.core.errors import Cancelled

    data = tiny_gguf.read_bytes()
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            asked.append(self.path)
            if self.path.startswith("/api/models/owner/tiny-GGUF/"):
                body = b'{"siblings": [{"rfilename": "tiny-Q4_K_M.gguf"}]}'
            elif self.path == "/owner/tiny-GGUF/resolve/main/tiny-Q4_K_M.gguf":
                start = int(self.headers["Range"][6:-1]) if self.headers.get("Range") else 0
                body = data[start:]
            else:
                body = b""
            self.send_response(206 if self.headers.get("Range") else 200 if body else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(downloads, "CHUNK", 64 * 1024)
    settings = tiny_settings("owner/tiny-GGUF:*Q4_K_M.gguf", tmp_path)
    try:
        with pytest.raises(Cancelled):
            LlamaBackend.load(settings, is_cancelled=lambda: True)
        messages: list[str] = []
        backend = LlamaBackend.load(settings, messages.append)
        assert backend.model_id == "hub:owner/tiny-GGUF:*Q4_K_M.gguf"
        assert messages[0].startswith("loading LLM owner/tiny-GGUF (*Q4_K_M.gguf) from the model hub")
        assert messages[-1].startswith("download tiny-Q4_K_M.gguf: ") and messages[-1].endswith("(100%), done")
        downloads_before = sum("/resolve/" in p for p in asked)
        LlamaBackend.load(settings)  # the second time: no hub at all
        assert sum("/resolve/" in p for p in asked) == downloads_before == 2  # the cancelled attempt and the resumed one
    finally:
        server.shutdown()
        server.server_close()
