"""Replay, cancel and budget over HTTP."""

from __future__ import annotations

from typing import TypeVar

import asyncpg
import msgspec
from litestar import Response, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED
from litestar.types import ControllerRouterHandler
from nats.aio.client import Client
from nats.js import JetStreamContext

from gateway.control import budget, cancel, replay
from gateway.control.schemas import (
    BudgetAccepted,
    BudgetRequest,
    CancelAccepted,
    CancelRequest,
    ReplayAccepted,
    ReplayRequest,
    ReplaysAccepted,
)
from gateway.headers import IdempotencyKey, RequestedBy, requester
from gateway.idempotency import Answer
from gateway.settings import Settings

T = TypeVar("T", bound=msgspec.Struct)


def _accepted(answer: Answer[T]) -> Response[T]:
    return Response(answer.body, status_code=HTTP_202_ACCEPTED, headers=answer.headers)


@post(
    "/api/v1/tasks/{task_id:str}/replay",
    status_code=HTTP_202_ACCEPTED,
    tags=["control"],
    summary="Replay a failed or cancelled task as a new attempt (optionally with overrides)",
)
async def replay_task(
    task_id: FromPath[str],
    pool: NamedDependency[asyncpg.Pool],
    js: NamedDependency[JetStreamContext],
    nc: NamedDependency[Client],
    settings: NamedDependency[Settings],
    data: JSONBody[ReplayRequest | None] = None,
    idempotency_key: IdempotencyKey = None,
    requested_by: RequestedBy = None,
) -> Response[ReplayAccepted]:
    answer = await replay.replay_task(
        pool,
        js,
        nc,
        task_id,
        data or ReplayRequest(),
        key=idempotency_key,
        requested_by=requester(requested_by),
        timeout_s=settings.request_timeout_s,
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
    pool: NamedDependency[asyncpg.Pool],
    js: NamedDependency[JetStreamContext],
    nc: NamedDependency[Client],
    settings: NamedDependency[Settings],
    data: JSONBody[ReplayRequest | None] = None,
    idempotency_key: IdempotencyKey = None,
    requested_by: RequestedBy = None,
) -> Response[ReplaysAccepted]:
    answer = await replay.replay_failed(
        pool,
        js,
        nc,
        run_id,
        data or ReplayRequest(),
        key=idempotency_key,
        requested_by=requester(requested_by),
        timeout_s=settings.request_timeout_s,
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
    pool: NamedDependency[asyncpg.Pool],
    js: NamedDependency[JetStreamContext],
    nc: NamedDependency[Client],
    settings: NamedDependency[Settings],
    data: JSONBody[CancelRequest | None] = None,
    requested_by: RequestedBy = None,
) -> CancelAccepted:
    return await cancel.cancel_run(
        pool,
        js,
        nc,
        run_id,
        reason=(data or CancelRequest()).reason,
        requested_by=requester(requested_by),
        timeout_s=settings.request_timeout_s,
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
    pool: NamedDependency[asyncpg.Pool],
    js: NamedDependency[JetStreamContext],
    nc: NamedDependency[Client],
    requested_by: RequestedBy = None,
) -> BudgetAccepted:
    return await budget.set_budget(
        pool,
        js,
        nc,
        run_id,
        max_cost_usd=data.max_cost_usd,
        requested_by=requester(requested_by),
    )


ROUTES: list[ControllerRouterHandler] = [replay_task, replay_failed, cancel_run, set_budget]
