"""Replay and cancel: checked against the read model, then handed over on NATS.

- Replay: the planner carries it out (it owns dispatch and has the task messages), so the
  gateway publishes one `TaskReplayRequested` per task on `cc.control.replay` (JetStream:
  the planner must not miss it while restarting), with `Nats-Msg-Id` = the request id. A
  request with an `Idempotency-Key` is recorded in `idempotency_keys` before it is published
  and answered from there when it comes again: it runs once.
- Cancel: a `run.cancelled` status event (the planner stops dispatching and takes the run's
  waiting tasks back; the read model marks the run and its unfinished tasks cancelled) and a
  core-NATS `CancelRequested` on `cc.control.cancel.<run>`, which every executor hears and
  which kills a running agent's whole process tree.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import cc_bus
import msgspec
import nats.errors
from cc_taskrunner.agents import agent_names
from commandcenter_contracts import (
    AgentSpec,
    CancelRequested,
    RunBudgetChanged,
    RunCancelled,
    TaskReplayRequested,
    encode,
    new_id,
    subjects,
    to_builtins,
)
from litestar.status_codes import HTTP_409_CONFLICT, HTTP_422_UNPROCESSABLE_ENTITY

from gateway.db import repository
from gateway.errors import ApiError, ServiceUnavailable, bad_request, not_found
from gateway.resources import Resources
from gateway.schemas import (
    BudgetAccepted,
    CancelAccepted,
    ReplayAccepted,
    ReplayLinks,
    ReplayRequest,
    ReplaysAccepted,
    RunLinks,
)

log = logging.getLogger(__name__)

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://commandcenter/gateway/control")
REPLAYABLE = ("failed", "cancelled")
FINAL_RUN_STATUSES = ("succeeded", "failed", "cancelled")
"""A run in one of these cannot be cancelled; `halted` can (it could still be resumed)."""

R = TypeVar("R", ReplayAccepted, ReplaysAccepted)


@dataclass(frozen=True)
class Answer:
    body: Any
    replayed: bool = False
    """True when an earlier request with the same Idempotency-Key gave this answer."""


# --- rules ----------------------------------------------------------------------------------
def replay_refusal(task: repository.TaskRef) -> str | None:
    """Why `task` cannot be replayed now, or None."""
    if task.run_status == "cancelled":
        return f"run {task.run_id} was cancelled: a cancelled run is final, start a new run instead"
    if task.status not in REPLAYABLE:
        return (
            f"task {task.plan_task_id or task.task_id} is {task.status} (attempt {task.attempt}):"
            " only a failed or cancelled task can be replayed"
        )
    return None


def cancel_refusal(status: str) -> str | None:
    if status in FINAL_RUN_STATUSES:
        return f"the run is {status} already: there is nothing to cancel"
    return None


def overrides(body: ReplayRequest) -> AgentSpec | None:
    """The agent override of a replay; 400 when `agent` and `agent_argv` do not fit."""
    if body.agent_argv and body.agent != "command":
        raise bad_request("agent_argv", "`agent_argv` needs `agent: command`")
    if body.agent == "command" and not body.agent_argv:
        raise bad_request("agent_argv", "agent `command` needs `agent_argv` (a list of str)")
    if body.agent is not None and body.agent not in agent_names():
        known = ", ".join(agent_names())
        raise bad_request("agent", f"unknown agent {body.agent!r}; known: {known}")
    if body.agent is None:
        return None
    return AgentSpec(name=body.agent, argv=list(body.agent_argv or []))


def fingerprint(kind: str, target: str, body: ReplayRequest) -> str:
    return hashlib.sha256(encode([kind, target, to_builtins(body)])).hexdigest()


def replay_message(
    task: repository.TaskRef,
    body: ReplayRequest,
    *,
    request_id: str,
    requested_by: str,
) -> TaskReplayRequested:
    return TaskReplayRequested(
        request_id=request_id,
        run_id=task.run_id,
        task_id=task.task_id,
        expected_attempt=task.attempt,
        agent=overrides(body),
        timeout_s=body.timeout_s,
        verification=None if body.verification is None else list(body.verification),
        requested_by=requested_by,
    )


def request_id_for(key: str | None, task_id: str) -> str:
    """From the Idempotency-Key when there is one: a retried publish is then deduplicated."""
    if key is None:
        return new_id()
    return str(uuid.uuid5(NAMESPACE, f"replay/{key}/{task_id}"))


def accepted(task: repository.TaskRef, message: TaskReplayRequested) -> ReplayAccepted:
    return ReplayAccepted(
        task_id=task.task_id,
        run_id=task.run_id,
        plan_task_id=task.plan_task_id,
        request_id=message.request_id,
        attempt=task.attempt + 1,
        links=ReplayLinks(
            run=f"/api/v1/runs/{task.run_id}", events=f"/api/v1/runs/{task.run_id}/events"
        ),
    )


# --- use cases ------------------------------------------------------------------------------
async def replay_task(
    resources: Resources,
    task_id: str,
    body: ReplayRequest,
    *,
    key: str | None,
    requested_by: str,
) -> Answer:
    async def tasks() -> list[repository.TaskRef]:
        task = await repository.find_task(resources.pool, task_id)
        if task is None:
            raise not_found(f"task {task_id[:100]}")
        refusal = replay_refusal(task)
        if refusal is not None:
            raise ApiError(HTTP_409_CONFLICT, refusal)
        return [task]

    def shape(replays: list[ReplayAccepted]) -> ReplayAccepted:
        return replays[0]

    return await _replay(
        resources,
        fingerprint("task", task_id, body),
        tasks,
        shape,
        ReplayAccepted,
        body,
        key=key,
        requested_by=requested_by,
    )


async def replay_failed(
    resources: Resources,
    run_id: str,
    body: ReplayRequest,
    *,
    key: str | None,
    requested_by: str,
) -> Answer:
    async def tasks() -> list[repository.TaskRef]:
        status = await repository.run_status(resources.pool, run_id)
        if status is None:
            raise not_found(f"run {run_id[:100]}")
        if status == "cancelled":
            raise ApiError(
                HTTP_409_CONFLICT,
                f"run {run_id} was cancelled: a cancelled run is final, start a new run instead",
            )
        found = await repository.tasks_with_status(resources.pool, run_id, REPLAYABLE)
        if not found:
            raise ApiError(
                HTTP_409_CONFLICT, f"run {run_id} has no failed or cancelled task to replay"
            )
        return found

    def shape(replays: list[ReplayAccepted]) -> ReplaysAccepted:
        return ReplaysAccepted(run_id=run_id, replays=replays, count=len(replays))

    return await _replay(
        resources,
        fingerprint("run", run_id, body),
        tasks,
        shape,
        ReplaysAccepted,
        body,
        key=key,
        requested_by=requested_by,
    )


async def _replay(
    resources: Resources,
    request_hash: str,
    find_tasks: Callable[[], Awaitable[list[repository.TaskRef]]],
    shape: Callable[[list[ReplayAccepted]], R],
    answer_type: type[R],
    body: ReplayRequest,
    *,
    key: str | None,
    requested_by: str,
) -> Answer:
    # The key first: after the first request, the task is no longer failed (it is being
    # replayed), yet the same key must still get the same answer, not a 409.
    if key is not None:
        async with resources.pool.acquire() as conn:
            found = await repository.find_idempotent(conn, key)
        if found is not None:
            return _answer_again(found, request_hash, answer_type)
    overrides(body)  # a bad override is a 400 before anything else is looked at
    tasks = await find_tasks()
    if not resources.nc.is_connected:
        raise ServiceUnavailable("NATS", "not connected; nothing was replayed")
    messages = [
        replay_message(
            t, body, request_id=request_id_for(key, t.task_id), requested_by=requested_by
        )
        for t in tasks
    ]
    answer = shape([accepted(t, m) for t, m in zip(tasks, messages, strict=True)])
    if key is not None:
        async with resources.pool.acquire() as conn:
            claimed = await repository.claim_idempotency_key(
                conn, key, tasks[0].run_id, request_hash, _builtins(answer)
            )
            if not claimed:  # a concurrent request with the same key won
                found = await repository.find_idempotent(conn, key)
                if found is not None:
                    return _answer_again(found, request_hash, answer_type)
    try:
        for message in messages:
            await cc_bus.publish(
                resources.js,
                subjects.CONTROL_REPLAY,
                message,
                msg_id=message.request_id,
                timeout=resources.settings.request_timeout_s,
            )
    except (nats.errors.Error, TimeoutError, OSError) as exc:
        reason = f"{type(exc).__name__}: {exc}".strip(": ")
        log.error("replay not requested: %s", reason, extra={"run_id": tasks[0].run_id})
        if key is not None:
            try:
                await repository.release_idempotency_key(resources.pool, key)
            except Exception as db_exc:  # already answering 503; the log has both causes
                log.error("could not release the idempotency key: %s", db_exc)
        raise ServiceUnavailable("NATS", f"publishing failed ({reason})") from exc
    for task in tasks:
        log.info(
            "replay of %s requested by %s",
            task.plan_task_id,
            requested_by,
            extra={"run_id": task.run_id, "task_id": task.task_id, "attempt": task.attempt + 1},
        )
    return Answer(answer)


def _answer_again(
    found: repository.IdempotentRun, request_hash: str, answer_type: type[R]
) -> Answer:
    if found.request_hash != request_hash:
        raise ApiError(
            HTTP_422_UNPROCESSABLE_ENTITY,
            "this Idempotency-Key was used for a different request",
            extra=[{"key": "Idempotency-Key", "message": "reused", "source": "header"}],
        )
    return Answer(msgspec.convert(found.response, answer_type), replayed=True)


async def cancel_run(
    resources: Resources, run_id: str, *, reason: str, requested_by: str
) -> CancelAccepted:
    status = await repository.run_status(resources.pool, run_id)
    if status is None:
        raise not_found(f"run {run_id[:100]}")
    refusal = cancel_refusal(status)
    if refusal is not None:
        raise ApiError(HTTP_409_CONFLICT, refusal)
    if not resources.nc.is_connected:
        raise ServiceUnavailable("NATS", "not connected; the run was not cancelled")
    run = str(repository.parse_run_id(run_id))
    why = reason or f"cancelled by {requested_by}"
    event = RunCancelled(
        # one cancel per run: a doubled request is deduplicated by JetStream
        event_id=str(uuid.uuid5(NAMESPACE, f"{run}/run.cancelled")),
        run_id=run,
        reason=why,
    )
    try:
        await cc_bus.publish_status(resources.js, event)
        # Core NATS, to every executor at once: the running agent dies within seconds.
        await resources.nc.publish(
            subjects.cancel_subject(run), encode(CancelRequested(run_id=run, reason=why))
        )
        await resources.nc.flush(timeout=max(1, int(resources.settings.request_timeout_s)))
    except (nats.errors.Error, TimeoutError, OSError) as exc:
        reason_text = f"{type(exc).__name__}: {exc}".strip(": ")
        raise ServiceUnavailable("NATS", f"publishing the cancel failed ({reason_text})") from exc
    log.info("run cancelled by %s (was %s)", requested_by, status, extra={"run_id": run})
    return CancelAccepted(
        id=run,
        previous_status=status,
        links=RunLinks(self=f"/api/v1/runs/{run}", events=f"/api/v1/runs/{run}/events"),
    )


async def set_budget(
    resources: Resources, run_id: str, *, max_cost_usd: float, requested_by: str
) -> BudgetAccepted:
    """A new budget for the run (the planner applies it; a run halted by its budget resumes
    when the new one is above what it spent)."""
    status = await repository.run_status(resources.pool, run_id)
    if status is None:
        raise not_found(f"run {run_id[:100]}")
    if status in ("succeeded", "failed", "cancelled"):
        raise ApiError(HTTP_409_CONFLICT, f"the run is {status}: its budget no longer matters")
    if not resources.nc.is_connected:
        raise ServiceUnavailable("NATS", "not connected; the budget was not changed")
    run = str(repository.parse_run_id(run_id))
    event = RunBudgetChanged(run_id=run, max_cost_usd=max_cost_usd, requested_by=requested_by)
    try:
        await cc_bus.publish_status(resources.js, event)
    except (nats.errors.Error, TimeoutError, OSError) as exc:
        reason_text = f"{type(exc).__name__}: {exc}".strip(": ")
        raise ServiceUnavailable("NATS", f"publishing the budget failed ({reason_text})") from exc
    log.info("budget set to $%.2f by %s", max_cost_usd, requested_by, extra={"run_id": run})
    return BudgetAccepted(
        id=run,
        max_cost_usd=max_cost_usd,
        previous_status=status,
        links=RunLinks(self=f"/api/v1/runs/{run}", events=f"/api/v1/runs/{run}/events"),
    )


def _builtins(value: Any) -> dict[str, Any]:
    result = to_builtins(value)
    assert isinstance(result, dict)
    return result
