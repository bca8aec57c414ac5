"""The words every service uses for states and choices, as enums in one place.

`StrEnum`s: they are their values on the wire (JSON strings) and in PostgreSQL (text), so a
status written by one service reads the same in every other. The sets that rules depend on —
which statuses are final, which can be re-opened — are derived here, never listed again.
"""

from __future__ import annotations

import enum


class ExecutionMode(enum.StrEnum):
    LOCAL = "local"
    """One task at a time, in git worktrees of a repository on the executor's machine."""
    DAGGER = "dagger"
    """Many at a time, each in a fresh container (or a fresh clone without an engine)."""


class LandMode(enum.StrEnum):
    """What becomes of a run's integration branch when the run succeeds."""

    BRANCH = "branch"
    PR = "pr"
    MERGE = "merge"


class MergeStyle(enum.StrEnum):
    """How a task lands on the integration branch."""

    SQUASH = "squash"
    MERGE = "merge"


class RunStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    """Recorded by the gateway; the planner has not planned it yet."""
    RUNNING = "running"
    LANDING = "landing"
    """Every batch succeeded; the lander opens or merges its work (the planner's view only:
    the read model shows it running until `run.succeeded`)."""
    SUCCEEDED = "succeeded"
    HALTED = "halted"
    """A task failed (or the budget ran out): stopped after its batch, resumable."""
    FAILED = "failed"
    """It could not be carried out at all, or its work could not be landed."""
    CANCELLED = "cancelled"


class BatchStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TaskStatus(enum.StrEnum):
    PENDING = "pending"
    """Planned, in a batch that has not started yet (or waiting: see WAITING)."""
    WAITING = "waiting"
    """In a started batch, held back until earlier tasks it overlaps or depends on are
    integrated (the planner's view; the read model shows it pending)."""
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


RUN_ENDED: frozenset[RunStatus] = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.HALTED, RunStatus.FAILED, RunStatus.CANCELLED}
)
"""A run that stopped; only HALTED can go on (a replay, a raised budget)."""
RUN_REOPENABLE: frozenset[RunStatus] = frozenset({RunStatus.HALTED})
RUN_FINAL: frozenset[RunStatus] = RUN_ENDED - RUN_REOPENABLE
"""Never changes again."""
RUN_CANCELLABLE: frozenset[RunStatus] = frozenset(RunStatus) - RUN_FINAL

BATCH_ENDED: frozenset[BatchStatus] = frozenset(
    {BatchStatus.SUCCEEDED, BatchStatus.FAILED, BatchStatus.CANCELLED}
)
BATCH_REOPENABLE: frozenset[BatchStatus] = frozenset({BatchStatus.SUCCEEDED, BatchStatus.FAILED})
"""A batch whose task is replayed runs again."""

TASK_ENDED: frozenset[TaskStatus] = frozenset(
    {TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED}
)
TASK_REPLAYABLE: frozenset[TaskStatus] = frozenset({TaskStatus.FAILED, TaskStatus.CANCELLED})
"""What a person may run again (a new attempt)."""
TASK_ACTIVE: frozenset[TaskStatus] = frozenset({TaskStatus.QUEUED, TaskStatus.RUNNING})
"""Dispatched and not finished: an executor has it or will."""
