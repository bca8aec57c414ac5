"""Replay, cancel and budget over HTTP."""

from __future__ import annotations

from typing import TypeVar

import msgspec
from litestar import Response, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED
from litestar.types import ControllerRouterHandler

from gateway.api_schema import refusals
from gateway.control import budget, cancel, replay
from gateway.control.context import Control
from gateway.control.schemas import (
    BudgetAccepted,
    BudgetRequest,
    CancelAccepted,
    CancelRequest,
    ReplayAccepted,
    ReplayRequest,
    ReplaysAccepted,
)
from gateway.headers import IdempotencyKey
from gateway.idempotency import Answer
from gateway.runs.ids import RunId

T = TypeVar("T", bound=msgspec.Struct)


def _accepted(answer: Answer[T]) -> Response[T]:
    return Response(answer.body, status_code=HTTP_202_ACCEPTED, headers=answer.headers)


@post(
    "/api/v1/tasks/{task_id:str}/replay",
    status_code=HTTP_202_ACCEPTED,
    tags=["control"],
    summary="Replay a failed or cancelled task as a new attempt (optionally with overrides)",
    responses=refusals(400, 404, 409, 413, 422, 503),
)
async def replay_task(
    task_id: FromPath[str],
    control: NamedDependency[Control],
    requester: NamedDependency[str],
    data: JSONBody[ReplayRequest | None] = None,
    idempotency_key: IdempotencyKey = None,
) -> Response[ReplayAccepted]:
    body, who = data or ReplayRequest(), requester
    return _accepted(await replay.replay_task(control, task_id, body, idempotency_key, who))


@post(
    "/api/v1/runs/{run_id:str}/tasks/{task_id:str}/replay",
    status_code=HTTP_202_ACCEPTED,
    tags=["control"],
    summary="Replay a run's failed or cancelled task, named by its id or its plan id (e.g. 1.2)",
    responses=refusals(400, 404, 409, 413, 422, 503),
)
async def replay_run_task(
    run: NamedDependency[RunId],
    task_id: FromPath[str],
    control: NamedDependency[Control],
    requester: NamedDependency[str],
    data: JSONBody[ReplayRequest | None] = None,
    idempotency_key: IdempotencyKey = None,
) -> Response[ReplayAccepted]:
    body, who = data or ReplayRequest(), requester
    answer = await replay.replay_run_task(control, run, task_id, body, idempotency_key, who)
    return _accepted(answer)


@post(
    "/api/v1/runs/{run_id:str}/replay-failed",
    status_code=HTTP_202_ACCEPTED,
    tags=["control"],
    summary="Replay every failed or cancelled task of a run",
    responses=refusals(400, 404, 409, 413, 422, 503),
)
async def replay_failed(
    run: NamedDependency[RunId],
    control: NamedDependency[Control],
    requester: NamedDependency[str],
    data: JSONBody[ReplayRequest | None] = None,
    idempotency_key: IdempotencyKey = None,
) -> Response[ReplaysAccepted]:
    body, who = data or ReplayRequest(), requester
    return _accepted(await replay.replay_failed(control, run, body, idempotency_key, who))


@post(
    "/api/v1/runs/{run_id:str}/cancel",
    status_code=HTTP_202_ACCEPTED,
    tags=["control"],
    summary="Cancel a run: stop dispatching and kill its running agents",
    responses=refusals(400, 404, 409, 413, 503),
)
async def cancel_run(
    run: NamedDependency[RunId],
    control: NamedDependency[Control],
    requester: NamedDependency[str],
    data: JSONBody[CancelRequest | None] = None,
) -> CancelAccepted:
    reason = (data or CancelRequest()).reason
    return await cancel.cancel_run(control, run, reason, requester)


@post(
    "/api/v1/runs/{run_id:str}/budget",
    status_code=HTTP_202_ACCEPTED,
    tags=["control"],
    summary="Set a run's budget; a run halted by its budget resumes when it is raised",
    responses=refusals(400, 404, 409, 413, 503),
)
async def set_budget(
    run: NamedDependency[RunId],
    data: JSONBody[BudgetRequest],
    control: NamedDependency[Control],
    requester: NamedDependency[str],
) -> BudgetAccepted:
    return await budget.set_budget(control, run, data.max_cost_usd, requester)


ROUTES: list[ControllerRouterHandler] = [
    replay_task,
    replay_run_task,
    replay_failed,
    cancel_run,
    set_budget,
]
