"""A small Server-Sent Events client that resumes with `Last-Event-ID` after a disconnect."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class SseMessage:
    id: str | None
    event: str
    data: str


def parse_sse(lines: Iterator[str]) -> Iterator[SseMessage]:
    """Parse `text/event-stream` lines into messages (comments and retry lines are skipped)."""
    event_id: str | None = None
    event = "message"
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            if data:
                yield SseMessage(id=event_id, event=event, data="\n".join(data))
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            event_id = value
        elif name == "event":
            event = value
        elif name == "data":
            data.append(value)
    if data:
        yield SseMessage(id=event_id, event=event, data="\n".join(data))


def follow(
    client: httpx.Client,
    url: str,
    *,
    last_event_id: str | None = None,
    reconnect_for_s: float = 120.0,
) -> Iterator[SseMessage]:
    """Yield every message of the stream until the server ends it; on a dropped connection,
    reconnect with the last id seen, so nothing is missed and nothing repeats."""
    give_up_at: float | None = None
    while True:
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        try:
            with client.stream(
                "GET", url, headers=headers, timeout=httpx.Timeout(10, read=60)
            ) as r:
                r.raise_for_status()
                give_up_at = None
                for message in parse_sse(r.iter_lines()):
                    if message.id is not None:
                        last_event_id = message.id
                    yield message
            return  # the server ended the stream: the run is over
        except (httpx.TransportError, httpx.RemoteProtocolError):
            now = time.monotonic()
            give_up_at = give_up_at or now + reconnect_for_s
            if now > give_up_at:
                raise
            time.sleep(1.0)
