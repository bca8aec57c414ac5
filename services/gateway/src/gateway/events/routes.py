"""The event streams over HTTP: every run's status events, a run's, a task's log."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import MediaType, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, QueryParameter
from litestar.response import ServerSentEvent, Stream
from litestar.types import ControllerRouterHandler

from gateway.domain_errors import InvalidRequest
from gateway.events import logs
from gateway.events.all_runs import open_all_runs_stream
from gateway.events.sse import SSE_HEADERS, Streams
from gateway.events.status_stream import open_status_stream
from gateway.metrics.sse_clients import counted

LastEventIdHeader = Annotated[
    str | None,
    HeaderParameter(name="Last-Event-ID", required=False, description="resume after this id"),
]
LastEventIdQuery = Annotated[
    str | None,
    QueryParameter(name="last_event_id", required=False, description="resume after this id"),
]


def _after_seq(header: str | None, query: str | None) -> int:
    """The stream sequence a client resumes after (the header wins; 0: from the start)."""
    raw = header if header is not None else query
    if raw is None or not raw.strip():
        return 0
    try:
        value = int(raw.strip())
    except ValueError:
        value = -1
    if not 0 <= value < 2**63:
        raise InvalidRequest(
            "Last-Event-ID" if header is not None else "last_event_id",
            "expected a stream sequence (a non-negative integer)",
            source="header" if header is not None else "query",
        )
    return value


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
)
async def all_run_events(
    streams: NamedDependency[Streams], after_seq: NamedDependency[int]
) -> ServerSentEvent:
    stream = await open_all_runs_stream(streams, after_seq)
    return ServerSentEvent(counted(stream), headers=SSE_HEADERS)


@get(
    "/api/v1/runs/{run_id:str}/events",
    tags=["runs"],
    summary="The run's status events (Server-Sent Events), history first, then live",
)
async def run_events(
    run_id: FromPath[str], streams: NamedDependency[Streams], after_seq: NamedDependency[int]
) -> ServerSentEvent:
    stream = await open_status_stream(streams, run_id, after_seq)
    return ServerSentEvent(counted(stream), headers=SSE_HEADERS)


@get(
    "/api/v1/runs/{run_id:str}/tasks/{task_id:str}/log",
    tags=["runs"],
    summary="A task's agent output: text, or Server-Sent Events with Accept: text/event-stream",
)
async def task_log(
    run_id: FromPath[str],
    task_id: FromPath[str],
    request: Request[Any, Any, Any],
    streams: NamedDependency[Streams],
    after_seq: NamedDependency[int],
) -> Stream:
    log = await logs.find_task_log(streams, run_id, task_id)
    if "text/event-stream" in request.headers.get("accept", ""):
        events = logs.log_events(streams, log, after_seq)
        return ServerSentEvent(counted(events), headers=SSE_HEADERS)
    return Stream(logs.log_text(streams.js, log), media_type=MediaType.TEXT)


ROUTES: list[ControllerRouterHandler] = [all_run_events, run_events, task_log]
