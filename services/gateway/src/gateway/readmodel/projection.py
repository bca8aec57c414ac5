"""Status events → SQL statements on the read model. No I/O here but `apply`.

Idempotent by construction: the event row is inserted first (`ON CONFLICT DO NOTHING`) and the
rest runs only if that insert happened, in the caller's transaction, so an event delivered twice
(or published twice under two message ids) changes the read model once.

Order guards: every status-carrying row keeps `status_seq`, the stream sequence of the event that
set its status, and older events never overwrite newer ones. Task rows also keep the attempt:
an event of an older attempt never overwrites a newer attempt's state.

Replay: a `task.queued` of a newer attempt re-opens the task (back to queued), its batch (back to
running) and a halted run (back to running), as the planner's state machine does.

Integration: `task.integrated` (and `task.succeeded`, which repeats it) records the task's
integrated commit and moves the run's `integration_commit` forward only (by the commit's
first-parent depth: parallel integrations may report out of order); `batch.integrated` records
the batch's; `run.pull_request` and `run.landed` record the landing.

Usage: every outcome (a retried attempt's too) adds what its agent spent to the task and to the
run; applied once per event like everything here, so the sums are exact. `run.budget_changed`
records the budget, `run.resumed` takes a run halted by its budget back to running.

Cancel: `run.cancelled` marks the run's batches and tasks that were not finished `cancelled`;
afterwards nothing but a task's real outcome changes them (an executor that was killed reports
`task.failed` CANCELLED with its message; one that finished just before the kill reports its
success, and that work is kept). Queued/started/progress events and batch events of a cancelled
run are ignored.

Replay refusals: `task.replay_refused` (a person's replay the planner did not carry out) is kept
on the task, with its request id and reason, until a newer attempt is queued.

The statements themselves are in `projection_sql`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, assert_never

from commandcenter_contracts import (
    BatchCompleted,
    BatchIntegrated,
    BatchStarted,
    BatchStatus,
    FailureCode,
    PullRequestUpdated,
    RunAccepted,
    RunBudgetChanged,
    RunCancelled,
    RunFailed,
    RunHalted,
    RunLanded,
    RunPlanned,
    RunResumed,
    RunStarted,
    RunStatus,
    RunSucceeded,
    StatusEvent,
    TaskEvent,
    TaskFailed,
    TaskIntegrated,
    TaskProgress,
    TaskQueued,
    TaskReplayRefused,
    TaskStarted,
    TaskStatus,
    TaskSucceeded,
    TaskUsage,
    encode,
)

from gateway.readmodel.projection_sql import (
    BATCH_INTEGRATED,
    BATCH_REOPENED,
    BATCH_STATUS,
    BATCHES_CANCELLED,
    INSERT_EVENT,
    INSERT_RUN,
    RUN_BUDGET,
    RUN_INTEGRATED,
    RUN_LANDED,
    RUN_PULL_REQUEST,
    RUN_REOPENED,
    RUN_RESUMED,
    RUN_RUNNING,
    RUN_SPENT,
    RUN_TERMINAL,
    TASK_FAILED,
    TASK_INTEGRATED,
    TASK_PROGRESS,
    TASK_QUEUED,
    TASK_REPLAY_REFUSED,
    TASK_SPENT,
    TASK_STARTED,
    TASK_SUCCEEDED,
    TASKS_CANCELLED,
    UPSERT_PLANNED_BATCH,
    UPSERT_PLANNED_TASK,
)
from gateway.readmodel.sql import Connection, bind, bind_many


class UnprojectableEvent(ValueError):
    """A well-formed event the read model cannot hold (e.g. a run id that is not a uuid)."""


@dataclass(frozen=True)
class Statement:
    sql: str
    """With asyncpg's `$n` placeholders (compiled from `:name`s by `of` and `each`)."""
    args: tuple[Any, ...] = ()
    many: tuple[tuple[Any, ...], ...] = ()
    """When set, `executemany` with these rows instead of `args`."""

    @classmethod
    def of(cls, sql: str, **values: Any) -> Statement:
        text, args = bind(sql, **values)
        return cls(text, args)

    @classmethod
    def each(cls, sql: str, rows: Iterable[Mapping[str, Any]]) -> Statement:
        text, many = bind_many(sql, rows)
        return cls(text, many=tuple(many))


def run_uuid(run_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(run_id)
    except (ValueError, AttributeError, TypeError) as exc:
        raise UnprojectableEvent(f"run_id {run_id!r} is not a uuid") from exc


def _json_text(value: Any) -> str:
    return encode(value).decode()


def accepted_run(event: RunAccepted) -> dict[str, Any]:
    """The columns of a run's row that its `run.accepted` sets: written by the start request
    (first) and by the projector (for runs it did not start, and after a rebuild)."""
    return {
        "mode": event.mode,
        "plan_path": event.plan_path,
        "repo": event.repo,
        "agent": event.agent,
        "selection": _json_text(event.selection),
        "requested_by": event.requested_by,
        "base_ref": event.base_ref,
        "integration_branch": event.integration_branch,
        "merge_style": event.merge_style,
        "land": event.land,
        "max_cost_usd": event.max_cost_usd,
    }


def statements(event: StatusEvent, seq: int) -> list[Statement]:
    """What `event` (at stream sequence `seq`) changes, after its event row is inserted."""
    run = run_uuid(event.run_id)
    # By what the events change; every match ends in `assert_never`, so an event type added to
    # the contracts is a type error here until it is projected.
    match event:
        case (
            RunAccepted()
            | RunPlanned()
            | RunStarted()
            | RunResumed()
            | RunBudgetChanged()
            | PullRequestUpdated()
            | RunLanded()
        ):
            return _run_statements(event, run, seq)
        case RunSucceeded() | RunFailed() | RunHalted() | RunCancelled():
            return _run_end_statements(event, run, seq)
        case BatchStarted() | BatchCompleted() | BatchIntegrated():
            return _batch_statements(event, run, seq)
        case (
            TaskQueued()
            | TaskStarted()
            | TaskProgress()
            | TaskIntegrated()
            | TaskSucceeded()
            | TaskFailed()
        ):
            return _task_statements(event, run, seq)
        case TaskReplayRefused():
            return [
                Statement.of(
                    TASK_REPLAY_REFUSED,
                    task_id=event.task_id,
                    run_id=run,
                    request_id=event.request_id,
                    reason=event.reason,
                    at=event.at,
                    seq=seq,
                )
            ]
        case _:
            assert_never(event)


_RunEvent = (
    RunAccepted
    | RunPlanned
    | RunStarted
    | RunResumed
    | RunBudgetChanged
    | PullRequestUpdated
    | RunLanded
)


def _run_statements(event: _RunEvent, run: uuid.UUID, seq: int) -> list[Statement]:
    at: datetime = event.at
    match event:
        case RunAccepted():
            return [Statement.of(INSERT_RUN, run_id=run, at=at, **accepted_run(event))]
        case RunPlanned():
            return _planned(event, run, seq)
        case RunStarted():
            return [Statement.of(RUN_RUNNING, run_id=run, seq=seq, at=at)]
        case RunResumed():
            return [Statement.of(RUN_RESUMED, run_id=run, seq=seq, at=at)]
        case RunBudgetChanged():
            return [Statement.of(RUN_BUDGET, run_id=run, max_cost_usd=event.max_cost_usd)]
        case PullRequestUpdated():
            return [
                Statement.of(
                    RUN_PULL_REQUEST, run_id=run, pull_request=_json_text(event.pull_request)
                )
            ]
        case RunLanded():
            landed_pr = _json_text(event.pull_request) if event.pull_request else None
            return [
                Statement.of(RUN_LANDED, run_id=run, commit=event.commit, pull_request=landed_pr)
            ]
        case _:
            assert_never(event)


def _planned(event: RunPlanned, run: uuid.UUID, seq: int) -> list[Statement]:
    batches = [
        {"run_id": run, "index": b.index, "phase": b.phase, "number": b.number, "title": b.title}
        for b in event.batches
    ]
    tasks = [
        {
            "task_id": t.task_id,
            "run_id": run,
            "batch_index": b.index,
            "position": pos,
            "plan_task_id": t.plan_task_id,
            "title": t.title,
            "branch": t.branch,
            "at": event.at,
        }
        for b in event.batches
        for pos, t in enumerate(b.tasks)
    ]
    result = [
        Statement.of(RUN_RUNNING, run_id=run, seq=seq, at=event.at),
        Statement.each(UPSERT_PLANNED_BATCH, batches),
        Statement.each(UPSERT_PLANNED_TASK, tasks),
    ]
    return [s for s in result if s.args or s.many]


def _run_end_statements(
    event: RunSucceeded | RunFailed | RunHalted | RunCancelled, run: uuid.UUID, seq: int
) -> list[Statement]:
    at: datetime = event.at
    match event:
        case RunSucceeded():
            return [_run_ended(run, RunStatus.SUCCEEDED, seq, at, None)]
        case RunFailed():
            return [_run_ended(run, RunStatus.FAILED, seq, at, event.error)]
        case RunHalted():
            reason = event.reason or (
                f"batch {event.batch_index} had failed tasks: {', '.join(event.failed_tasks)}"
            )
            return [_run_ended(run, RunStatus.HALTED, seq, at, reason)]
        case RunCancelled():
            reason = event.reason or "the run was cancelled"
            return [
                _run_ended(run, RunStatus.CANCELLED, seq, at, event.reason or None),
                Statement.of(BATCHES_CANCELLED, run_id=run, seq=seq, at=at),
                Statement.of(TASKS_CANCELLED, run_id=run, seq=seq, at=at, error=reason),
            ]
        case _:
            assert_never(event)


def _batch_statements(
    event: BatchStarted | BatchCompleted | BatchIntegrated, run: uuid.UUID, seq: int
) -> list[Statement]:
    at: datetime = event.at
    match event:
        case BatchStarted():
            return [
                Statement.of(RUN_RUNNING, run_id=run, seq=seq, at=at),
                _batch_status(run, event.batch_index, BatchStatus.RUNNING, seq, started_at=at),
            ]
        case BatchCompleted():
            status = BatchStatus.SUCCEEDED if event.succeeded else BatchStatus.FAILED
            return [_batch_status(run, event.batch_index, status, seq, finished_at=at)]
        case BatchIntegrated():
            return [
                Statement.of(
                    BATCH_INTEGRATED, run_id=run, index=event.batch_index, commit=event.commit
                )
            ]
        case _:
            assert_never(event)


def _task_statements(event: TaskEvent, run: uuid.UUID, seq: int) -> list[Statement]:
    at: datetime = event.at
    task = {"task_id": event.task_id, "run_id": run}
    match event:
        case TaskQueued():
            attempt = {"task_id": event.task_id, "attempt": event.attempt}
            return [
                # before the task row moves to the new attempt: they look for the older one
                Statement.of(RUN_REOPENED, run_id=run, seq=seq, at=at, **attempt),
                Statement.of(
                    BATCH_REOPENED, run_id=run, seq=seq, index=event.batch_index, **attempt
                ),
                Statement.of(
                    TASK_QUEUED,
                    **task,
                    attempt=event.attempt,
                    batch_index=event.batch_index,
                    plan_task_id=event.plan_task_id,
                    branch=event.branch,
                    at=at,
                    seq=seq,
                ),
            ]
        case TaskStarted():
            return [Statement.of(TASK_STARTED, **task, attempt=event.attempt, at=at, seq=seq)]
        case TaskProgress():
            return [
                Statement.of(
                    TASK_PROGRESS, **task, attempt=event.attempt, step=event.step, at=at, seq=seq
                )
            ]
        case TaskIntegrated():
            return [
                Statement.of(
                    TASK_INTEGRATED,
                    task_id=event.task_id,
                    attempt=event.attempt,
                    commit=event.commit,
                ),
                Statement.of(RUN_INTEGRATED, run_id=run, commit=event.commit, depth=event.depth),
            ]
        case TaskSucceeded():
            return _succeeded(event, run, seq)
        case TaskFailed():
            return [
                Statement.of(
                    TASK_FAILED,
                    **task,
                    status=_failed_status(event),
                    attempt=event.attempt,
                    error_code=str(event.error_code),
                    error=event.message,
                    at=at,
                    seq=seq,
                ),
                *_spent(run, event.task_id, event.usage, event.fix_rounds),
            ]
        case _:
            assert_never(event)


def _succeeded(event: TaskSucceeded, run: uuid.UUID, seq: int) -> list[Statement]:
    succeeded = [
        Statement.of(
            TASK_SUCCEEDED,
            task_id=event.task_id,
            run_id=run,
            attempt=event.attempt,
            branch=event.branch,
            commit=event.commit,
            pushed=event.pushed,
            at=event.at,
            seq=seq,
            integrated_commit=event.integrated_commit,
        )
    ]
    if event.integrated_commit:
        succeeded.append(
            Statement.of(
                RUN_INTEGRATED,
                run_id=run,
                commit=event.integrated_commit,
                depth=event.integration_depth,
            )
        )
    return succeeded + _spent(run, event.task_id, event.usage, event.fix_rounds)


def _batch_status(
    run: uuid.UUID,
    index: int,
    status: BatchStatus,
    seq: int,
    *,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
) -> Statement:
    return Statement.of(
        BATCH_STATUS,
        run_id=run,
        index=index,
        status=status,
        seq=seq,
        started_at=started_at,
        finished_at=finished_at,
    )


def _run_ended(
    run: uuid.UUID, status: RunStatus, seq: int, at: datetime, error: str | None
) -> Statement:
    return Statement.of(RUN_TERMINAL, run_id=run, status=status, seq=seq, at=at, error=error)


def _spent(
    run: uuid.UUID, task_id: str, usage: TaskUsage | None, fix_rounds: int
) -> list[Statement]:
    spent = usage or TaskUsage()
    task = Statement.of(
        TASK_SPENT,
        run_id=run,
        task_id=task_id,
        cost_usd=spent.cost_usd,
        input_tokens=spent.input_tokens,
        output_tokens=spent.output_tokens,
        cache_read_tokens=spent.cache_read_tokens,
        cache_creation_tokens=spent.cache_creation_tokens,
        turns=spent.turns,
        model=spent.model,
        fix_rounds=fix_rounds,
    )
    if usage is None:
        return [task]
    return [task, Statement.of(RUN_SPENT, run_id=run, cost_usd=usage.cost_usd)]


def _failed_status(event: TaskFailed) -> TaskStatus:
    """A failure with a retry coming leaves the task queued; a killed agent's, cancelled."""
    if event.will_retry:
        return TaskStatus.QUEUED
    if event.error_code == FailureCode.CANCELLED:
        return TaskStatus.CANCELLED
    return TaskStatus.FAILED


async def apply(conn: Connection, event: StatusEvent, seq: int, payload: bytes) -> bool:
    """Project one event inside the caller's transaction; False if it was already projected."""
    todo = statements(event, seq)  # raises UnprojectableEvent before touching the database
    sql, args = bind(
        INSERT_EVENT,
        event_id=event.event_id,
        run_id=run_uuid(event.run_id),
        type=event_type(event),
        seq=seq,
        at=event.at,
        payload=payload.decode("utf-8"),
    )
    inserted = await conn.fetchval(sql, *args)
    if inserted is None:
        return False
    for statement in todo:
        if statement.many:
            await conn.executemany(statement.sql, statement.many)
        else:
            await conn.execute(statement.sql, *statement.args)
    return True


def event_type(event: StatusEvent) -> str:
    """The wire tag of an event, e.g. `task.succeeded`."""
    return str(type(event).__struct_config__.tag)
