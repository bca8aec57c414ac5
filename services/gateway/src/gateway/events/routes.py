"""The event streams over HTTP: every run's status events, a run's, a task's log."""

from __future__ import annotations

import re
from typing import Annotated, Any

from litestar import MediaType, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, QueryParameter
from litestar.response import ServerSentEvent, Stream
from litestar.types import ControllerRouterHandler

from gateway.api_schema import refusals
from gateway.auth.sse_limit import StreamGate
from gateway.domain_errors import InvalidRequest
from gateway.events import logs
from gateway.events.all_runs import open_all_runs_stream
from gateway.events.sse import SSE_HEADERS, Streams
from gateway.events.status_stream import open_status_stream
from gateway.metrics.sse_clients import counted
from gateway.runs.ids import RunId

EVENT_ID = r"^[0-9]{0,18}$"
"""A stream sequence (or nothing): what `_after_seq` takes."""

LastEventIdHeader = Annotated[
    str | None,
    HeaderParameter(
        name="Last-Event-ID",
        required=False,
        schema_extra={"pattern": EVENT_ID},  # checked by `_after_seq`, which names the header
        description="resume after this id (an event's `id`; empty: from the start)",
    ),
]
LastEventIdQuery = Annotated[
    str | None,
    QueryParameter(
        name="last_event_id",
        required=False,
        schema_extra={"pattern": EVENT_ID},
        description="resume after this id, for clients that cannot set `Last-Event-ID`",
    ),
]


def _after_seq(header: str | None, query: str | None) -> int:
    """The stream sequence a client resumes after (the header wins; empty: from the start).
    Both are checked when both are given: a malformed one is a 400 even if unused."""
    seqs = [
        _sequence(raw, name, source)
        for raw, name, source in (
            (header, "Last-Event-ID", "header"),
            (query, "last_event_id", "query"),
        )
        if raw is not None
    ]
    return seqs[0] if seqs else 0


def _sequence(raw: str, name: str, source: str) -> int:
    # Judged as the OpenAPI document's pattern is (a search: `$` also matches before a final
    # newline), so the server takes exactly what the document allows.
    if re.search(EVENT_ID, raw) is None:
        raise InvalidRequest(
            name,
            "expected a stream sequence (a non-negative integer of at most 18 digits)",
            source=source,
        )
    return int(raw) if raw.strip() else 0


def provide_after_seq(
    last_event_id_header: LastEventIdHeader = None, last_event_id: LastEventIdQuery = None
) -> int:
    """The `after_seq` of both streams' handlers, from the request."""
    return _after_seq(last_event_id_header, last_event_id)


@get(
    "/api/v1/events",
    tags=["runs"],
    summary="Every run's status events (Server-Sent Events), live from now",
    description="A `ready` event first, whose `id` is where the stream starts; then each status "
    "event of any run as it is published (`event`: its type, `data`: the event). With "
    "`Last-Event-ID` (or `last_event_id`), the events after that one: nothing is missed "
    "across a reconnect.",
    responses=refusals(400, 503),
)
async def all_run_events(
    streams: NamedDependency[Streams],
    after_seq: NamedDependency[int],
    sse_gate: NamedDependency[StreamGate],
) -> ServerSentEvent:
    async with sse_gate.slot() as slot:  # 429 when this token holds too many streams
        stream = await open_all_runs_stream(streams, after_seq)
    return ServerSentEvent(counted(slot.hold(stream)), headers=SSE_HEADERS)


@get(
    "/api/v1/runs/{run_id:str}/events",
    tags=["runs"],
    summary="The run's status events (Server-Sent Events), history first, then live",
    responses=refusals(400, 404, 409, 503),
)
async def run_events(
    run: NamedDependency[RunId],
    streams: NamedDependency[Streams],
    after_seq: NamedDependency[int],
    sse_gate: NamedDependency[StreamGate],
) -> ServerSentEvent:
    async with sse_gate.slot() as slot:
        stream = await open_status_stream(streams, run, after_seq)
    return ServerSentEvent(counted(slot.hold(stream)), headers=SSE_HEADERS)


@get(
    "/api/v1/runs/{run_id:str}/tasks/{task_id:str}/log",
    tags=["runs"],
    summary="A task's agent output: text, or Server-Sent Events with Accept: text/event-stream",
    description="`task_id`: the task's id, or its plan id (e.g. `1.2`).",
    responses=refusals(400, 404, 409, 503),
)
async def task_log(
    run: NamedDependency[RunId],
    task_id: FromPath[str],
    request: Request[Any, Any, Any],
    streams: NamedDependency[Streams],
    after_seq: NamedDependency[int],
    sse_gate: NamedDependency[StreamGate],
) -> Stream:
    log = await logs.find_task_log(streams, run, task_id)
    if "text/event-stream" in request.headers.get("accept", ""):
        async with sse_gate.slot() as slot:
            events = logs.log_events(streams, log, after_seq)
        return ServerSentEvent(counted(slot.hold(events)), headers=SSE_HEADERS)
    return Stream(logs.log_text(streams.js, log), media_type=MediaType.TEXT)


ROUTES: list[ControllerRouterHandler] = [all_run_events, run_events, task_log]
