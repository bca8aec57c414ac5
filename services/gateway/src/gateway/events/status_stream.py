"""A run's status events as Server-Sent Events: history first, then live, until the run has
ended and the client has everything there is."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg
import msgspec
from commandcenter_contracts import (
    RUN_ENDED,
    RUN_TERMINAL_TYPES,
    BatchStarted,
    RunPlanned,
    RunStarted,
    TaskQueued,
    status_decoder,
    subjects,
)
from litestar.response import ServerSentEventMessage
from nats.js import JetStreamContext

from gateway.domain_errors import NotFound
from gateway.events.queries import run_exists
from gateway.events.sse import Streams, keepalive, require_nats
from gateway.events.streams import follow, last_message
from gateway.readmodel.projection import event_type
from gateway.runs.queries import parse_run_id, run_status

# Events after which a run that had ended (halted) goes on: a replay re-opens it.
_REOPENING_TYPES = frozenset(
    str(cls.__struct_config__.tag) for cls in (RunPlanned, RunStarted, BatchStarted, TaskQueued)
)


def status_type(data: bytes) -> str | None:
    """The event's type, or None when it is not a status event (the projector dead-letters
    those; SSE clients only ever see well-formed events)."""
    try:
        return event_type(status_decoder.decode(data))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


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
    return _follow_run(streams.js, subject, after_seq, streams.keepalive_s, ended=ended)


async def _nothing() -> AsyncIterator[ServerSentEventMessage]:
    return
    yield  # an async generator that ends at once


async def _has_ended(pool: asyncpg.Pool, run_id: str) -> bool:
    """Whether the read model has the run over (a client resuming after its end)."""
    try:
        return await run_status(pool, run_id) in RUN_ENDED
    except Exception:  # PostgreSQL down: follow live, as for a running run
        return False


async def _follow_run(
    js: JetStreamContext, subject: str, after_seq: int, keepalive_s: float, *, ended: bool
) -> AsyncIterator[ServerSentEventMessage]:
    """The run's events after `after_seq`; ends once the run has ended (`ended`: it had, as
    far as the read model knows) and the client has everything there is. Events may follow a
    run's end (a killed task's report after `run.cancelled`), and a halted run may be resumed
    by a replay: the stream serves all of that, and ends when it is caught up after an end."""
    messages = follow(
        js, stream=subjects.STREAM_STATUS, subject=subject, after_seq=after_seq, idle_s=keepalive_s
    )
    async with contextlib.aclosing(messages):
        async for msg in messages:
            if msg is None:
                if ended:
                    return  # caught up after the run's end: nothing more is coming
                yield keepalive()
                continue
            kind = status_type(msg.data)
            if kind is None:
                continue
            yield ServerSentEventMessage(
                id=msg.metadata.sequence.stream,
                event=kind,
                data=msg.data.decode("utf-8", "replace"),
            )
            if kind in RUN_TERMINAL_TYPES:
                ended = True
            elif kind in _REOPENING_TYPES:
                ended = False
            if ended and not msg.metadata.num_pending:
                return
