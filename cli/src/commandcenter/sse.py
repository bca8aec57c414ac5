"""Following a Server-Sent Events stream (httpx-sse), resuming with `Last-Event-ID` after a drop."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
from httpx_sse import EventSource, connect_sse


@dataclass(frozen=True)
class SseMessage:
    id: str | None
    event: str
    data: str


def messages(response: httpx.Response) -> Iterator[SseMessage]:
    """The messages of a `text/event-stream` response, as they arrive.

    A block without data is not a message (the spec dispatches nothing for it): keep-alive
    comments end in such a block, and httpx-sse would repeat the last id with it."""
    for sse in EventSource(response).iter_sse():
        if sse.data:
            yield SseMessage(id=sse.id or None, event=sse.event, data=sse.data)


def follow(
    client: httpx.Client,
    url: str,
    *,
    last_event_id: str | None = None,
    reconnect_for_s: float = 120.0,
) -> Iterator[SseMessage]:
    """Yield every message of the stream until the server ends it; on a dropped connection,
    reconnect with the last id seen, so nothing is missed and nothing repeats.

    An error answer (4xx/5xx) raises `httpx.HTTPStatusError` with its body read."""
    give_up_at: float | None = None
    while True:
        headers = {"Last-Event-ID": last_event_id} if last_event_id is not None else {}
        try:
            with connect_sse(
                client, "GET", url, headers=headers, timeout=httpx.Timeout(10, read=60)
            ) as source:
                if source.response.is_error:
                    source.response.read()
                    source.response.raise_for_status()
                give_up_at = None
                for message in messages(source.response):
                    if message.id is not None:
                        last_event_id = message.id
                    yield message
            return  # the server ended the stream: what it streams is over
        except httpx.TransportError:
            now = time.monotonic()
            give_up_at = give_up_at or now + reconnect_for_s
            if now > give_up_at:
                raise
            time.sleep(1.0)
