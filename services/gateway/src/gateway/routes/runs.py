"""Runs: start one (canonical and original call), list them, show one."""

from __future__ import annotations

from typing import Annotated

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter
from litestar.status_codes import HTTP_202_ACCEPTED

from gateway import compat
from gateway.db import repository
from gateway.errors import bad_request, not_found
from gateway.resources import Resources
from gateway.schemas import AutonomousStartRequest, RunCreated, RunList, RunRequest, RunView
from gateway.starting import start_run

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        min_length=1,
        max_length=200,
        description="repeat a request safely: the same key returns the same run",
    ),
]
RequestedBy = Annotated[
    str | None,
    HeaderParameter(name="X-Requested-By", required=False, max_length=200),
]


async def _start(
    resources: Resources, request: RunRequest, key: str | None, requested_by: str | None
) -> Response[RunCreated]:
    outcome = await start_run(
        resources, request, idempotency_key=key, requested_by=requested_by or "anonymous"
    )
    headers = {"Location": outcome.created.links.self}
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(outcome.created, status_code=HTTP_202_ACCEPTED, headers=headers)


@post("/api/v1/runs", status_code=HTTP_202_ACCEPTED, tags=["runs"], summary="Start a run")
async def create_run(
    data: JSONBody[RunRequest],
    resources: NamedDependency[Resources],
    idempotency_key: IdempotencyKey = None,
    requested_by: RequestedBy = None,
) -> Response[RunCreated]:
    return await _start(resources, data, idempotency_key, requested_by)


@post(
    "/api/v1/autonomous/start",
    status_code=HTTP_202_ACCEPTED,
    tags=["compatibility"],
    summary="Start a run (the original call)",
)
async def autonomous_start(
    data: JSONBody[AutonomousStartRequest],
    resources: NamedDependency[Resources],
    idempotency_key: IdempotencyKey = None,
    requested_by: RequestedBy = None,
) -> Response[RunCreated]:
    return await _start(resources, data.to_run_request(), idempotency_key, requested_by)


@get("/api/v1/runs", tags=["runs"], summary="Runs, newest first")
async def list_runs(
    resources: NamedDependency[Resources],
    status: Annotated[str | None, QueryParameter(required=False)] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
) -> RunList:
    if status is not None and status not in repository.RUN_STATUSES:
        raise bad_request(
            "status",
            f"unknown run status {status!r}; one of {', '.join(repository.RUN_STATUSES)}",
            source="query",
        )
    items = await repository.list_runs(resources.pool, status=status, limit=limit)
    return RunList(items=items, count=len(items))


async def _view(resources: Resources, run_id: str) -> RunView:
    view = await repository.get_run_view(resources.pool, run_id)
    if view is None:
        raise not_found(f"run {run_id[:100]}")
    return view


@get("/api/v1/runs/{run_id:str}", tags=["runs"], summary="One run with its batches and tasks")
async def get_run(run_id: FromPath[str], resources: NamedDependency[Resources]) -> RunView:
    return await _view(resources, run_id)


@get(
    "/api/v1/autonomous/{run_id:str}/status",
    tags=["compatibility"],
    summary="One run (the original status call)",
)
async def autonomous_status(
    run_id: FromPath[str], resources: NamedDependency[Resources]
) -> compat.AutonomousStatus:
    return compat.autonomous_status(await _view(resources, run_id))


@get(
    "/api/v1/autonomous/{run_id:str}/batches",
    tags=["compatibility"],
    summary="A run's batches with their tasks (the original call)",
)
async def autonomous_batches(
    run_id: FromPath[str], resources: NamedDependency[Resources]
) -> compat.AutonomousBatches:
    return compat.autonomous_batches(await _view(resources, run_id))


@get(
    "/api/v1/autonomous/{run_id:str}/tasks/{task_number:str}",
    tags=["compatibility"],
    summary="One task by its plan id, e.g. 1.2 (the original call)",
)
async def autonomous_task(
    run_id: FromPath[str], task_number: FromPath[str], resources: NamedDependency[Resources]
) -> compat.AutonomousTask:
    view = await _view(resources, run_id)
    task = compat.find_task(view, task_number)
    if task is None:
        raise not_found(f"task {task_number[:50]} of run {run_id[:100]}")
    return compat.autonomous_task(view, task)
