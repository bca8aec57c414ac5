"""Runs over HTTP: start one (canonical and original call), list them, show one."""

from __future__ import annotations

from typing import Annotated, Any, cast

import asyncpg
from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_304_NOT_MODIFIED
from litestar.types import ControllerRouterHandler

from gateway.api_schema import refusals
from gateway.headers import IdempotencyKey
from gateway.resources import provide_pool, provide_settings, provide_view_cache
from gateway.runs import catching_up, compat, queries, viewing
from gateway.runs.ids import RunId, resolve_run_id
from gateway.runs.schemas import AutonomousStartRequest, RunCreated, RunList, RunRequest, RunView
from gateway.runs.starting import Starting, start_run
from gateway.runs.view_cache import none_match

STARTS = refusals(400, 403, 404, 409, 413, 422, 503)
"""409: executors of the run's mode are alive and none can run its agent."""


async def _start(
    starting: Starting, request: RunRequest, key: str | None, requester: str
) -> Response[RunCreated]:
    answer = await start_run(starting, request, key, requester)
    headers = {"Location": answer.body.links.self, **answer.headers}
    return Response(answer.body, status_code=HTTP_202_ACCEPTED, headers=headers)


@post(
    "/api/v1/runs",
    status_code=HTTP_202_ACCEPTED,
    tags=["runs"],
    summary="Start a run",
    responses=STARTS,
)
async def create_run(
    data: JSONBody[RunRequest],
    starting: NamedDependency[Starting],
    requester: NamedDependency[str],
    idempotency_key: IdempotencyKey = None,
) -> Response[RunCreated]:
    return await _start(starting, data, idempotency_key, requester)


@post(
    "/api/v1/autonomous/start",
    status_code=HTTP_202_ACCEPTED,
    tags=["compatibility"],
    summary="Start a run (the original call)",
    responses=STARTS,
)
async def autonomous_start(
    data: JSONBody[AutonomousStartRequest],
    starting: NamedDependency[Starting],
    requester: NamedDependency[str],
    idempotency_key: IdempotencyKey = None,
) -> Response[RunCreated]:
    return await _start(starting, data.to_run_request(), idempotency_key, requester)


@get("/api/v1/runs", tags=["runs"], summary="Runs, newest first", responses=refusals(400, 503))
async def list_runs(
    pool: NamedDependency[asyncpg.Pool],
    status: Annotated[
        str | None,
        QueryParameter(
            required=False,
            pattern=f"^(?:{'|'.join(queries.LISTED_RUN_STATUSES)})$",
            description="only runs in this state",
        ),
    ] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
) -> RunList:
    return await viewing.list_runs(pool, status=status, limit=limit)


WaitForEvent = Annotated[
    int | None,
    QueryParameter(
        required=False,
        ge=1,
        le=2**63 - 1,
        description="the `id` of an event of the run's stream: answer once the view includes "
        f"it (waiting at most {catching_up.MAX_WAIT_S:g} s, or the request timeout)",
    ),
]


IfNoneMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-None-Match",
        required=False,
        max_length=1000,
        description="an `ETag` this client holds: 304 without a body while the view is the same",
    ),
]


@get(
    "/api/v1/runs/{run_id:str}",
    tags=["runs"],
    summary="One run with its batches and tasks",
    description="`run_id`: the run's id, or a unique prefix of it (4 characters or more) — so "
    "on every route with a run in its path.",
    responses={
        HTTP_304_NOT_MODIFIED: ResponseSpec(
            data_container=None,
            description="The view is still the one `If-None-Match` names",
            generate_examples=False,
        ),
        **refusals(400, 404, 409, 503),
    },
    response_headers=[
        ResponseHeader(
            name="ETag",
            description="the view's version: it changes whenever the view does",
            documentation_only=True,
        )
    ],
)
async def get_run(
    request: Request[Any, Any, Any],
    run_id: FromPath[str],
    wait_for_event: WaitForEvent = None,
    if_none_match: IfNoneMatch = None,
) -> Response[RunView]:
    # What other routes take as dependencies (the pool, `run`) comes from the app's state
    # here: the API's most read route, and litestar's dependency resolution (an anyio task
    # group for two or more of one level, litestar issue 4563) cost it a third of its CPU.
    state = request.app.state
    pool, view_cache = provide_pool(state), provide_view_cache(state)
    run = await resolve_run_id(pool, run_id)
    if wait_for_event is not None:
        timeout_s = provide_settings(state).request_timeout_s
        within_s = min(catching_up.MAX_WAIT_S, timeout_s / 2)
        await catching_up.wait_projected(pool, run, wait_for_event, within_s=within_s)
    # Once it waited for an event, what PostgreSQL holds, whatever the cache was told so far.
    fresh = wait_for_event is not None
    view = await viewing.encoded_run_view(pool, view_cache, run, fresh=fresh)
    headers = {"ETag": view.etag}
    if if_none_match is not None and none_match(if_none_match, view.etag):
        return Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers)  # type: ignore[arg-type]
    # The body is JSON already (litestar sends bytes as they are); `RunView` is what it holds,
    # for the OpenAPI document.
    return cast(
        "Response[RunView]", Response(view.body, media_type=MediaType.JSON, headers=headers)
    )


@get(
    "/api/v1/autonomous/{run_id:str}/status",
    tags=["compatibility"],
    summary="One run (the original status call)",
    responses=refusals(404, 409, 503),
)
async def autonomous_status(
    run: NamedDependency[RunId], pool: NamedDependency[asyncpg.Pool]
) -> compat.AutonomousStatus:
    return compat.autonomous_status(await viewing.view_run(pool, run))


@get(
    "/api/v1/autonomous/{run_id:str}/batches",
    tags=["compatibility"],
    summary="A run's batches with their tasks (the original call)",
    responses=refusals(404, 409, 503),
)
async def autonomous_batches(
    run: NamedDependency[RunId], pool: NamedDependency[asyncpg.Pool]
) -> compat.AutonomousBatches:
    return compat.autonomous_batches(await viewing.view_run(pool, run))


@get(
    "/api/v1/autonomous/{run_id:str}/tasks/{task_number:str}",
    tags=["compatibility"],
    summary="One task by its plan id, e.g. 1.2 (the original call)",
    responses=refusals(404, 409, 503),
)
async def autonomous_task(
    run: NamedDependency[RunId], task_number: FromPath[str], pool: NamedDependency[asyncpg.Pool]
) -> compat.AutonomousTask:
    return await viewing.autonomous_task(pool, run, task_number)


ROUTES: list[ControllerRouterHandler] = [
    create_run,
    autonomous_start,
    list_runs,
    get_run,
    autonomous_status,
    autonomous_batches,
    autonomous_task,
]
