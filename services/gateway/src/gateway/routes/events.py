"""Server-Sent Events of a run's status events, and a task's agent output.

Both read JetStream directly (not the read model): `id:` is the stream sequence, so a client
that reconnects with `Last-Event-ID` gets exactly what it has not seen yet.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from commandcenter_contracts import RUN_TERMINAL_TYPES, log_decoder, status_decoder, subjects
from litestar import MediaType, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage, Stream
from nats.js import JetStreamContext

from gateway.db import repository
from gateway.errors import ServiceUnavailable, bad_request, not_found
from gateway.projection import TERMINAL_TASK_STATUSES, event_type
from gateway.resources import Resources
from gateway.streams import follow, last_message

LastEventIdHeader = Annotated[
    str | None,
    HeaderParameter(name="Last-Event-ID", required=False, description="resume after this id"),
]
LastEventIdQuery = Annotated[
    str | None,
    QueryParameter(name="last_event_id", required=False, description="resume after this id"),
]
SSE_HEADERS = {"X-Accel-Buffering": "no"}  # nginx & co.: do not buffer the stream
# A NATS subject token: what a task id must look like to have a log subject at all.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
# How often a log stream checks whether its task has finished, while idle.
LOG_IDLE_CHECK_S = 1.0


def _after_seq(header: str | None, query: str | None) -> int:
    raw = header if header is not None else query
    if raw is None or not raw.strip():
        return 0
    try:
        value = int(raw.strip())
    except ValueError:
        value = -1
    if not 0 <= value < 2**63:
        source = "header" if header is not None else "query"
        raise bad_request(
            "Last-Event-ID" if header is not None else "last_event_id",
            "expected a stream sequence (a non-negative integer)",
            source=source,
        )
    return value


def _require_nats(resources: Resources) -> None:
    # Streams are read from JetStream: without it, say so at once instead of timing out.
    if not resources.nc.is_connected:
        raise ServiceUnavailable("NATS", "not connected")


def _status_type(data: bytes) -> str | None:
    """The event's type, or None when it is not a status event (the projector dead-letters
    those; SSE clients only ever see well-formed events)."""
    try:
        return event_type(status_decoder.decode(data))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def _keepalive() -> ServerSentEventMessage:
    return ServerSentEventMessage(data=None, comment="keep-alive")


# Events after which a run that had ended (halted) goes on: a replay re-opens it.
_REOPENING_TYPES = frozenset({"run.planned", "run.started", "batch.started", "task.queued"})
_ENDED_STATUSES = frozenset({"succeeded", "failed", "cancelled", "halted"})


async def _run_event_stream(
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
                yield _keepalive()
                continue
            kind = _status_type(msg.data)
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


@get(
    "/api/v1/runs/{run_id:str}/events",
    tags=["runs"],
    summary="The run's status events (Server-Sent Events), history first, then live",
)
async def run_events(
    run_id: FromPath[str],
    resources: NamedDependency[Resources],
    last_event_id_header: LastEventIdHeader = None,
    last_event_id: LastEventIdQuery = None,
) -> ServerSentEvent:
    after = _after_seq(last_event_id_header, last_event_id)
    rid = repository.parse_run_id(run_id)
    if rid is None:
        raise not_found(f"run {run_id[:100]}")
    _require_nats(resources)
    subject = subjects.status_subject(str(rid))
    last = await last_message(resources.js, subjects.STREAM_STATUS, subject)
    if last is None and not await repository.run_exists(resources.pool, str(rid)):
        raise not_found(f"run {rid}")

    async def nothing() -> AsyncIterator[ServerSentEventMessage]:
        return
        yield  # an async generator that ends at once

    seen_end = last is not None and (last.seq or 0) <= after
    if seen_end and last is not None and _status_type(last.data or b"") in RUN_TERMINAL_TYPES:
        # The client has seen the run's end already: nothing will ever follow.
        return ServerSentEvent(nothing(), headers=SSE_HEADERS)
    stream = _run_event_stream(
        resources.js,
        subject,
        after,
        resources.settings.sse_keepalive_s,
        ended=after > 0 and await _has_ended(resources, str(rid)),
    )
    return ServerSentEvent(stream, headers=SSE_HEADERS)


async def _has_ended(resources: Resources, run_id: str) -> bool:
    """Whether the read model has the run over (a client resuming after its end)."""
    try:
        return await repository.run_status(resources.pool, run_id) in _ENDED_STATUSES
    except Exception:  # PostgreSQL down: follow live, as for a running run
        return False


def _log_line(data: bytes) -> str | None:
    try:
        return log_decoder.decode(data).line
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


async def _log_text(js: JetStreamContext, subject: str, until_seq: int) -> AsyncIterator[str]:
    """The task's output up to `until_seq` (what existed when the request came)."""
    if until_seq <= 0:
        return
    idle = 0
    messages = follow(
        js, stream=subjects.STREAM_LOGS, subject=subject, after_seq=0, idle_s=LOG_IDLE_CHECK_S
    )
    async with contextlib.aclosing(messages):
        async for msg in messages:
            if msg is None:
                idle += 1
                if idle >= 3:  # the rest aged out of the stream meanwhile
                    return
                continue
            line = _log_line(msg.data)
            if line is not None:
                yield line + "\n"
            if msg.metadata.sequence.stream >= until_seq:
                return


async def _log_events(
    resources: Resources, run_id: str, task_id: str, subject: str, after_seq: int
) -> AsyncIterator[ServerSentEventMessage]:
    """Live output until the task has finished and nothing more arrives."""
    keepalive_s = resources.settings.sse_keepalive_s
    last_sent = time.monotonic()
    messages = follow(
        resources.js,
        stream=subjects.STREAM_LOGS,
        subject=subject,
        after_seq=after_seq,
        idle_s=min(LOG_IDLE_CHECK_S, keepalive_s),
    )
    async with contextlib.aclosing(messages):
        async for msg in messages:
            if msg is None:
                status: str | None = None
                with contextlib.suppress(Exception):  # DB down: keep following
                    status = await repository.task_status(resources.pool, run_id, task_id)
                if status in TERMINAL_TASK_STATUSES:
                    return
                if time.monotonic() - last_sent >= keepalive_s:
                    last_sent = time.monotonic()
                    yield _keepalive()
                continue
            if _log_line(msg.data) is None:
                continue
            last_sent = time.monotonic()
            yield ServerSentEventMessage(
                id=msg.metadata.sequence.stream,
                event="log",
                data=msg.data.decode("utf-8", "replace"),
            )


@get(
    "/api/v1/runs/{run_id:str}/tasks/{task_id:str}/log",
    tags=["runs"],
    summary="A task's agent output: text, or Server-Sent Events with Accept: text/event-stream",
)
async def task_log(
    run_id: FromPath[str],
    task_id: FromPath[str],
    request: Request[Any, Any, Any],
    resources: NamedDependency[Resources],
    last_event_id_header: LastEventIdHeader = None,
    last_event_id: LastEventIdQuery = None,
) -> Stream:
    after = _after_seq(last_event_id_header, last_event_id)
    rid = repository.parse_run_id(run_id)
    if rid is None or not _TOKEN.match(task_id):
        raise not_found(f"task {task_id[:100]} of run {run_id[:100]}")
    _require_nats(resources)
    subject = subjects.log_subject(str(rid), task_id)
    last = await last_message(resources.js, subjects.STREAM_LOGS, subject)
    if last is None and await repository.task_status(resources.pool, str(rid), task_id) is None:
        raise not_found(f"task {task_id} of run {rid}")
    if "text/event-stream" in request.headers.get("accept", ""):
        return ServerSentEvent(
            _log_events(resources, str(rid), task_id, subject, after), headers=SSE_HEADERS
        )
    until = (last.seq or 0) if last is not None else 0
    return Stream(_log_text(resources.js, subject, until), media_type=MediaType.TEXT)
