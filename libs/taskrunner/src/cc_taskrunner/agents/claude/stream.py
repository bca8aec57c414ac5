"""Claude Code's `--output-format stream-json --verbose` output, one JSON object per line, read
with msgspec as it comes: log lines for people, and what the run cost and how it ended.

Line types used: `system`/`init` (session, model), `assistant` (text, `tool_use` blocks),
`user` (`tool_result` blocks), `system`/`api_retry` (attempt, `error_status`),
`system`/`permission_denied`, and the final `result` (subtype, `is_error`, turns, cost, usage,
permission denials, `api_error_status`). Unknown fields and types are ignored: releases add
them often.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import msgspec
from commandcenter_contracts import TaskUsage


class Usage(msgspec.Struct):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0


class ModelCost(msgspec.Struct):
    costUSD: float = 0.0


class Block(msgspec.Struct):
    type: str = ""
    text: str | None = None
    id: str | None = None
    name: str | None = None
    input: dict[str, Any] | None = None
    tool_use_id: str | None = None
    is_error: bool | None = None
    content: Any = None


class Message(msgspec.Struct):
    content: list[Block] | str = []
    model: str | None = None


class Denial(msgspec.Struct):
    tool_name: str = ""
    tool_input: dict[str, Any] | None = None


class Line(msgspec.Struct):
    type: str = ""
    subtype: str | None = None
    session_id: str | None = None
    model: str | None = None
    message: Message | str | None = None
    """`assistant`/`user`: the message; some `system` lines carry a plain text here."""
    # system/api_retry
    attempt: int | None = None
    error_status: int | None = None
    error: str | None = None
    # system/permission_denied
    tool_name: str | None = None
    # result
    is_error: bool = False
    num_turns: int = 0
    total_cost_usd: float = 0.0
    usage: Usage | None = None
    modelUsage: dict[str, ModelCost] | None = None
    model_usage_since_last_result: dict[str, ModelCost] | None = None
    permission_denials: list[Denial] = []
    api_error_status: int | None = None
    result: str | None = None
    errors: list[str] | None = None


_decoder = msgspec.json.Decoder(Line)

AUTH_STATUSES = frozenset({401, 403})


def describe_call(name: str, tool_input: dict[str, Any] | None) -> str:
    """`Write src/x.py`, `Bash pytest -q`: the tool and what it was asked to act on."""
    args = tool_input or {}
    for key in ("command", "file_path", "path", "notebook_path", "pattern", "url", "query"):
        value = args.get(key)
        if isinstance(value, str) and value:
            return f"{name} {_one_line(value)}"
    return name


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass
class Transcript:
    """What the stream said so far; `feed` turns each line into log lines to show."""

    session_id: str | None = None
    model: str | None = None
    result: Line | None = None
    auth_refused: int | None = None
    """The HTTP status of a refused credential seen in an `api_retry` (stop the CLI then)."""
    retries: list[int | None] = field(default_factory=list)
    denied: list[str] = field(default_factory=list)
    _calls: dict[str, str] = field(default_factory=dict)

    def feed(self, raw: str) -> list[str]:
        """The log lines for one line of stdout (a line that is not JSON is shown as it is)."""
        try:
            line = _decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return [raw] if raw.strip() else []
        if line.type == "system":
            return self._system(line)
        if line.type == "assistant" and isinstance(line.message, Message):
            return self._assistant(line.message)
        if line.type == "user" and isinstance(line.message, Message):
            return self._tool_results(line.message)
        if line.type == "result":
            self.result = line
            self.session_id = line.session_id or self.session_id
            return [self._summary(line)]
        return []

    def _system(self, line: Line) -> list[str]:
        if line.subtype == "init":
            self.session_id, self.model = line.session_id, line.model
            return [f"claude: session {line.session_id}, model {line.model}"]
        if line.subtype == "api_retry":
            self.retries.append(line.error_status)
            if line.error_status in AUTH_STATUSES and self.auth_refused is None:
                self.auth_refused = line.error_status
            status = line.error_status or "no answer"
            return [f"claude: API error ({status}: {line.error}); retry {line.attempt}"]
        if line.subtype == "permission_denied":
            return [f"claude: permission denied: {line.tool_name}"]
        return []

    def _assistant(self, message: Message) -> list[str]:
        if isinstance(message.content, str):
            return [message.content] if message.content.strip() else []
        out: list[str] = []
        for block in message.content:
            if block.type == "text" and block.text:
                out += [line for line in block.text.splitlines() if line.strip()]
            elif block.type == "tool_use" and block.name:
                call = describe_call(block.name, block.input)
                self._calls[block.id or ""] = call
                out.append(f"→ {call}")
        return out

    def _tool_results(self, message: Message) -> list[str]:
        if isinstance(message.content, str):
            return []
        out = []
        for block in message.content:
            if block.type != "tool_result":
                continue
            call = self._calls.get(block.tool_use_id or "", "tool")
            if block.is_error:
                out.append(f"← {call}: error: {_one_line(_text_of(block.content), 300)}")
            else:
                out.append(f"← {call}: ok")
        return out

    def _summary(self, line: Line) -> str:
        state = "failed" if line.is_error else "done"
        return (
            f"claude: {state} ({line.subtype}) after {line.num_turns} turn(s), "
            f"${self.cost_of(line):.4f}"
        )

    @staticmethod
    def cost_of(line: Line) -> float:
        """This run's cost: a resumed session's `total_cost_usd` counts earlier runs too."""
        since = line.model_usage_since_last_result
        if since:
            return sum(m.costUSD for m in since.values())
        return line.total_cost_usd

    def usage(self) -> TaskUsage | None:
        line = self.result
        if line is None:
            return None
        usage = line.usage or Usage()
        model = next(iter(line.modelUsage or {}), None) or self.model
        return TaskUsage(
            cost_usd=self.cost_of(line),
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_input_tokens,
            cache_creation_tokens=usage.cache_creation_input_tokens,
            turns=line.num_turns,
            model=model,
            session_id=line.session_id or self.session_id,
        )

    def denials(self) -> tuple[str, ...]:
        line = self.result
        found = [
            describe_call(d.tool_name, d.tool_input)
            for d in (line.permission_denials if line else [])
        ]
        return tuple(dict.fromkeys(found))


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            _text_of(c.get("text", "")) if isinstance(c, dict) else str(c) for c in content
        )
    return json.dumps(content) if content is not None else ""
