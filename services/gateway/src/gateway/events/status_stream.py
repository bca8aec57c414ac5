"""A run's status events as Server-Sent Events: history first, then live, until the run has
ended and the client has everything there is. Live events come from the run's hub: one
subscription however many clients follow the run."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
from commandcenter_contracts import RUN_ENDED, RUN_TERMINAL_TYPES, subjects
from litestar.response import ServerSentEventMessage

from gateway.domain_errors import NotFound
from gateway.events.frames import status_type
from gateway.events.hub_stream import RunEnd, from_hub
from gateway.events.queries import run_exists
from gateway.events.sse import Streams, require_nats
from gateway.events.streams import last_message
from gateway.runs.queries import parse_run_id, run_status


async def open_status_stream(
    streams: Streams, run_id: str, after_seq: int
) -> AsyncIterator[ServerSentEventMessage]:
    """The stream to serve (`NotFound` for an unknown run): checked before the answer starts."""
    rid = parse_run_id(run_id)
    if rid is None:
        raise NotFound(f"run {run_id[:100]}")
    require_nats(streams.nc)
    subject = subjects.status_subject(str(rid))
    last = await last_message(streams.js, subjects.STREAM_STATUS, subject)
    if last is None and not await run_exists(streams.pool, str(rid)):
        raise NotFound(f"run {rid}")
    seen_end = last is not None and (last.seq or 0) <= after_seq
    if seen_end and last is not None and status_type(last.data or b"") in RUN_TERMINAL_TYPES:
        # The client has seen the run's end already: nothing will ever follow.
        return _nothing()
    ended = after_seq > 0 and await _has_ended(streams.pool, str(rid))
    known_seq = 0 if last is None else last.seq or 0
    return from_hub(streams, subject, after_seq, known_seq, RunEnd(ended))


async def _nothing() -> AsyncIterator[ServerSentEventMessage]:
    return
    yield  # an async generator that ends at once


async def _has_ended(pool: asyncpg.Pool, run_id: str) -> bool:
    """Whether the read model has the run over (a client resuming after its end)."""
    try:
        return await run_status(pool, run_id) in RUN_ENDED
    except Exception:  # PostgreSQL down: follow live, as for a running run
        return False
