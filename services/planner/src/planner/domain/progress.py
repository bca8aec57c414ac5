"""A run's progress and the pure state machine that moves it on status events.

`apply(progress, event)` never mutates its input and never does I/O: it returns the next
progress and what should happen next as `Action`s (start a batch, complete a batch, finish
the run). Turning actions into messages is `planning.render`'s job, storing the progress is
`store`'s. Every transition is idempotent: an event that was already applied (a redelivery,
a duplicate, the planner's own `task.queued` coming back) or that belongs to an older attempt
returns `changed=False` and no actions.

Replay (a person re-runs a failed task): a `task.queued` with a higher attempt re-opens the
task, its batch and, if it was over, the run; when the new attempt succeeds, the batch
completes again and the run goes on with the next batch. Re-opened batches and runs count
rounds/epochs so the events they emit the second time get new deterministic ids.
"""

from __future__ import annotations

import copy
from typing import Literal

import msgspec
from commandcenter_contracts import (
    RunCancelled,
    StatusEvent,
    TaskFailed,
    TaskQueued,
    TaskStarted,
    TaskSucceeded,
)

TaskStatus = Literal["pending", "queued", "running", "succeeded", "failed"]
BatchStatus = Literal["pending", "running", "succeeded", "failed"]
RunStatus = Literal["running", "succeeded", "halted", "cancelled"]

TASK_TERMINAL: frozenset[str] = frozenset({"succeeded", "failed"})


class TaskState(msgspec.Struct, kw_only=True):
    task_id: str
    plan_task_id: str
    attempt: int = 1
    status: TaskStatus = "pending"
    error_code: str | None = None


class BatchState(msgspec.Struct, kw_only=True):
    index: int
    phase: str | None = None
    number: str = ""
    title: str = ""
    status: BatchStatus = "pending"
    round: int = 0
    """How many times the batch was re-opened by a replayed task (part of event ids)."""
    tasks: list[TaskState] = []


class RunProgress(msgspec.Struct, kw_only=True):
    """What the planner knows of one run; the value stored in the KV bucket under the run id."""

    run_id: str
    status: RunStatus = "running"
    continue_on_failure: bool = False
    epoch: int = 0
    """How many times the finished run was re-opened by a replayed task (part of event ids)."""
    batches: list[BatchState] = []

    def find_task(self, task_id: str) -> tuple[BatchState, TaskState] | None:
        for batch in self.batches:
            for task in batch.tasks:
                if task.task_id == task_id:
                    return batch, task
        return None

    def failed_tasks(self) -> list[str]:
        return [t.task_id for b in self.batches for t in b.tasks if t.status == "failed"]


# --- actions ----------------------------------------------------------------------------------
class StartBatch(msgspec.Struct, frozen=True, kw_only=True):
    batch_index: int


class CompleteBatch(msgspec.Struct, frozen=True, kw_only=True):
    batch_index: int
    succeeded: bool
    round: int


class FinishRun(msgspec.Struct, frozen=True, kw_only=True):
    outcome: Literal["succeeded", "halted"]
    epoch: int
    batch_index: int
    """The batch whose completion finished the run."""
    failed_tasks: list[str] = []


Action = StartBatch | CompleteBatch | FinishRun


class Transition(msgspec.Struct, frozen=True, kw_only=True):
    progress: RunProgress
    actions: list[Action] = []
    changed: bool = False


# --- the state machine -------------------------------------------------------------------------
def start_batch(progress: RunProgress, index: int) -> StartBatch:
    """Mark batch `index` running and its tasks queued (attempt 1); mutates `progress`."""
    batch = progress.batches[index]
    batch.status = "running"
    for task in batch.tasks:
        task.status = "queued"
    return StartBatch(batch_index=index)


def could_change(event: StatusEvent) -> bool:
    """Whether `apply` could do anything with `event`, decided without the run's progress.

    The planner's status consumer sees every status event; most (progress, batch and run
    events, its own first `task.queued`) never change progress, and skipping them saves a
    read of the whole run from the KV bucket per event (the dispatch benchmark's bottleneck).
    """
    if isinstance(event, RunCancelled | TaskStarted | TaskSucceeded):
        return True
    if isinstance(event, TaskFailed):
        return not event.will_retry
    if isinstance(event, TaskQueued):
        return event.attempt > 1  # a replay re-opens the task; a first dispatch is ours
    return False


def apply(progress: RunProgress, event: StatusEvent) -> Transition:
    """The next progress of the run after `event`, and the actions that follow from it."""
    if event.run_id != progress.run_id or progress.status == "cancelled":
        return Transition(progress=progress)
    if isinstance(event, RunCancelled):
        if progress.status not in ("running", "halted"):
            return Transition(progress=progress)
        nxt = copy.deepcopy(progress)
        nxt.status = "cancelled"
        return Transition(progress=nxt, changed=True)
    if isinstance(event, TaskQueued | TaskStarted | TaskSucceeded | TaskFailed):
        return _apply_task_event(progress, event)
    return Transition(progress=progress)


def _apply_task_event(
    progress: RunProgress, event: TaskQueued | TaskStarted | TaskSucceeded | TaskFailed
) -> Transition:
    if isinstance(event, TaskFailed) and event.will_retry:
        return Transition(progress=progress)
    found = progress.find_task(event.task_id)
    if found is None or found[0].status == "pending":
        # unknown task, or one of a batch not started yet: nothing we could act on
        return Transition(progress=progress)
    _, old_task = found
    if event.attempt < old_task.attempt:
        return Transition(progress=progress)  # an older attempt never overwrites a newer one
    if event.attempt == old_task.attempt and (
        old_task.status in TASK_TERMINAL
        or isinstance(event, TaskQueued)
        or (isinstance(event, TaskStarted) and old_task.status == "running")
    ):
        return Transition(progress=progress)  # already applied

    nxt = copy.deepcopy(progress)
    batch, task = _must_find(nxt, event.task_id)
    if event.attempt > task.attempt:
        _reopen(nxt, batch, task, event.attempt)
    if isinstance(event, TaskQueued):
        return Transition(progress=nxt, changed=True)
    if isinstance(event, TaskStarted):
        task.status = "running"
        return Transition(progress=nxt, changed=True)
    if isinstance(event, TaskSucceeded):
        task.status = "succeeded"
        task.error_code = None
    else:
        task.status = "failed"
        task.error_code = str(event.error_code)
    return Transition(progress=nxt, actions=_after_task_finished(nxt, batch), changed=True)


def _must_find(progress: RunProgress, task_id: str) -> tuple[BatchState, TaskState]:
    found = progress.find_task(task_id)
    assert found is not None
    return found


def _reopen(progress: RunProgress, batch: BatchState, task: TaskState, attempt: int) -> None:
    """A newer attempt of the task: back to queued, and its batch and run back to running."""
    task.attempt = attempt
    task.status = "queued"
    task.error_code = None
    if batch.status in ("succeeded", "failed"):
        batch.status = "running"
        batch.round += 1
    if progress.status in ("succeeded", "halted"):
        progress.status = "running"
        progress.epoch += 1


def _after_task_finished(progress: RunProgress, batch: BatchState) -> list[Action]:
    """Complete the batch when its last task finished, then start the next one or finish."""
    if batch.status != "running" or any(t.status not in TASK_TERMINAL for t in batch.tasks):
        return []
    ok = all(t.status == "succeeded" for t in batch.tasks)
    batch.status = "succeeded" if ok else "failed"
    actions: list[Action] = [
        CompleteBatch(batch_index=batch.index, succeeded=ok, round=batch.round)
    ]
    if progress.status != "running":
        return actions
    if any(b.status == "running" for b in progress.batches):
        # another (re-opened) batch is still running: its completion decides what comes next
        return actions
    if ok or progress.continue_on_failure:
        pending = [b for b in progress.batches if b.status == "pending"]
        if pending:
            actions.append(start_batch(progress, pending[0].index))
            return actions
    outcome: Literal["succeeded", "halted"] = (
        "succeeded" if all(b.status == "succeeded" for b in progress.batches) else "halted"
    )
    progress.status = outcome
    actions.append(
        FinishRun(
            outcome=outcome,
            epoch=progress.epoch,
            batch_index=batch.index,
            failed_tasks=progress.failed_tasks(),
        )
    )
    return actions
