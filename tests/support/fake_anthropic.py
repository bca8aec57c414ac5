"""A stand-in for Anthropic's Messages API that plays scripted turns, for driving the real
Claude Code CLI in tests (`ANTHROPIC_BASE_URL=fake.url`).

It serves `POST /v1/messages` (the CLI adds `?beta=true`) both streaming — the SSE events in
the API's order: `message_start`, `content_block_start`, `content_block_delta` (`text_delta`,
or `input_json_delta` chunks for a tool call), `content_block_stop`, `message_delta`,
`message_stop` — and not streaming (the CLI retries a stalled stream without it).

A conversation is matched to its script by a marker the test puts in the task's prompt
(`Script.marker`); each request of that conversation gets the script's next turn. A turn says
what the model answers: text, a tool call, or an HTTP error (status and body). `{cwd}` in a
tool call's input is the agent's working directory, read from the request (the CLI sends
"Primary working directory: …"), as a model would use it. Every request is recorded, so a test
can read what the CLI sent (the prompt, the tool results, the headers).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "claude-sonnet-4-5-20250929"
_CWD = re.compile(r"Primary working directory: (\S+)")


@dataclass(frozen=True)
class Turn:
    """One answer of the model (or of the API, for an error)."""

    text: str = ""
    tool: str | None = None
    """A tool call: the tool's name (`Write`, `Bash`, …) with `tool_input`."""
    tool_input: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    """Not 200: the API answers this status with `error` (the CLI sees an API error)."""
    error: str = ""
    input_tokens: int = 1200
    output_tokens: int = 300
    cache_read_tokens: int = 0
    repeat: int = 1
    """An error turn can be served this many times in a row (a flapping API)."""


def write(path: str, content: str, text: str = "") -> Turn:
    return Turn(text=text, tool="Write", tool_input={"file_path": path, "content": content})


def bash(command: str, text: str = "") -> Turn:
    return Turn(text=text, tool="Bash", tool_input={"command": command, "description": command})


def say(text: str) -> Turn:
    return Turn(text=text)


def failing(status: int, message: str, repeat: int = 1) -> Turn:
    return Turn(status=status, error=message, repeat=repeat)


@dataclass
class Script:
    marker: str
    """Text in the conversation's first user message that selects this script."""
    turns: list[Turn]
    served: int = 0
    errors_served: int = 0

    def next_turn(self) -> Turn:
        if self.served >= len(self.turns):
            return say("Done.")
        turn = self.turns[self.served]
        if turn.status != 200:
            self.errors_served += 1
            if self.errors_served >= turn.repeat:
                self.served += 1
                self.errors_served = 0
            return turn
        self.served += 1
        return turn


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    script: str | None

    @property
    def streaming(self) -> bool:
        return bool(self.body.get("stream"))

    def texts(self) -> str:
        """Every text of the request's messages (user turns, tool results), joined."""
        return "\n".join(_texts(self.body.get("messages", [])))


def _texts(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from _texts(item)
    elif isinstance(node, dict):
        for key in ("text", "content"):
            if key in node:
                yield from _texts(node[key])


class FakeAnthropic:
    def __init__(self, *, api_key: str | None = None) -> None:
        self.api_key = api_key
        """When set, any other key (or none) gets 401."""
        self.scripts: list[Script] = []
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- life ---------------------------------------------------------------------------------
    def start(self) -> FakeAnthropic:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- scripts ------------------------------------------------------------------------------
    def script(self, marker: str, *turns: Turn) -> Script:
        script = Script(marker, list(turns))
        with self._lock:
            self.scripts.append(script)
        return script

    def of(self, marker: str) -> list[Request]:
        return [r for r in self.requests if r.script == marker]

    def _choose(self, body: dict[str, Any]) -> Script | None:
        first = body.get("messages", [])[:1]
        text = "\n".join(_texts(first)) + "\n".join(_texts(body.get("messages", [])))
        for script in self.scripts:
            if script.marker in text:
                return script
        return None

    def answer(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        """(status, response): a dict for JSON, a list of (event, data) for SSE."""
        with self._lock:
            script = self._choose(body)
            self.requests.append(Request(path, headers, body, script.marker if script else None))
            key = headers.get("x-api-key") or headers.get("authorization", "").removeprefix(
                "Bearer "
            )
            if self.api_key is not None and key != self.api_key:
                return 401, _error("authentication_error", "invalid x-api-key")
            turn = script.next_turn() if script else say("No script matched this conversation.")
        if turn.status != 200:
            return turn.status, _error(_error_type(turn.status), turn.error)
        model = str(body.get("model") or MODEL)
        found = _CWD.search("\n".join(_texts(body.get("messages", []))) + str(body.get("system")))
        message = _message(turn, model, found.group(1) if found else "")
        if body.get("stream"):
            return 200, _sse_events(message)
        return 200, message


def _error_type(status: int) -> str:
    return {
        401: "authentication_error",
        403: "permission_error",
        429: "rate_limit_error",
        529: "overloaded_error",
    }.get(status, "api_error")


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def _with_cwd(value: Any, cwd: str) -> Any:
    if isinstance(value, str):
        return value.replace("{cwd}", cwd)
    if isinstance(value, dict):
        return {k: _with_cwd(v, cwd) for k, v in value.items()}
    return value


def _message(turn: Turn, model: str, cwd: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if turn.text:
        content.append({"type": "text", "text": turn.text})
    if turn.tool:
        content.append(
            {
                "type": "tool_use",
                "id": f"toolu_{uuid.uuid4().hex[:24]}",
                "name": turn.tool,
                "input": _with_cwd(turn.tool_input, cwd),
            }
        )
    if not content:
        content.append({"type": "text", "text": "Done."})
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if turn.tool else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": turn.input_tokens,
            "output_tokens": turn.output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": turn.cache_read_tokens,
        },
    }


def _sse_events(message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    start = {**message, "content": [], "stop_reason": None}
    start["usage"] = {**message["usage"], "output_tokens": 1}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start})
    ]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            )
            for piece in _chunks(block["text"], 40):
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "text_delta", "text": piece},
                        },
                    )
                )
        else:
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {
                            "type": "tool_use",
                            "id": block["id"],
                            "name": block["name"],
                            "input": {},
                        },
                    },
                )
            )
            for piece in _chunks(json.dumps(block["input"]), 30):
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": piece},
                        },
                    )
                )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": message["usage"]["output_tokens"]},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class _Handler(BaseHTTPRequestHandler):
    owner: FakeAnthropic
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        headers = {k.lower(): v for k, v in self.headers.items()}
        path = self.path.split("?", 1)[0]
        if path != "/v1/messages":
            self._json(404, _error("not_found_error", f"no route {path}"))
            return
        status, answer = self.owner.answer(self.path, headers, body)
        if isinstance(answer, list):
            self._sse(answer)
        else:
            self._json(status, answer)

    def _json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", f"req_{uuid.uuid4().hex[:20]}")
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.send_header("request-id", f"req_{uuid.uuid4().hex[:20]}")
        self.end_headers()
        for name, data in events:
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002 - quiet
        return None
