"""Every run's status events as Server-Sent Events, live: what the dashboard's runs list
follows to see runs start and finish without asking again."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

from commandcenter_contracts import subjects
from litestar.response import ServerSentEventMessage
from nats.js import JetStreamContext

from gateway.events.sse import Streams, keepalive, require_nats
from gateway.events.status_stream import status_type
from gateway.events.streams import follow

READY = "ready"
"""The first event: where the stream starts (its `id` is the sequence it follows)."""


async def open_all_runs_stream(
    streams: Streams, after_seq: int
) -> AsyncIterator[ServerSentEventMessage]:
    """From now on (`after_seq` 0), or after the event a reconnecting client saw last."""
    require_nats(streams.nc)
    start = after_seq
    if start == 0:
        start = (await streams.js.stream_info(subjects.STREAM_STATUS)).state.last_seq
    return _follow_all(streams.js, start, streams.keepalive_s)


async def _follow_all(
    js: JetStreamContext, start: int, keepalive_s: float
) -> AsyncIterator[ServerSentEventMessage]:
    # An `id` at once: a client that drops before any run event resumes from here, not "now".
    yield ServerSentEventMessage(id=start, event=READY, data=json.dumps({"after_seq": start}))
    messages = follow(
        js,
        stream=subjects.STREAM_STATUS,
        subject=subjects.STATUS_ALL,
        after_seq=start,
        idle_s=keepalive_s,
    )
    async with contextlib.aclosing(messages):
        async for msg in messages:
            if msg is None:
                yield keepalive()
                continue
            kind = status_type(msg.data)
            if kind is None:
                continue  # not a status event: the projector dead-letters it
            yield ServerSentEventMessage(
                id=msg.metadata.sequence.stream,
                event=kind,
                data=msg.data.decode("utf-8", "replace"),
            )
