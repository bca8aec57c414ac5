"""The read model's runs as the runs API reads them, and the run row a start request writes
(the projector writes everything else). `parse_run_id` and `run_status` serve the other slices
too: whatever names a run asks here whether it exists and how it stands."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from commandcenter_contracts import BatchStatus, RunAccepted, RunStatus, TaskStatus

from gateway.readmodel.projection import accepted_run
from gateway.readmodel.sql import Connection, bind, from_row
from gateway.runs.schemas import (
    BatchView,
    PullRequestView,
    ReplayRefusal,
    RunSummary,
    RunView,
    TaskCounts,
    TaskView,
    TokenCounts,
)

LISTED_RUN_STATUSES = tuple(s for s in RunStatus if s is not RunStatus.LANDING)
"""What `?status=` may ask for: the read model shows a landing run as running."""
COUNTED_TASK_STATUSES = tuple(s.value for s in TaskStatus if s is not TaskStatus.WAITING)
"""A run view's `counts` keys: the read model shows a waiting task as pending."""


def parse_run_id(value: str) -> uuid.UUID | None:
    """The run id as a uuid, or None when it cannot be one (then no such run exists)."""
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None


_INSERT_RUN = """
INSERT INTO runs (id, status, mode, plan_path, repo, agent, selection, requested_by,
                  base_ref, integration_branch, merge_style, land, max_cost_usd)
VALUES (:id, :status, :mode, :plan_path, :repo, :agent, :selection::jsonb, :requested_by,
        :base_ref, :integration_branch, :merge_style, :land, :max_cost_usd)
"""


async def insert_run(conn: Connection, accepted: RunAccepted) -> None:
    """The run's row, as the start request records it before announcing `accepted`."""
    columns = accepted_run(accepted)
    sql, args = bind(
        _INSERT_RUN, id=uuid.UUID(accepted.run_id), status=RunStatus.ACCEPTED, **columns
    )
    await conn.execute(sql, *args)


async def mark_run_not_started(pool: asyncpg.Pool, run_id: str, error: str) -> None:
    """The run was recorded but could not be handed to the planner: say so."""
    await pool.execute(
        "UPDATE runs SET status = 'failed', error = $2, finished_at = now(), updated_at = now(),"
        " version = nextval('run_view_versions')"
        " WHERE id = $1 AND status = 'accepted'",
        uuid.UUID(run_id),
        error,
    )


async def run_status(pool: asyncpg.Pool, run_id: str) -> str | None:
    """The run's status, or None when there is no such run."""
    rid = parse_run_id(run_id)
    if rid is None:
        return None
    status = await pool.fetchval("SELECT status FROM runs WHERE id = $1", rid)
    return None if status is None else str(status)


async def run_finished_at(pool: asyncpg.Pool, run_id: str) -> datetime | None:
    """When the run ended; None while it goes on (or when there is no such run)."""
    rid = parse_run_id(run_id)
    if rid is None:
        return None
    finished: datetime | None = await pool.fetchval(
        "SELECT finished_at FROM runs WHERE id = $1", rid
    )
    return finished


def _counts(statuses: list[str]) -> TaskCounts:
    tally: dict[str, int] = dict.fromkeys(COUNTED_TASK_STATUSES, 0)
    for status in statuses:
        if status in tally:
            tally[status] += 1
    return TaskCounts(**tally, total=len(statuses))


def _tallied(tally: list[tuple[str, int]] | None) -> TaskCounts:
    """Counts from `(status, how many)` pairs."""
    counts: dict[str, int] = dict.fromkeys(COUNTED_TASK_STATUSES, 0)
    total = 0
    for status, n in tally or ():
        total += n
        if status in counts:
            counts[status] += n
    return TaskCounts(**counts, total=total)


# One statement: each run with its tasks tallied by status (anonymous records: asyncpg decodes
# them as tuples, whatever columns the tables gain later).
_LIST_SQL = """
SELECT r.*,
       (SELECT array_agg(ROW(s.status, s.n))
          FROM (SELECT status, count(*)::int AS n FROM tasks t WHERE t.run_id = r.id
                GROUP BY status) s) AS tally
FROM (SELECT * FROM runs WHERE ($1::text IS NULL OR status = $1)
      ORDER BY created_at DESC, id LIMIT $2) r
ORDER BY r.created_at DESC, r.id
"""


async def list_runs(pool: asyncpg.Pool, *, status: str | None, limit: int) -> list[RunSummary]:
    rows = await pool.fetch(_LIST_SQL, status, limit)
    return [
        from_row(
            RunSummary,
            r,
            id=str(r["id"]),
            execution_id=str(r["id"]),
            counts=_tallied(r["tally"]),
            pull_request=_pull_request(r["pull_request"]),
        )
        for r in rows
    ]


def _pull_request(raw: str | None) -> PullRequestView | None:
    if raw is None:
        return None
    data = json.loads(raw)
    return PullRequestView(url=data["url"], number=data["number"], state=data["state"])


# The whole view in one statement (one snapshot, so no transaction around it): the run's row,
# then its batches and tasks as arrays of anonymous records, in the order `_batch` and `_task`
# read them. Given the version the caller holds (`$2`), the batches and tasks are left out
# when the run is still at that version.
_VIEW_SQL = """
SELECT r.*,
       (SELECT array_agg(ROW(b.index, b.phase, b.number, b.title, b.status, b.started_at,
                             b.finished_at, b.integrated_commit) ORDER BY b.index)
          FROM batches b
         WHERE b.run_id = r.id AND r.version IS DISTINCT FROM $2::bigint) AS batch_rows,
       (SELECT array_agg(ROW(t.task_id, t.plan_task_id, t.title, t.status, t.attempt, t.branch,
                             t.commit, t.pushed, t.integrated_commit, t.cost_usd,
                             t.input_tokens, t.output_tokens, t.cache_read_tokens,
                             t.cache_creation_tokens, t.turns, t.model, t.fix_rounds, t.step,
                             t.error_code, t.error, t.started_at, t.finished_at, t.batch_index,
                             t.replay_refused_request, t.replay_refused_reason,
                             t.replay_refused_at)
                       ORDER BY t.batch_index NULLS LAST, t.position, t.plan_task_id, t.task_id)
          FROM tasks t
         WHERE t.run_id = r.id AND r.version IS DISTINCT FROM $2::bigint) AS task_rows
FROM runs r WHERE r.id = $1
"""


def _task(row: tuple[Any, ...]) -> tuple[int | None, TaskView]:
    """A task record of `_VIEW_SQL` as its batch index and its view."""
    (task_id, plan_task_id, title, status, attempt, branch, commit, pushed, integrated_commit,
     cost_usd, input_tokens, output_tokens, cache_read, cache_creation, turns, model,
     fix_rounds, step, error_code, error, started_at, finished_at, batch_index,
     refused_request, refused_reason, refused_at) = row  # fmt: skip
    tokens = TokenCounts(
        input=input_tokens,
        output=output_tokens,
        cache_read=cache_read,
        cache_creation=cache_creation,
    )
    return batch_index, TaskView(
        task_id=task_id,
        plan_task_id=plan_task_id,
        title=title,
        status=status,
        attempt=attempt,
        branch=branch,
        commit=commit,
        pushed=pushed,
        integrated_commit=integrated_commit,
        cost_usd=cost_usd,
        tokens=tokens,
        turns=turns,
        model=model,
        fix_rounds=fix_rounds,
        step=step,
        error_code=error_code,
        error=error,
        started_at=started_at,
        finished_at=finished_at,
        replay_refused=None
        if refused_request is None
        else ReplayRefusal(request_id=refused_request, reason=refused_reason, at=refused_at),
    )


def _batch(row: tuple[Any, ...], tasks: list[TaskView]) -> BatchView:
    """A batch record of `_VIEW_SQL` as its view."""
    index, phase, number, title, status, started_at, finished_at, integrated_commit = row
    return BatchView(
        index=index,
        phase=phase,
        number=number,
        title=title,
        status=status,
        started_at=started_at,
        finished_at=finished_at,
        integrated_commit=integrated_commit,
        tasks=tasks,
    )


@dataclass(frozen=True, slots=True)
class VersionedView:
    """A run's view as of `version` (`runs.version`); `view` is None when the caller said it
    holds this version already."""

    version: int
    status: str
    view: RunView | None


async def read_run_view(
    pool: asyncpg.Pool, run_id: str, *, unless_version: int | None = None
) -> VersionedView | None:
    """The run's view and version, None when there is no such run; the view is left out
    (None) when the run is at `unless_version` still."""
    rid = parse_run_id(run_id)
    if rid is None:
        return None
    run = await pool.fetchrow(_VIEW_SQL, rid, unless_version)
    if run is None:
        return None
    version, status = run["version"], str(run["status"])
    if version == unless_version:
        return VersionedView(version=version, status=status, view=None)
    return VersionedView(version=version, status=status, view=_assembled(run))


def _assembled(run: asyncpg.Record) -> RunView:
    tasks_by_batch: dict[int | None, list[TaskView]] = defaultdict(list)
    statuses: list[str] = []
    for record in run["task_rows"] or ():
        batch_index, task = _task(record)
        tasks_by_batch[batch_index].append(task)
        statuses.append(task.status)
    batches = [_batch(b, tasks_by_batch.pop(b[0], [])) for b in run["batch_rows"] or ()]
    # Tasks whose batch was never announced (their run.planned was not seen): still shown.
    for index in sorted(tasks_by_batch, key=lambda i: (i is None, i or 0)):
        batches.append(
            BatchView(
                index=index,
                phase=None,
                number="",
                title="",
                status=BatchStatus.PENDING,
                started_at=None,
                finished_at=None,
                integrated_commit=None,
                tasks=tasks_by_batch[index],
            )
        )
    selection = json.loads(run["selection"]) if run["selection"] else {}
    return from_row(
        RunView,
        run,
        id=str(run["id"]),
        execution_id=str(run["id"]),
        selection={str(k): (None if v is None else str(v)) for k, v in selection.items()},
        batches=batches,
        counts=_counts(statuses),
        pull_request=_pull_request(run["pull_request"]),
    )


async def get_run_view(pool: asyncpg.Pool, run_id: str) -> RunView | None:
    read = await read_run_view(pool, run_id)
    return None if read is None else read.view
