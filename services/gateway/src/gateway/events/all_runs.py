"""Every run's status events as Server-Sent Events, live: what the dashboard's runs list
follows to see runs start and finish without asking again. From one hub, as a run's are."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

from commandcenter_contracts import subjects
from litestar.response import ServerSentEventMessage

from gateway.events.hub_stream import Endless, from_hub
from gateway.events.sse import Streams, require_nats

READY = "ready"
"""The first event: where the stream starts (its `id` is the sequence it follows)."""


async def open_all_runs_stream(
    streams: Streams, after_seq: int
) -> AsyncIterator[ServerSentEventMessage]:
    """From now on (`after_seq` 0), or after the event a reconnecting client saw last."""
    require_nats(streams.nc)
    newest = (await streams.js.stream_info(subjects.STREAM_STATUS)).state.last_seq
    return _follow_all(streams, after_seq or newest, newest)


async def _follow_all(
    streams: Streams, start: int, newest: int
) -> AsyncIterator[ServerSentEventMessage]:
    # An `id` at once: a client that drops before any run event resumes from here, not "now".
    yield ServerSentEventMessage(id=start, event=READY, data=json.dumps({"after_seq": start}))
    events = from_hub(streams, subjects.STATUS_ALL, start, newest, Endless())
    async with contextlib.aclosing(events):
        async for event in events:
            yield event
