"""A run's progress and the pure state machine that moves it on status events.

`apply(progress, event)` never mutates its input and never does I/O: it returns the next
progress and what should happen next as `Action`s (start a batch, complete a batch, finish
the run). Turning actions into messages is `planning.render`'s job, storing the progress is
`store`'s. Every transition is idempotent: an event that was already applied (a redelivery,
a duplicate, the planner's own `task.queued` coming back) or that belongs to an older attempt
returns `changed=False` and no actions. `advance(progress, event)` is the same transition
done in place, for the planner service: its cost depends on what the event touches (the task,
its batch), not on how many tasks the run has.

Replay (a person re-runs a failed task): a `task.queued` with a higher attempt re-opens the
task, its batch and, if it was over, the run; when the new attempt succeeds, the batch
completes again and the run goes on with the next batch. Re-opened batches and runs count
rounds/epochs so the events they emit the second time get new deterministic ids.

Waiting tasks: a task of a batch whose `Files:` overlap an earlier task's of the same batch, or
that depends on one, is not dispatched with its batch. It waits until those succeeded (that
is, are integrated), then it is dispatched and starts from the tip that holds their work. A
task waiting on a failed one stays waiting: its batch fails, and a replay of the failed task
that succeeds releases it.

Budget: a run with `max_cost_usd` records what each task attempt spent (idempotently, by
task and attempt). Once the spend reaches the budget no task is dispatched; when the last
running one has finished the run halts BUDGET_EXCEEDED, and a raised budget
(`run.budget_changed`) resumes it. In local mode such a run dispatches its tasks one at a time
(`serial`), so the budget is checked before every task starts, not only between batches.

Landing: a run whose request asks for `pr` or `merge` does not finish when its last batch
succeeds: it is `landing` until the lander reports `run.landed` (then `run.succeeded`) or a
`run.failed` LAND_FAILED. With `pr`, the lander is also asked to open the draft pull request
when the run's first task is integrated, and to update it after each batch.
"""

from __future__ import annotations

import copy
from typing import Literal

import msgspec
from commandcenter_contracts import (
    BATCH_REOPENABLE,
    TASK_ACTIVE,
    BatchStatus,
    FailureCode,
    LandMode,
    RunBudgetChanged,
    RunCancelled,
    RunFailed,
    RunLanded,
    RunStatus,
    StatusEvent,
    TaskFailed,
    TaskQueued,
    TaskStarted,
    TaskStatus,
    TaskSucceeded,
)

TASK_ENDED: frozenset[TaskStatus] = frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED})
"""What ends a task in the planner's view (a cancel ends the whole run instead)."""


class TaskState(msgspec.Struct, kw_only=True):
    task_id: str
    plan_task_id: str
    attempt: int = 1
    status: TaskStatus = TaskStatus.PENDING
    error_code: str | None = None
    waits_for: list[str] = []
    """Task ids of earlier tasks of the batch that must succeed before this one starts."""
    integrated_commit: str | None = None
    integration_depth: int = 0


class BatchState(msgspec.Struct, kw_only=True):
    index: int
    phase: str | None = None
    number: str = ""
    title: str = ""
    status: BatchStatus = BatchStatus.PENDING
    round: int = 0
    """How many times the batch was re-opened by a replayed task (part of event ids)."""
    tasks: list[TaskState] = []


class RunProgress(msgspec.Struct, kw_only=True, dict=True):
    """What the planner knows of one run (stored by `planner.store` as snapshot + journal).

    `dict=True` lets it carry two derived, unstored values (rebuilt lazily after a decode or a
    copy): an index of its tasks by id and the sum of `costs`, so that applying one event never
    walks the whole run.
    """

    run_id: str
    status: RunStatus = RunStatus.RUNNING
    continue_on_failure: bool = False
    epoch: int = 0
    """How many times the finished run was re-opened by a replayed task (part of event ids)."""
    batches: list[BatchState] = []
    land: LandMode = LandMode.BRANCH
    integration_branch: str = ""
    pr_opened: bool = False
    """Land `pr`: the lander was asked to open the pull request (at the first integration)."""
    max_cost_usd: float | None = None
    costs: dict[str, float] = {}
    """What each task attempt spent, by `<task_id>/<attempt>` (set, never added: idempotent)."""
    serial: bool = False
    """Dispatch one task at a time (local mode with a budget)."""
    halted_by_budget: bool = False

    @property
    def spent(self) -> float:
        cached: float | None = self.__dict__.get("_spent")
        if cached is None:
            cached = self.__dict__["_spent"] = sum(self.costs.values())
        return cached

    def record_cost(self, key: str, cost_usd: float) -> None:
        """What one task attempt spent (`<task_id>/<attempt>`); recorded once, never added."""
        if key in self.costs:
            return
        spent = self.spent
        self.costs[key] = cost_usd
        self.__dict__["_spent"] = spent + cost_usd

    @property
    def over_budget(self) -> bool:
        return self.max_cost_usd is not None and self.spent >= self.max_cost_usd

    def find_task(self, task_id: str) -> tuple[BatchState, TaskState] | None:
        index: dict[str, tuple[BatchState, TaskState]] | None = self.__dict__.get("_tasks")
        if index is None:  # batches and their task lists are fixed once planned
            index = {t.task_id: (b, t) for b in self.batches for t in b.tasks}
            self.__dict__["_tasks"] = index
        return index.get(task_id)

    def running_batches(self) -> list[BatchState]:
        return [b for b in self.batches if b.status == BatchStatus.RUNNING]

    def busy(self) -> bool:
        """Whether a task of the run is queued or running (only a running batch has one)."""
        return any(t.status in TASK_ACTIVE for b in self.running_batches() for t in b.tasks)

    def failed_tasks(self) -> list[str]:
        return [t.task_id for b in self.batches for t in b.tasks if t.status == TaskStatus.FAILED]


# --- actions ----------------------------------------------------------------------------------
class StartBatch(msgspec.Struct, frozen=True, kw_only=True):
    batch_index: int
    task_ids: list[str] = []
    """The tasks dispatched now; the others of the batch wait."""


class DispatchTasks(msgspec.Struct, frozen=True, kw_only=True):
    """Waiting tasks whose predecessors succeeded: dispatch them now."""

    batch_index: int
    task_ids: list[str]


class CompleteBatch(msgspec.Struct, frozen=True, kw_only=True):
    batch_index: int
    succeeded: bool
    round: int
    integrated_commit: str | None = None
    """The integration branch's tip once every task of the batch landed (`batch.integrated`)."""
    integration_branch: str = ""


class Land(msgspec.Struct, frozen=True, kw_only=True):
    """Ask the lander to bring the landing up to date (`final`: finish it)."""

    final: bool
    stage: str
    """Part of the request's id: `first`, `batch/<i>/<round>`, `final/<epoch>`."""


class FinishRun(msgspec.Struct, frozen=True, kw_only=True):
    outcome: Literal[RunStatus.SUCCEEDED, RunStatus.HALTED]
    epoch: int
    batch_index: int
    """The batch whose completion finished the run."""
    failed_tasks: list[str] = []
    budget: tuple[float, float] | None = None
    """Halted by the budget: (spent, max_cost_usd)."""


class ResumeRun(msgspec.Struct, frozen=True, kw_only=True):
    """A run halted by its budget goes on (its budget was raised)."""

    epoch: int
    max_cost_usd: float


Action = StartBatch | DispatchTasks | CompleteBatch | Land | FinishRun | ResumeRun


class Transition(msgspec.Struct, frozen=True, kw_only=True):
    progress: RunProgress
    actions: list[Action] = []
    changed: bool = False


# --- the state machine -------------------------------------------------------------------------
def start_batch(progress: RunProgress, index: int) -> StartBatch:
    """Mark batch `index` running, its tasks queued (attempt 1) or waiting; mutates `progress`."""
    batch = progress.batches[index]
    batch.status = BatchStatus.RUNNING
    for task in batch.tasks:
        task.status = TaskStatus.WAITING
    released = _release_waiting(progress, batch)
    return StartBatch(batch_index=index, task_ids=released.task_ids if released else [])


def _release_waiting(progress: RunProgress, batch: BatchState) -> DispatchTasks | None:
    """Waiting tasks whose predecessors all succeeded become queued (in a serial run, only the
    first, once nothing else of it is queued or running; over budget, none); mutates `batch`."""
    if progress.over_budget:
        return None
    succeeded = {t.task_id for t in batch.tasks if t.status == TaskStatus.SUCCEEDED}
    ready = [
        t
        for t in batch.tasks
        if t.status == TaskStatus.WAITING and all(w in succeeded for w in t.waits_for)
    ]
    if progress.serial:
        ready = [] if progress.busy() else ready[:1]
    for task in ready:
        task.status = TaskStatus.QUEUED
    if not ready:
        return None
    return DispatchTasks(batch_index=batch.index, task_ids=[t.task_id for t in ready])


def _stuck(batch: BatchState) -> set[str]:
    """Waiting tasks that cannot start: one of their predecessors failed or is stuck itself."""
    status = {t.task_id: t.status for t in batch.tasks}
    stuck: set[str] = set()
    for task in batch.tasks:  # predecessors come first: one pass is enough
        if task.status == TaskStatus.WAITING and any(
            status.get(w) == TaskStatus.FAILED or w in stuck for w in task.waits_for
        ):
            stuck.add(task.task_id)
    return stuck


def could_change(event: StatusEvent) -> bool:
    """Whether `apply` could do anything with `event`, decided without the run's progress.

    The planner's status consumer sees every status event; most (progress, batch and run
    events, its own first `task.queued`) never change progress, and skipping them saves a
    read of the whole run from the KV bucket per event (the dispatch benchmark's bottleneck).
    """
    if isinstance(event, RunCancelled | TaskStarted | TaskSucceeded | RunLanded | RunBudgetChanged):
        return True
    if isinstance(event, RunFailed):
        return event.error_code == FailureCode.LAND_FAILED
    if isinstance(event, TaskFailed):
        # a retried attempt changes nothing but what the run spent
        return not event.will_retry or (event.usage is not None and event.usage.cost_usd > 0)
    if isinstance(event, TaskQueued):
        return event.attempt > 1  # a replay re-opens the task; a first dispatch is ours
    return False


def apply(progress: RunProgress, event: StatusEvent) -> Transition:
    """The next progress of the run after `event`, and the actions that follow from it.
    Pure: `progress` is left as it was (the next one is a copy when anything changed)."""
    transition = advance(copy.deepcopy(progress), event)
    return transition if transition.changed else Transition(progress=progress)


def advance(progress: RunProgress, event: StatusEvent) -> Transition:
    """`apply` in place: moves `progress` itself on (the returned progress is the same object)
    and costs what the event touches, not what the run holds. The caller owns `progress`:
    it must throw it away if it cannot store the transition."""
    if event.run_id != progress.run_id or progress.status == RunStatus.CANCELLED:
        return Transition(progress=progress)
    if isinstance(event, RunCancelled):
        if progress.status not in (RunStatus.RUNNING, RunStatus.HALTED, RunStatus.LANDING):
            return Transition(progress=progress)
        progress.status = RunStatus.CANCELLED
        return Transition(progress=progress, changed=True)
    if isinstance(event, RunLanded | RunFailed):
        return _apply_landing(progress, event)
    if isinstance(event, RunBudgetChanged):
        return _apply_budget(progress, event)
    if isinstance(event, TaskQueued | TaskStarted | TaskSucceeded | TaskFailed):
        return _apply_task_event(progress, event)
    return Transition(progress=progress)


def _apply_task_event(
    progress: RunProgress, event: TaskQueued | TaskStarted | TaskSucceeded | TaskFailed
) -> Transition:
    if isinstance(event, TaskSucceeded | TaskFailed) and _cost_unrecorded(progress, event):
        assert event.usage is not None
        progress.record_cost(f"{event.task_id}/{event.attempt}", event.usage.cost_usd)
        result = _apply_task_event(progress, event)
        return Transition(progress=result.progress, actions=result.actions, changed=True)
    if _nothing_to_apply(progress, event):
        return Transition(progress=progress)

    nxt = progress
    batch, task = _must_find(nxt, event.task_id)
    if event.attempt > task.attempt:
        _reopen(nxt, batch, task, event.attempt)
    if isinstance(event, TaskQueued):
        return Transition(progress=nxt, changed=True)
    if isinstance(event, TaskStarted):
        task.status = TaskStatus.RUNNING
        return Transition(progress=nxt, changed=True)
    actions: list[Action] = []
    if isinstance(event, TaskSucceeded):
        task.status = TaskStatus.SUCCEEDED
        task.error_code = None
        task.integrated_commit = event.integrated_commit
        task.integration_depth = event.integration_depth
        if nxt.land == LandMode.PR and event.integrated_commit and not nxt.pr_opened:
            nxt.pr_opened = True
            actions.append(Land(final=False, stage="first"))
    else:
        task.status = TaskStatus.FAILED
        task.error_code = str(event.error_code)
    released = _release_waiting(nxt, batch)  # a serial run goes on with the batch's next task
    if released is not None:
        actions.append(released)
    actions += _after_task_finished(nxt, batch)
    return Transition(progress=nxt, actions=actions, changed=True)


def _nothing_to_apply(
    progress: RunProgress, event: TaskQueued | TaskStarted | TaskSucceeded | TaskFailed
) -> bool:
    """An event that changes nothing: a failure that will be retried, an unknown task or one
    of a batch not started, an older attempt, or one already applied (redelivery)."""
    if isinstance(event, TaskFailed) and event.will_retry:
        return True
    found = progress.find_task(event.task_id)
    if found is None or found[0].status == BatchStatus.PENDING:
        return True
    _, task = found
    if event.attempt < task.attempt:
        return True  # an older attempt never overwrites a newer one
    return event.attempt == task.attempt and (
        task.status in TASK_ENDED
        or isinstance(event, TaskQueued)
        or (isinstance(event, TaskStarted) and task.status == TaskStatus.RUNNING)
    )


def _cost_unrecorded(progress: RunProgress, event: TaskSucceeded | TaskFailed) -> bool:
    if event.usage is None or event.usage.cost_usd <= 0:
        return False
    return f"{event.task_id}/{event.attempt}" not in progress.costs


def _apply_budget(progress: RunProgress, event: RunBudgetChanged) -> Transition:
    """A new budget; a run halted by its budget resumes when the budget is above its spend."""
    if (
        progress.status not in (RunStatus.RUNNING, RunStatus.HALTED)
        or event.max_cost_usd == progress.max_cost_usd
    ):
        return Transition(progress=progress)
    nxt = progress
    nxt.max_cost_usd = event.max_cost_usd
    if not (nxt.status == RunStatus.HALTED and nxt.halted_by_budget and not nxt.over_budget):
        return Transition(progress=nxt, changed=True)
    nxt.status = RunStatus.RUNNING
    nxt.halted_by_budget = False
    nxt.epoch += 1
    actions: list[Action] = [ResumeRun(epoch=nxt.epoch, max_cost_usd=event.max_cost_usd)]
    running = nxt.running_batches()
    for batch in running:
        released = _release_waiting(nxt, batch)
        # nothing left to release: the batch completes now (its waiting tasks are stuck)
        actions += [released] if released is not None else _after_task_finished(nxt, batch)
    if not running:  # the budget ran out between batches: the next one starts
        actions += _next_batch_or_finish(nxt, None)
    return Transition(progress=nxt, actions=actions, changed=True)


def _must_find(progress: RunProgress, task_id: str) -> tuple[BatchState, TaskState]:
    found = progress.find_task(task_id)
    assert found is not None
    return found


def _reopen(progress: RunProgress, batch: BatchState, task: TaskState, attempt: int) -> None:
    """A newer attempt of the task: back to queued, and its batch and run back to running."""
    task.attempt = attempt
    task.status = TaskStatus.QUEUED
    task.error_code = None
    if batch.status in BATCH_REOPENABLE:
        batch.status = BatchStatus.RUNNING
        batch.round += 1
    if progress.status in (RunStatus.SUCCEEDED, RunStatus.HALTED):
        progress.status = RunStatus.RUNNING
        progress.epoch += 1


def _apply_landing(progress: RunProgress, event: RunLanded | RunFailed) -> Transition:
    """The lander's answer: landed, the run succeeds; land failed, the run failed."""
    if progress.status != RunStatus.LANDING:
        return Transition(progress=progress)
    nxt = progress
    if isinstance(event, RunFailed):
        nxt.status = RunStatus.FAILED
        return Transition(progress=nxt, changed=True)
    nxt.status = RunStatus.SUCCEEDED
    last = max((b.index for b in nxt.batches), default=0)
    finish = FinishRun(outcome=RunStatus.SUCCEEDED, epoch=nxt.epoch, batch_index=last)
    return Transition(progress=nxt, actions=[finish], changed=True)


def _batch_tip(batch: BatchState) -> str | None:
    """The integration tip after the batch: the deepest of its tasks' integrated commits."""
    landed = [t for t in batch.tasks if t.integrated_commit]
    if not landed:
        return None
    return max(landed, key=lambda t: t.integration_depth).integrated_commit


def _after_task_finished(progress: RunProgress, batch: BatchState) -> list[Action]:
    """Complete the batch when its last task finished (a task waiting on a failed one never
    will), then start the next one or finish. Over budget, the run halts once nothing of it
    runs any more."""
    if batch.status != BatchStatus.RUNNING:
        return []
    if progress.over_budget:
        return _budget_halt(progress, batch)
    stuck = _stuck(batch)
    if any(t.status not in TASK_ENDED and t.task_id not in stuck for t in batch.tasks):
        return []
    ok = all(t.status == TaskStatus.SUCCEEDED for t in batch.tasks)
    batch.status = BatchStatus.SUCCEEDED if ok else BatchStatus.FAILED
    actions: list[Action] = [
        CompleteBatch(
            batch_index=batch.index,
            succeeded=ok,
            round=batch.round,
            integrated_commit=_batch_tip(batch) if ok else None,
        )
    ]
    if progress.status != RunStatus.RUNNING:
        return actions
    return actions + _next_batch_or_finish(progress, batch)


def _budget_halt(progress: RunProgress, batch: BatchState) -> list[Action]:
    if progress.busy() or progress.status != RunStatus.RUNNING:
        return []
    progress.status = RunStatus.HALTED
    progress.halted_by_budget = True
    assert progress.max_cost_usd is not None
    return [
        FinishRun(
            outcome=RunStatus.HALTED,
            epoch=progress.epoch,
            batch_index=batch.index,
            failed_tasks=progress.failed_tasks(),
            budget=(progress.spent, progress.max_cost_usd),
        )
    ]


def _next_batch_or_finish(progress: RunProgress, batch: BatchState | None) -> list[Action]:
    """After a batch completed (or a budget was raised): the next batch, or the run's end."""
    actions: list[Action] = []
    if any(b.status == BatchStatus.RUNNING for b in progress.batches):
        # another (re-opened) batch is still running: its completion decides what comes next
        return actions
    ok = batch is None or batch.status == BatchStatus.SUCCEEDED
    if ok or progress.continue_on_failure:
        pending = [b for b in progress.batches if b.status == BatchStatus.PENDING]
        if pending:
            if batch is not None and ok and progress.land == LandMode.PR:
                actions.append(Land(final=False, stage=f"batch/{batch.index}/{batch.round}"))
            if progress.over_budget:
                return actions + _budget_halt(progress, pending[0])
            actions.append(start_batch(progress, pending[0].index))
            return actions
    succeeded = all(b.status == BatchStatus.SUCCEEDED for b in progress.batches)
    outcome: Literal[RunStatus.SUCCEEDED, RunStatus.HALTED] = (
        RunStatus.SUCCEEDED if succeeded else RunStatus.HALTED
    )
    if outcome == RunStatus.SUCCEEDED and progress.land != LandMode.BRANCH:
        progress.status = RunStatus.LANDING
        actions.append(Land(final=True, stage=f"final/{progress.epoch}"))
        return actions
    progress.status = outcome
    last = batch.index if batch is not None else max((b.index for b in progress.batches), default=0)
    actions.append(
        FinishRun(
            outcome=outcome,
            epoch=progress.epoch,
            batch_index=last,
            failed_tasks=progress.failed_tasks(),
        )
    )
    return actions
