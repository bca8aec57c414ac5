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

from gateway import links
from gateway.agent_availability import require_runnable
from gateway.control import NAMESPACE
from gateway.control.context import Control, allowed
from gateway.control.queries import TaskRef, find_task, run_mode, tasks_with_status
from gateway.control.schemas import ReplayAccepted, ReplayRequest, ReplaysAccepted
from gateway.domain_errors import Conflict, InvalidRequest, NotFound, Unavailable, describe
from gateway.idempotency import Answer, Idempotency, request_hash
from gateway.runs.ids import RunId, resolve_task_id

log = logging.getLogger(__name__)

R = TypeVar("R", ReplayAccepted, ReplaysAccepted)


# --- rules ----------------------------------------------------------------------------------
def run_refusal(run_id: str, status: str | None) -> str | None:
    """Why no task of run `run_id`, in `status`, can be replayed, or None."""
    if status == RunStatus.CANCELLED:
        return f"run {run_id} was cancelled: a cancelled run is final, start a new run instead"
    return None


def replay_refusal(task: TaskRef) -> str | None:
    """Why `task` cannot be replayed now, or None."""
    refusal = run_refusal(task.run_id, task.run_status)
    if refusal is not None:
        return refusal
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
    control: Control, task_id: str, body: ReplayRequest, key: str | None, requested_by: str
) -> Answer[ReplayAccepted]:
    async def tasks() -> list[TaskRef]:
        task = allowed(
            await find_task(control.pool, task_id), f"task {task_id[:100]}", replay_refusal
        )
        await control.require_kept(task.run_id)
        return [task]

    def shape(replays: list[ReplayAccepted]) -> ReplayAccepted:
        return replays[0]

    idempotency = _idempotency(key, "task", task_id, body, ReplayAccepted)
    return await _replay(control, idempotency, tasks, shape, body, requested_by)


async def replay_run_task(
    control: Control,
    run_id: RunId,
    task: str,
    body: ReplayRequest,
    key: str | None,
    requested_by: str,
) -> Answer[ReplayAccepted]:
    """`replay_task` of the run's task that `task` names: its id or its plan id (`1.2`)."""
    task_id = await resolve_task_id(control.pool, run_id, task)
    if task_id is None:
        raise NotFound(f"task {task[:100]} of run {run_id}")
    return await replay_task(control, task_id, body, key, requested_by)


async def replay_failed(
    control: Control, run_id: str, body: ReplayRequest, key: str | None, requested_by: str
) -> Answer[ReplaysAccepted]:
    async def tasks() -> list[TaskRef]:
        await control.run_allowing(run_id, lambda status: run_refusal(run_id, status))
        await control.require_kept(run_id)
        found = await tasks_with_status(control.pool, run_id, TASK_REPLAYABLE)
        if not found:
            raise Conflict(f"run {run_id} has no failed or cancelled task to replay")
        return found

    def shape(replays: list[ReplayAccepted]) -> ReplaysAccepted:
        return ReplaysAccepted(run_id=run_id, replays=replays, count=len(replays))

    idempotency = _idempotency(key, "run", run_id, body, ReplaysAccepted)
    return await _replay(control, idempotency, tasks, shape, body, requested_by)


async def _replay(
    control: Control,
    idempotency: Idempotency[R],
    find_tasks: Callable[[], Awaitable[list[TaskRef]]],
    shape: Callable[[list[ReplayAccepted]], R],
    body: ReplayRequest,
    requested_by: str,
) -> Answer[R]:
    # The key first: after the first request, the task is no longer failed (it is being
    # replayed), yet the same key must still get the same answer, not a 409.
    earlier = await idempotency.earlier(control.pool)
    if earlier is not None:
        return earlier
    overrides(body)  # a bad override is a 400 before anything else is looked at
    tasks = await find_tasks()
    control.require_nats("nothing was replayed")
    if body.agent is not None:
        # Only an override is checked: without one the agent is the task's last dispatch's,
        # which the read model does not hold (an earlier replay may have changed it).
        mode = await run_mode(control.pool, tasks[0].run_id)
        await require_runnable(control.nc, control.js, body.agent, mode)
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
    concurrent = await idempotency.claim(control.pool, tasks[0].run_id, answer)
    if concurrent is not None:
        return concurrent
    try:
        for message in messages:
            await cc_bus.publish(
                control.js,
                subjects.CONTROL_REPLAY,
                message,
                msg_id=message.request_id,
                timeout=control.timeout_s,
            )
    except (nats.errors.Error, TimeoutError, OSError) as exc:
        reason = describe(exc)
        log.error("replay not requested: %s", reason, extra={"run_id": tasks[0].run_id})
        try:
            await idempotency.release(control.pool)
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
