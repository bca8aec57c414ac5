"""The original clients' view of a run: the system this replaces and its successor read the
same run with their own field names. Built from the canonical views, no SQL of its own."""

from __future__ import annotations

from datetime import datetime

import msgspec
from commandcenter_contracts import BatchStatus

from gateway.runs.schemas import BatchView, RunView, TaskView


class ActivePr(msgspec.Struct, frozen=True, kw_only=True):
    task: str
    """The original system opened one pull request per task; here the run's work goes into
    one pull request from its integration branch, named here."""
    pr_number: int
    status: str
    url: str


class AutonomousStatus(RunView, frozen=True, kw_only=True):
    """`GET /api/v1/autonomous/{id}/status`: the run view plus the original fields."""

    current_batch: int | str | None
    """The batch running now, else the last one that started (its number as written)."""
    total_batches: int
    tasks_completed: int
    tasks_total: int
    active_prs: list[ActivePr]
    started_at: datetime
    completed_at: datetime | None


class AutonomousBatches(msgspec.Struct, frozen=True, kw_only=True):
    execution_id: str
    batches: list[BatchView]
    total_batches: int


class AutonomousTask(msgspec.Struct, frozen=True, kw_only=True):
    """`GET /api/v1/autonomous/{id}/tasks/{task_number}`: one task by its plan id (`1.2`)."""

    task_number: str
    task_title: str
    task_id: str
    branch_name: str
    pr_number: int | None
    pr_url: str | None
    status: str
    attempt: int
    commits: list[str]
    """The task's own commit, then the commit that holds it on the integration branch."""
    integrated_commit: str | None
    started_at: datetime | None
    completed_at: datetime | None
    error: str | None
    error_code: str | None


def _number(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def _current_batch(view: RunView) -> int | str | None:
    running = [b for b in view.batches if b.status == BatchStatus.RUNNING]
    started = running or [b for b in view.batches if b.started_at is not None]
    return _number(started[-1].number) if started else None


def autonomous_status(view: RunView) -> AutonomousStatus:
    fields = {f: getattr(view, f) for f in view.__struct_fields__}
    pr = view.pull_request
    active = (
        [ActivePr(task=view.integration_branch, pr_number=pr.number, status=pr.state, url=pr.url)]
        if pr is not None and pr.state in ("draft", "open")
        else []
    )
    return AutonomousStatus(
        **fields,
        current_batch=_current_batch(view),
        total_batches=len(view.batches),
        tasks_completed=view.counts.succeeded,
        tasks_total=view.counts.total,
        active_prs=active,
        started_at=view.created_at,
        completed_at=view.finished_at,
    )


def autonomous_batches(view: RunView) -> AutonomousBatches:
    return AutonomousBatches(
        execution_id=view.id, batches=view.batches, total_batches=len(view.batches)
    )


def find_task(view: RunView, task_number: str) -> TaskView | None:
    """The task with plan id `task_number` (or, as a courtesy, its task id)."""
    for batch in view.batches:
        for task in batch.tasks:
            if task_number in (task.plan_task_id, task.task_id):
                return task
    return None


def autonomous_task(view: RunView, task: TaskView) -> AutonomousTask:
    pr = view.pull_request
    commits = [c for c in (task.commit, task.integrated_commit) if c]
    return AutonomousTask(
        task_number=task.plan_task_id,
        task_title=task.title,
        task_id=task.task_id,
        branch_name=task.branch,
        pr_number=pr.number if pr else None,
        pr_url=pr.url if pr else None,
        status=task.status,
        attempt=task.attempt,
        commits=list(dict.fromkeys(commits)),
        integrated_commit=task.integrated_commit,
        started_at=task.started_at,
        completed_at=task.finished_at,
        error=task.error,
        error_code=task.error_code,
    )
