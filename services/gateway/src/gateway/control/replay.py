"""Replay: the planner carries it out (it owns dispatch and has the task messages), so the
gateway publishes one `TaskReplayRequested` per task on `cc.control.replay` (JetStream: the
planner must not miss it while restarting), with `Nats-Msg-Id` = the request id. A request with
an `Idempotency-Key` is recorded before it is published and answered from there when it comes
again: it runs once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import cc_bus
import nats.errors
from cc_taskrunner.agents import agent_names
from commandcenter_contracts import (
    TASK_REPLAYABLE,
    AgentSpec,
    RunStatus,
    TaskReplayRequested,
    new_id,
    subjects,
    to_builtins,
)
from nats.aio.client import Client
from nats.js import JetStreamContext

from gateway import links
from gateway.control import NAMESPACE
from gateway.control.queries import TaskRef, find_task, tasks_with_status
from gateway.control.schemas import ReplayAccepted, ReplayRequest, ReplaysAccepted
from gateway.domain_errors import Conflict, InvalidRequest, NotFound, Unavailable, describe
from gateway.idempotency import Answer, Idempotency, request_hash
from gateway.runs.queries import run_status

log = logging.getLogger(__name__)

R = TypeVar("R", ReplayAccepted, ReplaysAccepted)


# --- rules ----------------------------------------------------------------------------------
def replay_refusal(task: TaskRef) -> str | None:
    """Why `task` cannot be replayed now, or None."""
    if task.run_status == RunStatus.CANCELLED:
        return f"run {task.run_id} was cancelled: a cancelled run is final, start a new run instead"
    if task.status not in TASK_REPLAYABLE:
        return (
            f"task {task.plan_task_id or task.task_id} is {task.status} (attempt {task.attempt}):"
            " only a failed or cancelled task can be replayed"
        )
    return None


def overrides(body: ReplayRequest) -> AgentSpec | None:
    """The agent override of a replay; `InvalidRequest` when `agent` and `agent_argv` do not
    fit."""
    if body.agent_argv and body.agent != "command":
        raise InvalidRequest("agent_argv", "`agent_argv` needs `agent: command`")
    if body.agent == "command" and not body.agent_argv:
        raise InvalidRequest("agent_argv", "agent `command` needs `agent_argv` (a list of str)")
    if body.agent is not None and body.agent not in agent_names():
        known = ", ".join(agent_names())
        raise InvalidRequest("agent", f"unknown agent {body.agent!r}; known: {known}")
    if body.agent is None:
        return None
    return AgentSpec(name=body.agent, argv=list(body.agent_argv or []))


def replay_message(
    task: TaskRef,
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


def accepted(task: TaskRef, message: TaskReplayRequested) -> ReplayAccepted:
    return ReplayAccepted(
        task_id=task.task_id,
        run_id=task.run_id,
        plan_task_id=task.plan_task_id,
        request_id=message.request_id,
        attempt=task.attempt + 1,
        links=links.replay_links(task.run_id),
    )


def _idempotency(
    key: str | None, kind: str, target: str, body: ReplayRequest, answer_type: type[R]
) -> Idempotency[R]:
    return Idempotency(key, request_hash([kind, target, to_builtins(body)]), answer_type)


# --- use cases ------------------------------------------------------------------------------
async def replay_task(
    pool: asyncpg.Pool,
    js: JetStreamContext,
    nc: Client,
    task_id: str,
    body: ReplayRequest,
    *,
    key: str | None,
    requested_by: str,
    timeout_s: float,
) -> Answer[ReplayAccepted]:
    async def tasks() -> list[TaskRef]:
        task = await find_task(pool, task_id)
        if task is None:
            raise NotFound(f"task {task_id[:100]}")
        refusal = replay_refusal(task)
        if refusal is not None:
            raise Conflict(refusal)
        return [task]

    def shape(replays: list[ReplayAccepted]) -> ReplayAccepted:
        return replays[0]

    return await _replay(
        pool,
        js,
        nc,
        _idempotency(key, "task", task_id, body, ReplayAccepted),
        tasks,
        shape,
        body,
        requested_by=requested_by,
        timeout_s=timeout_s,
    )


async def replay_failed(
    pool: asyncpg.Pool,
    js: JetStreamContext,
    nc: Client,
    run_id: str,
    body: ReplayRequest,
    *,
    key: str | None,
    requested_by: str,
    timeout_s: float,
) -> Answer[ReplaysAccepted]:
    async def tasks() -> list[TaskRef]:
        status = await run_status(pool, run_id)
        if status is None:
            raise NotFound(f"run {run_id[:100]}")
        if status == RunStatus.CANCELLED:
            raise Conflict(
                f"run {run_id} was cancelled: a cancelled run is final, start a new run instead"
            )
        found = await tasks_with_status(pool, run_id, TASK_REPLAYABLE)
        if not found:
            raise Conflict(f"run {run_id} has no failed or cancelled task to replay")
        return found

    def shape(replays: list[ReplayAccepted]) -> ReplaysAccepted:
        return ReplaysAccepted(run_id=run_id, replays=replays, count=len(replays))

    return await _replay(
        pool,
        js,
        nc,
        _idempotency(key, "run", run_id, body, ReplaysAccepted),
        tasks,
        shape,
        body,
        requested_by=requested_by,
        timeout_s=timeout_s,
    )


async def _replay(
    pool: asyncpg.Pool,
    js: JetStreamContext,
    nc: Client,
    idempotency: Idempotency[R],
    find_tasks: Callable[[], Awaitable[list[TaskRef]]],
    shape: Callable[[list[ReplayAccepted]], R],
    body: ReplayRequest,
    *,
    requested_by: str,
    timeout_s: float,
) -> Answer[R]:
    # The key first: after the first request, the task is no longer failed (it is being
    # replayed), yet the same key must still get the same answer, not a 409.
    earlier = await idempotency.earlier(pool)
    if earlier is not None:
        return earlier
    overrides(body)  # a bad override is a 400 before anything else is looked at
    tasks = await find_tasks()
    if not nc.is_connected:
        raise Unavailable("NATS", "not connected; nothing was replayed")
    messages = [
        replay_message(
            t,
            body,
            request_id=request_id_for(idempotency.key, t.task_id),
            requested_by=requested_by,
        )
        for t in tasks
    ]
    answer = shape([accepted(t, m) for t, m in zip(tasks, messages, strict=True)])
    concurrent = await idempotency.claim(pool, tasks[0].run_id, answer)
    if concurrent is not None:
        return concurrent
    try:
        for message in messages:
            await cc_bus.publish(
                js, subjects.CONTROL_REPLAY, message, msg_id=message.request_id, timeout=timeout_s
            )
    except (nats.errors.Error, TimeoutError, OSError) as exc:
        reason = describe(exc)
        log.error("replay not requested: %s", reason, extra={"run_id": tasks[0].run_id})
        try:
            await idempotency.release(pool)
        except Exception as db_exc:  # already answering 503; the log has both causes
            log.error("could not release the idempotency key: %s", db_exc)
        raise Unavailable("NATS", f"publishing failed ({reason})") from exc
    for task in tasks:
        log.info(
            "replay of %s requested by %s",
            task.plan_task_id,
            requested_by,
            extra={"run_id": task.run_id, "task_id": task.task_id, "attempt": task.attempt + 1},
        )
    return Answer(answer)
