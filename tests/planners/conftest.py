"""Planner fixtures: a real OpenAI-compatible HTTP server on 127.0.0.1 replaying hand-written replies, and
the tiny random-weight GGUF.

The replay server answers like llama.cpp's server or vLLM would: it reads the stage from the request's
JSON schema, the story or scene from the last "Story:"/"Event:" user message, and the turn (first ask,
re-ask after a validation error, refinement round) from the last user message. Replies are written the
way real models misbehave: code fences, chatter, raw newlines in strings, 7.7e98, NaN, cut-off JSON.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from flowdrafter.core.settings import Settings

J = json.dumps

# -- story A: a clean 3-scene plan whose second layout moves the wrong way until refinement -------------------

KITTEN = "a kitten chases a red ball through a garden, then falls asleep on the porch"
KITTEN_SCRIPT = J({
    "title": "Kitten and the red ball",
    "style": "soft watercolor storybook illustration",
    "scenes": [
        {"title": "The ball rolls in", "event": "a red ball rolls into the garden from the left while the kitten watches",
         "foreground": ["kitten", "red ball"], "background": "garden", "camera": "static", "duration": 2, "continues": False},
        {"title": "The chase", "event": "the kitten chases the red ball from left to right across the garden",
         "foreground": ["the kitten", "Red ball"], "background": "garden", "camera": "static", "duration": 3, "continues": True},
        {"title": "Nap on the porch", "event": "the tired kitten curls up on the porch and falls asleep",
         "foreground": ["kitten"], "background": "porch", "camera": "zoom_in", "duration": 2, "continues": False},
    ],
})
KITTEN_ENTITIES = J({"entities": [
    {"id": "kitten", "description": "a small grey tabby kitten with white paws, green eyes and a pink nose"},
    {"id": "red-ball", "description": "a shiny red rubber ball with a thin white stripe"},
    {"id": "garden", "description": "a sunny cottage garden with lavender beds, a wooden fence and soft morning light"},
    {"id": "porch", "description": "a sunlit wooden porch with a woven straw mat and a potted geranium"},
]})
KITTEN_S1 = J({"background_motion": {"dx": 0.0, "dy": 0.0}, "keyframes": [
    {"frame": 0, "description": "the kitten sits on the grass, ears up; the ball enters at the left",
     "boxes": [{"entity": "kitten", "box": [0.1, 0.45, 0.34, 0.9]}, {"entity": "red-ball", "box": [0.0, 0.74, 0.1, 0.9]}]},
    {"frame": 15, "description": "the ball stops in the middle of the lawn",
     "boxes": [{"entity": "kitten", "box": [0.1, 0.45, 0.34, 0.9]}, {"entity": "red-ball", "box": [0.45, 0.74, 0.55, 0.9]}]},
]})
KITTEN_S2_WRONG = J({"background_motion": {"dx": 0.0, "dy": 0.0}, "keyframes": [
    {"frame": 0, "description": "the kitten crouches, ready to pounce",
     "boxes": [{"entity": "kitten", "box": [0.6, 0.45, 0.84, 0.9]}, {"entity": "red-ball", "box": [0.45, 0.74, 0.55, 0.9]}]},
    {"frame": 23, "description": "the kitten bats the ball",
     "boxes": [{"entity": "kitten", "box": [0.1, 0.45, 0.34, 0.9]}, {"entity": "red-ball", "box": [0.02, 0.74, 0.12, 0.9]}]},
]})
KITTEN_S2_FIXED = J({"background_motion": {"dx": 0.0, "dy": 0.0}, "keyframes": [
    {"frame": 0, "description": "the kitten crouches behind the ball",
     "boxes": [{"entity": "kitten", "box": [0.1, 0.45, 0.34, 0.9]}, {"entity": "red-ball", "box": [0.45, 0.74, 0.55, 0.9]}]},
    {"frame": 12, "description": "the kitten bounds after the rolling ball",
     "boxes": [{"entity": "kitten", "box": [0.36, 0.42, 0.6, 0.88]}, {"entity": "red-ball", "box": [0.68, 0.74, 0.78, 0.9]}]},
    {"frame": 23, "description": "the kitten pounces on the ball",
     "boxes": [{"entity": "kitten", "box": [0.62, 0.42, 0.86, 0.88]}, {"entity": "red-ball", "box": [0.86, 0.74, 0.96, 0.9]}]},
]})
KITTEN_S3 = J({"background_motion": {"dx": 0.0, "dy": 0.0}, "keyframes": [
    {"frame": 0, "description": "the kitten yawns on the mat", "boxes": [{"entity": "kitten", "box": [0.3, 0.4, 0.62, 0.9]}]},
    {"frame": 15, "description": "the kitten sleeps curled up", "boxes": [{"entity": "kitten", "box": [0.32, 0.55, 0.66, 0.9]}]},
]})

# -- story B: a model that misbehaves at every stage ------------------------------------------------------------

ROBOT = "a robot waters the plants on a balcony at dawn"
ROBOT_SCRIPT_BAD = (
    "Sure! Here is the script:\n```json\n"
    '{"title": "Morning chores", "style": "warm pixar-like 3d render", "scenes": ['
    '{"title": "Watering", "event": "the robot rolls from left to right along the balcony\nwatering the pots", '
    '"foreground": ["robot", "watering can"], "background": "balcony", "camera": "pan_right", "duration": 7.7e98, "continues": false}, '
    '{"title": "Sunrise", "event": "the robot stops and looks at the sunrise", "foreground": ["robot"], '
    '"background": "balcony", "camera": "static", "duration": 3, "continues": true}]}\n```\nLet me know if you want changes!'
)
ROBOT_SCRIPT_GOOD = (
    '{"title": "Morning chores", "style": "warm 3d render", "scenes": ['
    '{"title": "Watering", "event": "the robot rolls from left to right along the balcony\twatering the pots", '
    '"foreground": ["robot", "watering can"], "background": "balcony", "camera": "pan_right", "duration": 3, "continues": false}, '
    '{"title": "Sunrise", "event": "the robot stops and looks at the sunrise", "foreground": ["robot"], '
    '"background": "balcony", "camera": "static", "duration": 2, "continues": true}]} trailing words'
)
ROBOT_ENTITIES_BAD = J({"entities": [
    {"id": "robot-1", "description": "a robot"},
    {"id": "robot", "description": "a small round white robot with a blue visor and rubber treads"},
    {"id": "watering-can", "description": "a dented green metal watering can"},
]})
ROBOT_ENTITIES_AGAIN = ROBOT_ENTITIES_BAD  # the model does not fix it; repair fills "balcony"
ROBOT_S1_TRUNCATED = (
    '{"background_motion": {"dx": NaN, "dy": 0}, "keyframes": [{"frame": 0, "description": "the robot starts at the left", '
    '"boxes": [{"entity": "robot", "box": [0.05, 0.4, 0.3, 0.9]}, {"entity": "watering-can", "box": [0.25, 0.55, 0.35, 0.7]}]}, '
    '{"frame": 23, "descr'
)
ROBOT_S1_REFUSAL = "I'm sorry, but I can't continue with that layout."
ROBOT_S1_REFINE = J({"background_motion": {"dx": 0.0, "dy": 0.0}, "keyframes": [
    {"frame": 0, "description": "the robot starts at the left", "boxes": [
        {"entity": "robot", "box": [0.05, 0.4, 7.7e98, 0.9]}, {"entity": "watering-can", "box": [0.25, 0.55, 0.35, 0.7]}]},
]})
ROBOT_S2 = J({"background_motion": {"dx": 0.0, "dy": 0.0}, "keyframes": [
    {"frame": 0, "description": "the robot looks up at the orange sky", "boxes": [{"entity": "robot", "box": [0.6, 0.4, 0.85, 0.9]}]},
    {"frame": 15, "description": "the robot tilts its head", "boxes": [{"entity": "robot", "box": [0.6, 0.4, 0.85, 0.9]}]},
]})

# -- story C: a prompt in French, planned in English ------------------------------------------------------------

CAT = "un chat noir saute sur le toit puis regarde la lune"
CAT_SCRIPT = J({"title": "The black cat and the moon", "style": "moody blue night illustration", "scenes": [
    {"title": "The leap", "event": "a black cat jumps up onto a tiled roof", "foreground": ["black cat"],
     "background": "rooftop at night", "camera": "static", "duration": 2, "continues": False},
    {"title": "Moonwatch", "event": "the black cat sits on the ridge and gazes at the full moon", "foreground": ["black cat"],
     "background": "rooftop at night", "camera": "zoom_in", "duration": 3, "continues": True},
]})
CAT_ENTITIES = J({"entities": [
    {"id": "black-cat", "description": "a sleek black cat with yellow eyes and a white tip on its tail"},
    {"id": "rooftop-at-night", "description": "red clay roof tiles and chimneys under a deep blue night sky with a full moon"},
]})
CAT_S1 = J({"background_motion": {"dx": 0.0, "dy": 0.0}, "keyframes": [
    {"frame": 0, "description": "the cat crouches on a ledge", "boxes": [{"entity": "black-cat", "box": [0.4, 0.6, 0.6, 0.9]}]},
    {"frame": 15, "description": "the cat lands on the tiles", "boxes": [{"entity": "black-cat", "box": [0.42, 0.3, 0.62, 0.58]}]},
]})
CAT_S2 = J({"background_motion": {"dx": 0.0, "dy": 0.0}, "keyframes": [
    {"frame": 0, "description": "the cat sits on the ridge", "boxes": [{"entity": "black-cat", "box": [0.42, 0.32, 0.62, 0.6]}]},
    {"frame": 23, "description": "the cat looks up at the moon", "boxes": [{"entity": "black-cat", "box": [0.42, 0.3, 0.64, 0.6]}]},
]})

# -- re-planning one scene of story A ---------------------------------------------------------------------------

KITTEN_S2_NEW = J({"title": "Kitten and the red ball", "style": "soft watercolor storybook illustration", "scenes": [
    {"title": "A butterfly", "event": "the kitten chases a yellow butterfly from right to left across the garden",
     "foreground": ["kitten", "butterfly"], "background": "garden", "camera": "pan_left", "duration": 2, "continues": True},
]})
BUTTERFLY = J({"entities": [{"id": "butterfly", "description": "a small lemon-yellow butterfly with black-edged wings"}]})
KITTEN_S2_NEW_LAYOUT = J({"background_motion": {"dx": 0.0, "dy": 0.0}, "keyframes": [
    {"frame": 0, "description": "the kitten spots the butterfly", "boxes": [
        {"entity": "kitten", "box": [0.12, 0.45, 0.36, 0.9]}, {"entity": "butterfly", "box": [0.5, 0.3, 0.58, 0.38]}]},
    {"frame": 15, "description": "the kitten leaps after it", "boxes": [
        {"entity": "kitten", "box": [0.0, 0.4, 0.24, 0.86]}, {"entity": "butterfly", "box": [0.04, 0.2, 0.12, 0.28]}]},
]})

SLOW = "a snail crosses a very slow road"
BROKEN = "a lighthouse keeper climbs the stairs"
NOT_JSON = "a balloon floats over the city"


@dataclass
class Reply:
    content: str | None = None
    status: int = 200
    raw: str | None = None  # a body that is not a chat completion at all
    delay: float = 0.0


# (stage, text that identifies the story or scene, turn) -> reply
REPLIES: dict[tuple[str, str, str], Reply] = {
    ("cast", KITTEN, "first"): Reply(J({"cast": ["kitten", "red ball"]})),
    ("cast", ROBOT, "first"): Reply(J({"cast": ["robot", "dawn"]})),  # "at dawn" is a time and place: the cast check drops it
    ("cast", CAT, "first"): Reply(J({"cast": [{"words": "chat noir", "name": "black cat"}]})),
    ("script", "Write a new version of scene 2", "first"): Reply(KITTEN_S2_NEW),  # before story A's own script
    ("entities", '- butterfly (foreground) "butterfly"', "first"): Reply(BUTTERFLY),
    ("layout", "the kitten chases a yellow butterfly", "first"): Reply(KITTEN_S2_NEW_LAYOUT),
    ("script", KITTEN, "first"): Reply(KITTEN_SCRIPT),
    ("entities", KITTEN, "first"): Reply(KITTEN_ENTITIES),
    ("layout", "a red ball rolls into the garden", "first"): Reply(KITTEN_S1),
    ("layout", "the kitten chases the red ball", "first"): Reply(KITTEN_S2_WRONG),
    ("layout", "the kitten chases the red ball", "refine"): Reply(KITTEN_S2_FIXED),
    ("layout", "the tired kitten curls up", "first"): Reply(KITTEN_S3),
    ("script", ROBOT, "first"): Reply(ROBOT_SCRIPT_BAD),
    ("script", ROBOT, "reask"): Reply(ROBOT_SCRIPT_GOOD),
    ("entities", ROBOT, "first"): Reply(ROBOT_ENTITIES_BAD),
    ("entities", ROBOT, "reask"): Reply(ROBOT_ENTITIES_AGAIN),
    ("layout", "the robot rolls from left to right", "first"): Reply(ROBOT_S1_TRUNCATED),
    ("layout", "the robot rolls from left to right", "reask"): Reply(ROBOT_S1_REFUSAL),
    ("layout", "the robot rolls from left to right", "refine"): Reply(ROBOT_S1_REFINE),
    ("layout", "the robot stops and looks", "first"): Reply(ROBOT_S2),
    ("script", CAT, "first"): Reply(CAT_SCRIPT),
    ("entities", CAT, "first"): Reply(CAT_ENTITIES),
    ("layout", "a black cat jumps up", "first"): Reply(CAT_S1),
    ("layout", "the black cat sits on the ridge", "first"): Reply(CAT_S2),
    ("script", SLOW, "first"): Reply(KITTEN_SCRIPT, delay=3.0),
    ("script", BROKEN, "first"): Reply(status=500, raw='{"error": {"message": "CUDA out of memory", "type": "server_error"}}'),
    ("script", NOT_JSON, "first"): Reply(raw="<html><body>502 Bad Gateway</body></html>"),
}


OLD_SERVER = "a dog digs in the sand for an old server"  # a server without json_schema support (HTTP 400)
DOG_SCRIPT = J({"title": "Digging", "style": "sunny beach photo", "scenes": [
    {"title": "Dig", "event": "a brown dog digs a hole in the sand", "foreground": ["dog"], "background": "beach",
     "camera": "static", "duration": 2, "continues": False}]})
DOG_ENTITIES = J({"entities": [{"id": "dog", "description": "a brown labrador with a red collar"},
                               {"id": "beach", "description": "a wide sandy beach at noon"}]})
DOG_LAYOUT = J({"background_motion": {"dx": 0, "dy": 0}, "keyframes": [
    {"frame": 0, "description": "the dog sniffs the sand", "boxes": [{"entity": "dog", "box": [0.3, 0.4, 0.7, 0.9]}]}]})
REPLIES_OLD_SERVER = {"cast": J({"cast": ["dog"]}), "script": DOG_SCRIPT, "entities": DOG_ENTITIES, "layout": DOG_LAYOUT}


def _schema(body: dict[str, Any]) -> dict[str, Any]:
    schema = body.get("response_format", {}).get("json_schema", {}).get("schema")
    if schema is None:  # json_object mode: the schema is in the prompt
        hint = body["messages"][0]["content"]
        schema = json.loads(hint.split(":", 1)[1]) if hint.startswith("Reply with JSON matching this schema:") else {}
    return schema


def _stage(body: dict[str, Any]) -> str:
    schema = _schema(body)
    props = set(schema.get("properties", {}))
    for stage, key in (("cast", "cast"), ("identity", "same"), ("script", "scenes"), ("entities", "entities")):
        if key in props:
            return stage
    return "layout"


def _turn(messages: list[dict[str, str]]) -> str:
    last = messages[-1]["content"]
    if last.startswith("Your reply could not be used"):
        return "reask"
    if last.startswith("Checking your reply"):
        return "refine"
    return "first"


def _subject(messages: list[dict[str, str]]) -> str:
    for m in reversed(messages):
        if m["role"] == "user" and m["content"].startswith(("Story:", "Event:")):
            return m["content"]
    return ""


@dataclass
class ReplayServer:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)

    def turns(self, stage: str | None = None) -> list[tuple[str, str]]:
        """(stage, turn) of every request received, in order."""
        out = [(_stage(b), _turn(b["messages"])) for b in self.requests]
        return [t for t in out if stage is None or t[0] == stage]


@pytest.fixture
def replay_server():
    """A real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions protocol."""
    record: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            if self.path != "/v1/chat/completions":
                self._send(404, b'{"error": "not found"}')
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            record.append(body)
            stage, turn, subject = _stage(body), _turn(body["messages"]), _subject(body["messages"])
            if OLD_SERVER in subject or "digs a hole" in subject:
                if body["response_format"]["type"] == "json_schema":
                    self._send(400, b'{"error": {"message": "response_format type json_schema is not supported"}}')
                else:
                    self._send(200, J({"choices": [{"message": {"content": REPLIES_OLD_SERVER[stage]}, "finish_reason": "stop"}]}).encode())
                return
            reply = next(
                (r for (s, key, t), r in REPLIES.items() if s == stage and t == turn and key in subject),
                None,
            )
            if reply is None:  # no hand-written answer for this turn: repeat the first one, as a stubborn model would
                reply = next((r for (s, key, t), r in REPLIES.items() if s == stage and t == "first" and key in subject), None)
            if reply is None and stage == "cast":  # a story without a cast reply: the first name the schema allows
                item = _schema(body)["properties"]["cast"]["items"]
                names = item.get("enum") or item.get("properties", {}).get("words", {}).get("enum") or ["someone"]
                reply = Reply(J({"cast": [names[0] if "enum" in item else {"words": names[0], "name": names[0]}]}))
            if reply is None and stage == "identity":
                reply = Reply(J({"same": False}))
            if reply is None:
                self._send(404, J({"error": f"no replay for {stage}/{turn}: {subject[:80]}"}).encode())
                return
            if reply.delay:
                time.sleep(reply.delay)
            if reply.raw is not None:
                self._send(reply.status, reply.raw.encode())
                return
            payload = {
                "id": "chatcmpl-replay", "object": "chat.completion", "model": body.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.content}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 900, "completion_tokens": len(reply.content) // 4, "total_tokens": 900 + len(reply.content) // 4},
            }
            self._send(reply.status, J(payload).encode())

        def _send(self, status: int, data: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                pass

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        block_on_close = False  # a handler still sleeping in the timeout test must not hold up teardown
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ReplayServer(url=f"http://127.0.0.1:{server.server_address[1]}", requests=record)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def server_settings(replay_server: ReplayServer, tmp_path: Path) -> Settings:
    return Settings(llm_url=replay_server.url, llm_model="replay", data_dir=tmp_path / "data", llm_timeout=10.0, llm_refine_rounds=2)


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from builders.tiny_gguf import write_tiny_gguf

    return write_tiny_gguf(tmp_path_factory.mktemp("llm") / "tiny.gguf")
