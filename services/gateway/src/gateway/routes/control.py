"""Replay and cancel (`gateway.control` does the work)."""

from __future__ import annotations

from typing import Any

from litestar import Response, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED

from gateway import control
from gateway.resources import Resources
from gateway.routes.runs import IdempotencyKey, RequestedBy
from gateway.schemas import (
    BudgetAccepted,
    BudgetRequest,
    CancelAccepted,
    CancelRequest,
    ReplayAccepted,
    ReplayRequest,
    ReplaysAccepted,
)


def _accepted(answer: control.Answer) -> Response[Any]:
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else {}
    return Response(answer.body, status_code=HTTP_202_ACCEPTED, headers=headers)


@post(
    "/api/v1/tasks/{task_id:str}/replay",
    status_code=HTTP_202_ACCEPTED,
    tags=["control"],
    summary="Replay a failed or cancelled task as a new attempt (optionally with overrides)",
)
async def replay_task(
    task_id: FromPath[str],
    resources: NamedDependency[Resources],
    data: JSONBody[ReplayRequest | None] = None,
    idempotency_key: IdempotencyKey = None,
    requested_by: RequestedBy = None,
) -> Response[ReplayAccepted]:
    answer = await control.replay_task(
        resources,
        task_id,
        data or ReplayRequest(),
        key=idempotency_key,
        requested_by=requested_by or "anonymous",
    )
    return _accepted(answer)


@post(
    "/api/v1/runs/{run_id:str}/replay-failed",
    status_code=HTTP_202_ACCEPTED,
    tags=["control"],
    summary="Replay every failed or cancelled task of a run",
)
async def replay_failed(
    run_id: FromPath[str],
    resources: NamedDependency[Resources],
    data: JSONBody[ReplayRequest | None] = None,
    idempotency_key: IdempotencyKey = None,
    requested_by: RequestedBy = None,
) -> Response[ReplaysAccepted]:
    answer = await control.replay_failed(
        resources,
        run_id,
        data or ReplayRequest(),
        key=idempotency_key,
        requested_by=requested_by or "anonymous",
    )
    return _accepted(answer)


@post(
    "/api/v1/runs/{run_id:str}/cancel",
    status_code=HTTP_202_ACCEPTED,
    tags=["control"],
    summary="Cancel a run: stop dispatching and kill its running agents",
)
async def cancel_run(
    run_id: FromPath[str],
    resources: NamedDependency[Resources],
    data: JSONBody[CancelRequest | None] = None,
    requested_by: RequestedBy = None,
) -> CancelAccepted:
    return await control.cancel_run(
        resources,
        run_id,
        reason=(data or CancelRequest()).reason,
        requested_by=requested_by or "anonymous",
    )


@post(
    "/api/v1/runs/{run_id:str}/budget",
    status_code=HTTP_202_ACCEPTED,
    tags=["control"],
    summary="Set a run's budget; a run halted by its budget resumes when it is raised",
)
async def set_budget(
    run_id: FromPath[str],
    data: JSONBody[BudgetRequest],
    resources: NamedDependency[Resources],
    requested_by: RequestedBy = None,
) -> BudgetAccepted:
    return await control.set_budget(
        resources,
        run_id,
        max_cost_usd=data.max_cost_usd,
        requested_by=requested_by or "anonymous",
    )
