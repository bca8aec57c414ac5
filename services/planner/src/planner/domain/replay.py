"""Replaying a finished task: whether to, as which attempt, and the messages that do it.

A replay is a new attempt of the same task (same task id, same branch): the planner publishes
`task.queued` for attempt n+1, then the dispatch. The state machine (`progress.apply`) sees
that `task.queued` come back and re-opens the task, its batch and, if it was over, the run.
The executors recreate the branch from the base ref and push it with a lease on the old tip,
so the new attempt replaces the old attempt's branch instead of stacking commits on it.

A request the planner does not carry out is answered on the run's status subject
(`task.replay_refused`, `refused`): the person who asked was told 202 by the gateway.

Pure functions: the same request against the same state gives the same decision and the same
messages with the same ids.
"""

from __future__ import annotations

from typing import Any

import msgspec
from commandcenter_contracts import (
    BatchStatus,
    RunStatus,
    TaskDispatched,
    TaskFailed,
    TaskQueued,
    TaskReplayRefused,
    TaskReplayRequested,
    TaskStatus,
)

from planner.domain.naming import event_id
from planner.domain.planning import Outgoing
from planner.domain.progress import TASK_ENDED, RunProgress


class ReplayRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The last replay of a task (stored under `<run_id>.replay.<task_id>`): the request that
    made it, and the dispatch it published, which the next replay starts from."""

    request_id: str
    dispatch: TaskDispatched


class Go(msgspec.Struct, frozen=True, kw_only=True):
    attempt: int


class Wait(msgspec.Struct, frozen=True, kw_only=True):
    """The planner has not yet seen the attempt the requester saw finish: ask again later."""

    reason: str


class Refuse(msgspec.Struct, frozen=True, kw_only=True):
    reason: str


Decision = Go | Wait | Refuse


def decide(
    progress: RunProgress | None,
    request: TaskReplayRequested,
    *,
    last_replayed_attempt: int = 0,
    cancelled: bool = False,
) -> Decision:
    """Whether the task of `request` can be replayed now, and as which attempt."""
    if progress is None:
        return Refuse(reason=f"the planner knows no run {request.run_id}")
    if cancelled or progress.status == RunStatus.CANCELLED:
        return Refuse(reason="the run was cancelled")
    found = progress.find_task(request.task_id)
    if found is None:
        return Refuse(reason=f"run {request.run_id} has no task {request.task_id}")
    batch, task = found
    if batch.status == BatchStatus.PENDING:
        return Refuse(reason=f"task {task.plan_task_id}: its batch has not started")
    expected = request.expected_attempt
    # A replay this planner dispatched may not be in the progress yet (its `task.queued` is
    # still on the way): the latest attempt is the newer of the two.
    latest = max(task.attempt, last_replayed_attempt)
    if expected > latest:
        return Wait(reason=f"attempt {expected} of {task.plan_task_id} not seen yet")
    if expected and expected < latest:
        return Refuse(reason=f"{task.plan_task_id} has a newer attempt ({latest}) already")
    if latest > task.attempt:
        if expected:
            return Wait(reason=f"attempt {latest} of {task.plan_task_id} not seen finished yet")
        return Refuse(reason=f"attempt {latest} of {task.plan_task_id} was just dispatched")
    if task.status not in TASK_ENDED:
        if expected:
            return Wait(reason=f"attempt {expected} of {task.plan_task_id} not finished yet")
        return Refuse(reason=f"{task.plan_task_id} is {task.status}: nothing to replay")
    if task.status == TaskStatus.SUCCEEDED:
        return Refuse(reason=f"{task.plan_task_id} succeeded: nothing to replay")
    return Go(attempt=latest + 1)


def replay_dispatch(
    base: TaskDispatched, request: TaskReplayRequested, attempt: int
) -> TaskDispatched:
    """`base` (the task's last dispatch) as attempt `attempt`, with the request's overrides."""
    # A person's replay starts afresh: no re-run context from an integration conflict.
    changes: dict[str, Any] = {"attempt": attempt, "rework": None}
    if request.agent is not None:
        changes["agent"] = request.agent
    if request.timeout_s is not None:
        changes["timeout_s"] = request.timeout_s
    if request.verification is not None:
        changes["verification"] = list(request.verification)
    return msgspec.structs.replace(base, **changes)


def rework_request_id(event: TaskFailed) -> str:
    """The id a re-run after an integration conflict is recorded under (one per attempt)."""
    return f"rework/{event.task_id}/{event.attempt}"


def decide_rework(
    progress: RunProgress | None,
    event: TaskFailed,
    *,
    last_replayed_attempt: int = 0,
    cancelled: bool = False,
) -> Decision:
    """Whether the attempt of `event` (it could not be integrated) is re-run from the tip."""
    if progress is None or cancelled or progress.status == RunStatus.CANCELLED:
        return Refuse(reason="the run is unknown or cancelled")
    found = progress.find_task(event.task_id)
    if found is None:
        return Refuse(reason=f"run {event.run_id} has no task {event.task_id}")
    _, task = found
    latest = max(task.attempt, last_replayed_attempt)
    if latest > event.attempt:
        return Refuse(reason=f"{task.plan_task_id} has a newer attempt ({latest}) already")
    if task.attempt == event.attempt and task.status in TASK_ENDED:
        return Refuse(reason=f"attempt {event.attempt} of {task.plan_task_id} is over already")
    return Go(attempt=event.attempt + 1)


def rework_dispatch(base: TaskDispatched, event: TaskFailed, attempt: int) -> TaskDispatched:
    """`base` (the task's last dispatch) as attempt `attempt`, with what clashed."""
    return msgspec.structs.replace(base, attempt=attempt, rework=event.rework)


def refused(request: TaskReplayRequested, refusal: Refuse) -> TaskReplayRefused:
    """Says why a person's replay was not carried out (the gateway had accepted it); one id
    per request, so a redelivered request refused again is the same event."""
    return TaskReplayRefused(
        event_id=event_id(request.run_id, f"task.replay_refused/{request.request_id}"),
        run_id=request.run_id,
        task_id=request.task_id,
        request_id=request.request_id,
        reason=refusal.reason,
        requested_by=request.requested_by,
    )


def replay_messages(dispatch: TaskDispatched) -> list[Outgoing]:
    """`task.queued` first (it re-opens the task before any executor reports on it), then the
    dispatch; ids are the same as a planned dispatch of that attempt would get."""
    queued = TaskQueued(
        event_id=event_id(dispatch.run_id, f"task.queued/{dispatch.task_id}/{dispatch.attempt}"),
        run_id=dispatch.run_id,
        task_id=dispatch.task_id,
        attempt=dispatch.attempt,
        batch_index=dispatch.batch_index,
        plan_task_id=dispatch.plan_task_id,
        branch=dispatch.branch,
    )
    return [queued, dispatch]
