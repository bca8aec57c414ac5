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
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from commandcenter_contracts import (
    BatchCompleted,
    BatchIntegrated,
    BatchStarted,
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
    RunSucceeded,
    StatusEvent,
    TaskFailed,
    TaskIntegrated,
    TaskProgress,
    TaskQueued,
    TaskStarted,
    TaskSucceeded,
    TaskUsage,
    encode,
)

# A run never leaves succeeded/failed/cancelled; `halted` it can (a replay resumes it).
TERMINAL_TASK_STATUSES = ("succeeded", "failed", "cancelled")


class UnprojectableEvent(ValueError):
    """A well-formed event the read model cannot hold (e.g. a run id that is not a uuid)."""


@dataclass(frozen=True)
class Statement:
    sql: str
    args: tuple[Any, ...] = ()
    many: tuple[tuple[Any, ...], ...] = ()
    """When set, `executemany` with these rows instead of `args`."""


_INSERT_EVENT = """
INSERT INTO events (event_id, run_id, type, stream_seq, at, payload)
VALUES ($1, $2, $3, $4, $5, $6::jsonb)
ON CONFLICT (event_id) DO NOTHING
RETURNING 1
"""

# --- runs -----------------------------------------------------------------------------------
_INSERT_RUN = """
INSERT INTO runs (id, status, mode, plan_path, repo, agent, selection, requested_by,
                  created_at, updated_at, base_ref, integration_branch, merge_style, land,
                  max_cost_usd)
VALUES ($1, 'accepted', $2, $3, $4, $5, $6::jsonb, $7, $8, $8, $9, $10, $11, $12, $13)
ON CONFLICT (id) DO UPDATE
SET base_ref = EXCLUDED.base_ref, integration_branch = EXCLUDED.integration_branch,
    merge_style = EXCLUDED.merge_style, land = EXCLUDED.land,
    max_cost_usd = EXCLUDED.max_cost_usd
WHERE runs.integration_branch = ''
"""

# What an outcome's agent spent ($1 run, $2 task, $3 cost, $4..$7 tokens, $8 turns, $9 model,
# $10 fix rounds): added to the task's and the run's totals.
_TASK_SPENT = """
UPDATE tasks SET cost_usd = cost_usd + $3, input_tokens = input_tokens + $4,
                 output_tokens = output_tokens + $5, cache_read_tokens = cache_read_tokens + $6,
                 cache_creation_tokens = cache_creation_tokens + $7, turns = turns + $8,
                 model = COALESCE($9, model), fix_rounds = $10
WHERE task_id = $2 AND run_id = $1
"""
_RUN_SPENT = "UPDATE runs SET cost_usd = cost_usd + $2 WHERE id = $1"
_RUN_BUDGET = "UPDATE runs SET max_cost_usd = $2 WHERE id = $1"
# A run halted by its budget goes on ($1 run, $2 seq, $3 at).
_RUN_RESUMED = """
UPDATE runs SET status = 'running', status_seq = $2, updated_at = $3, finished_at = NULL,
                error = NULL
WHERE id = $1 AND status = 'halted' AND status_seq < $2
"""

# The run's integration tip only moves forward ($1 run, $2 commit, $3 depth).
_RUN_INTEGRATED = """
UPDATE runs SET integration_commit = $2, integration_depth = $3
WHERE id = $1 AND (integration_commit IS NULL OR integration_depth < $3)
"""

_RUN_PULL_REQUEST = "UPDATE runs SET pull_request = $2::jsonb WHERE id = $1"

_RUN_LANDED = """
UPDATE runs SET landed_commit = $2, pull_request = COALESCE($3::jsonb, pull_request)
WHERE id = $1
"""

# accepted/halted → running; a run already running is left alone (nothing to change).
_RUN_RUNNING = """
UPDATE runs SET status = 'running', status_seq = $2, updated_at = $3,
                finished_at = NULL, error = NULL
WHERE id = $1 AND status_seq < $2
  AND status NOT IN ('running', 'succeeded', 'failed', 'cancelled')
"""

_RUN_TERMINAL = """
UPDATE runs SET status = $2, status_seq = $3, updated_at = $4, finished_at = $4, error = $5
WHERE id = $1 AND status_seq < $3 AND status NOT IN ('succeeded', 'failed', 'cancelled')
"""

_RUN_CANCELLED = "EXISTS (SELECT 1 FROM runs r WHERE r.id = $1 AND r.status = 'cancelled')"
_NOT_CANCELLED_RUN = (
    "NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = tasks.run_id AND r.status = 'cancelled')"
)

# A newer attempt of a task re-opens a halted run ($1 run, $2 seq, $3 at, $4 task, $5 attempt).
_OLDER_ATTEMPT = "EXISTS (SELECT 1 FROM tasks t WHERE t.task_id = $4 AND t.attempt < $5)"
_RUN_REOPENED = f"""
UPDATE runs SET status = 'running', status_seq = $2, updated_at = $3,
                finished_at = NULL, error = NULL
WHERE id = $1 AND status = 'halted' AND status_seq < $2 AND {_OLDER_ATTEMPT}
"""

# --- batches --------------------------------------------------------------------------------
_UPSERT_PLANNED_BATCH = """
INSERT INTO batches (run_id, index, phase, number, title, status)
VALUES ($1, $2, $3, $4, $5, 'pending')
ON CONFLICT (run_id, index) DO UPDATE
SET phase = EXCLUDED.phase, number = EXCLUDED.number, title = EXCLUDED.title
"""

_BATCH_STATUS = """
INSERT INTO batches (run_id, index, status, status_seq, started_at, finished_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (run_id, index) DO UPDATE
SET status = EXCLUDED.status, status_seq = EXCLUDED.status_seq,
    started_at = COALESCE(batches.started_at, EXCLUDED.started_at),
    finished_at = EXCLUDED.finished_at
WHERE batches.status_seq < EXCLUDED.status_seq AND batches.status <> 'cancelled'
  AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = batches.run_id AND r.status = 'cancelled')
"""

# ($1 run, $2 seq, $3 batch index, $4 task, $5 attempt)
_BATCH_REOPENED = f"""
UPDATE batches SET status = 'running', status_seq = $2, finished_at = NULL
WHERE run_id = $1 AND index = $3 AND status IN ('succeeded', 'failed') AND status_seq < $2
  AND {_OLDER_ATTEMPT}
  AND NOT {_RUN_CANCELLED}
"""

_BATCH_INTEGRATED = """
UPDATE batches SET integrated_commit = $3 WHERE run_id = $1 AND index = $2
"""

_BATCHES_CANCELLED = f"""
UPDATE batches SET status = 'cancelled', status_seq = $2, finished_at = $3
WHERE run_id = $1 AND status IN ('pending', 'running') AND status_seq < $2 AND {_RUN_CANCELLED}
"""

# --- tasks ----------------------------------------------------------------------------------
_UPSERT_PLANNED_TASK = """
INSERT INTO tasks (task_id, run_id, batch_index, position, plan_task_id, title, branch, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (task_id) DO UPDATE
SET batch_index = EXCLUDED.batch_index, position = EXCLUDED.position,
    plan_task_id = EXCLUDED.plan_task_id, title = EXCLUDED.title,
    branch = CASE WHEN tasks.branch = '' THEN EXCLUDED.branch ELSE tasks.branch END
"""

# A newer attempt wins; within one attempt, a later event wins.
_NEWER = (
    "(EXCLUDED.attempt > tasks.attempt"
    " OR (EXCLUDED.attempt = tasks.attempt AND EXCLUDED.status_seq > tasks.status_seq))"
)

_TASK_QUEUED = f"""
INSERT INTO tasks (task_id, run_id, batch_index, plan_task_id, branch, status, attempt,
                   updated_at, status_seq)
VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, $8)
ON CONFLICT (task_id) DO UPDATE
SET status = 'queued', attempt = EXCLUDED.attempt, batch_index = EXCLUDED.batch_index,
    plan_task_id = EXCLUDED.plan_task_id, branch = EXCLUDED.branch,
    step = NULL, error_code = NULL, error = NULL, commit = NULL, pushed = false,
    integrated_commit = NULL, started_at = NULL, finished_at = NULL,
    updated_at = EXCLUDED.updated_at, status_seq = EXCLUDED.status_seq
WHERE {_NEWER} AND {_NOT_CANCELLED_RUN}
"""

_TASK_STARTED = f"""
INSERT INTO tasks (task_id, run_id, status, attempt, started_at, updated_at, status_seq)
VALUES ($1, $2, 'running', $3, $4, $4, $5)
ON CONFLICT (task_id) DO UPDATE
SET status = 'running', attempt = EXCLUDED.attempt, started_at = EXCLUDED.started_at,
    step = NULL, error_code = NULL, error = NULL, commit = NULL, pushed = false,
    integrated_commit = NULL, finished_at = NULL, updated_at = EXCLUDED.updated_at,
    status_seq = EXCLUDED.status_seq
WHERE {_NEWER} AND {_NOT_CANCELLED_RUN}
"""

# Progress records the step; it moves a task to `running` but never out of a final state.
_TASK_PROGRESS = f"""
INSERT INTO tasks (task_id, run_id, status, attempt, step, started_at, updated_at, status_seq)
VALUES ($1, $2, 'running', $3, $4, $5, $5, $6)
ON CONFLICT (task_id) DO UPDATE
SET status = CASE WHEN EXCLUDED.attempt > tasks.attempt
                    OR tasks.status IN ('pending', 'queued') THEN 'running'
                  ELSE tasks.status END,
    started_at = COALESCE(
        CASE WHEN EXCLUDED.attempt > tasks.attempt THEN NULL ELSE tasks.started_at END,
        EXCLUDED.started_at),
    attempt = EXCLUDED.attempt, step = EXCLUDED.step, updated_at = EXCLUDED.updated_at,
    status_seq = EXCLUDED.status_seq
WHERE (EXCLUDED.attempt > tasks.attempt
       OR (EXCLUDED.attempt = tasks.attempt AND EXCLUDED.status_seq > tasks.status_seq
           AND tasks.status NOT IN ('succeeded', 'failed', 'cancelled')))
  AND {_NOT_CANCELLED_RUN}
"""

_TASK_SUCCEEDED = f"""
INSERT INTO tasks (task_id, run_id, status, attempt, branch, commit, pushed, finished_at,
                   updated_at, status_seq, integrated_commit)
VALUES ($1, $2, 'succeeded', $3, $4, $5, $6, $7, $7, $8, $9)
ON CONFLICT (task_id) DO UPDATE
SET status = 'succeeded', attempt = EXCLUDED.attempt, branch = EXCLUDED.branch,
    commit = EXCLUDED.commit, pushed = EXCLUDED.pushed, error_code = NULL, error = NULL,
    integrated_commit = COALESCE(EXCLUDED.integrated_commit, tasks.integrated_commit),
    finished_at = EXCLUDED.finished_at, updated_at = EXCLUDED.updated_at,
    status_seq = EXCLUDED.status_seq
WHERE {_NEWER}
"""

_TASK_FAILED = f"""
INSERT INTO tasks (task_id, run_id, status, attempt, error_code, error, finished_at,
                   updated_at, status_seq)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (task_id) DO UPDATE
SET status = EXCLUDED.status, attempt = EXCLUDED.attempt, error_code = EXCLUDED.error_code,
    error = EXCLUDED.error, finished_at = EXCLUDED.finished_at,
    updated_at = EXCLUDED.updated_at, status_seq = EXCLUDED.status_seq
WHERE {_NEWER}
"""


# The task's work is on the integration branch; its status comes with task.succeeded.
_TASK_INTEGRATED = """
UPDATE tasks SET integrated_commit = $3 WHERE task_id = $1 AND attempt <= $2
"""

# Every task of a cancelled run that had not finished ($1 run, $2 seq, $3 at, $4 error).
_TASKS_CANCELLED = f"""
UPDATE tasks SET status = 'cancelled', error_code = 'CANCELLED', error = $4,
                 finished_at = $3, updated_at = $3, status_seq = $2
WHERE run_id = $1 AND status NOT IN ('succeeded', 'failed', 'cancelled') AND status_seq < $2
  AND {_RUN_CANCELLED}
"""


def run_uuid(run_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(run_id)
    except (ValueError, AttributeError, TypeError) as exc:
        raise UnprojectableEvent(f"run_id {run_id!r} is not a uuid") from exc


def _json_text(value: Any) -> str:
    return encode(value).decode()


def statements(event: StatusEvent, seq: int) -> list[Statement]:
    """What `event` (at stream sequence `seq`) changes, after its event row is inserted."""
    run = run_uuid(event.run_id)
    at: datetime = event.at
    match event:
        case RunAccepted():
            return [
                Statement(
                    _INSERT_RUN,
                    (
                        run,
                        event.mode,
                        event.plan_path,
                        event.repo,
                        event.agent,
                        _json_text(event.selection),
                        event.requested_by,
                        at,
                        event.base_ref,
                        event.integration_branch,
                        event.merge_style,
                        event.land,
                        event.max_cost_usd,
                    ),
                )
            ]
        case RunBudgetChanged():
            return [Statement(_RUN_BUDGET, (run, event.max_cost_usd))]
        case RunResumed():
            return [Statement(_RUN_RESUMED, (run, seq, at))]
        case RunPlanned():
            result = [Statement(_RUN_RUNNING, (run, seq, at))]
            result.append(
                Statement(
                    _UPSERT_PLANNED_BATCH,
                    many=tuple((run, b.index, b.phase, b.number, b.title) for b in event.batches),
                )
            )
            tasks = tuple(
                (t.task_id, run, b.index, pos, t.plan_task_id, t.title, t.branch, at)
                for b in event.batches
                for pos, t in enumerate(b.tasks)
            )
            if tasks:
                result.append(Statement(_UPSERT_PLANNED_TASK, many=tasks))
            return [s for s in result if s.args or s.many]
        case RunStarted():
            return [Statement(_RUN_RUNNING, (run, seq, at))]
        case BatchStarted():
            return [
                Statement(_RUN_RUNNING, (run, seq, at)),
                Statement(_BATCH_STATUS, (run, event.batch_index, "running", seq, at, None)),
            ]
        case BatchCompleted():
            status = "succeeded" if event.succeeded else "failed"
            return [Statement(_BATCH_STATUS, (run, event.batch_index, status, seq, None, at))]
        case BatchIntegrated():
            return [Statement(_BATCH_INTEGRATED, (run, event.batch_index, event.commit))]
        case PullRequestUpdated():
            return [Statement(_RUN_PULL_REQUEST, (run, _json_text(event.pull_request)))]
        case RunLanded():
            pull_request = _json_text(event.pull_request) if event.pull_request else None
            return [Statement(_RUN_LANDED, (run, event.commit, pull_request))]
        case TaskIntegrated():
            return [
                Statement(_TASK_INTEGRATED, (event.task_id, event.attempt, event.commit)),
                Statement(_RUN_INTEGRATED, (run, event.commit, event.depth)),
            ]
        case RunSucceeded():
            return [Statement(_RUN_TERMINAL, (run, "succeeded", seq, at, None))]
        case RunFailed():
            return [Statement(_RUN_TERMINAL, (run, "failed", seq, at, event.error))]
        case RunHalted():
            reason = event.reason or (
                f"batch {event.batch_index} had failed tasks: {', '.join(event.failed_tasks)}"
            )
            return [Statement(_RUN_TERMINAL, (run, "halted", seq, at, reason))]
        case RunCancelled():
            reason = event.reason or "the run was cancelled"
            return [
                Statement(_RUN_TERMINAL, (run, "cancelled", seq, at, event.reason or None)),
                Statement(_BATCHES_CANCELLED, (run, seq, at)),
                Statement(_TASKS_CANCELLED, (run, seq, at, reason)),
            ]
        case TaskQueued():
            return [
                # before the task row moves to the new attempt: they look for the older one
                Statement(_RUN_REOPENED, (run, seq, at, event.task_id, event.attempt)),
                Statement(
                    _BATCH_REOPENED, (run, seq, event.batch_index, event.task_id, event.attempt)
                ),
                Statement(
                    _TASK_QUEUED,
                    (
                        event.task_id,
                        run,
                        event.batch_index,
                        event.plan_task_id,
                        event.branch,
                        event.attempt,
                        at,
                        seq,
                    ),
                ),
            ]
        case TaskStarted():
            return [Statement(_TASK_STARTED, (event.task_id, run, event.attempt, at, seq))]
        case TaskProgress():
            return [
                Statement(_TASK_PROGRESS, (event.task_id, run, event.attempt, event.step, at, seq))
            ]
        case TaskSucceeded():
            succeeded = [
                Statement(
                    _TASK_SUCCEEDED,
                    (
                        event.task_id,
                        run,
                        event.attempt,
                        event.branch,
                        event.commit,
                        event.pushed,
                        at,
                        seq,
                        event.integrated_commit,
                    ),
                )
            ]
            if event.integrated_commit:
                succeeded.append(
                    Statement(
                        _RUN_INTEGRATED, (run, event.integrated_commit, event.integration_depth)
                    )
                )
            return succeeded + _spent(run, event.task_id, event.usage, event.fix_rounds)
        case TaskFailed():
            return [
                Statement(_TASK_FAILED, (event.task_id, run, *_failure(event), at, at, seq)),
                *_spent(run, event.task_id, event.usage, event.fix_rounds),
            ]
    return []  # pragma: no cover - the union is exhaustive


def _spent(
    run: uuid.UUID, task_id: str, usage: TaskUsage | None, fix_rounds: int
) -> list[Statement]:
    if usage is None:
        return [Statement(_TASK_SPENT, (run, task_id, 0.0, 0, 0, 0, 0, 0, None, fix_rounds))]
    return [
        Statement(
            _TASK_SPENT,
            (
                run,
                task_id,
                usage.cost_usd,
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_read_tokens,
                usage.cache_creation_tokens,
                usage.turns,
                usage.model,
                fix_rounds,
            ),
        ),
        Statement(_RUN_SPENT, (run, usage.cost_usd)),
    ]


def _failure(event: TaskFailed) -> tuple[str, int, str, str]:
    """(status, attempt, error_code, error): a failure with a retry coming leaves it queued."""
    if event.will_retry:
        status = "queued"
    elif event.error_code == FailureCode.CANCELLED:
        status = "cancelled"
    else:
        status = "failed"
    return status, event.attempt, str(event.error_code), event.message


async def apply(conn: asyncpg.Connection, event: StatusEvent, seq: int, payload: bytes) -> bool:
    """Project one event inside the caller's transaction; False if it was already projected."""
    todo = statements(event, seq)  # raises UnprojectableEvent before touching the database
    inserted = await conn.fetchval(
        _INSERT_EVENT,
        event.event_id,
        run_uuid(event.run_id),
        event_type(event),
        seq,
        event.at,
        payload.decode("utf-8"),
    )
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
