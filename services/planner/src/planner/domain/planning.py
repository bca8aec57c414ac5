"""From a phase-start request to a planned run, and from actions to the messages to publish.

Pure functions: the same request (or the same progress and actions) always gives the same
messages with the same ids, which is what makes a redo after a crash harmless.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import assert_never

import msgspec
from cc_planfile import SelectionError, select_batches, task_waits
from commandcenter_contracts import (
    BatchCompleted,
    BatchIntegrated,
    BatchStarted,
    ExecutionMode,
    FailureCode,
    LandRequested,
    PhaseStartRequested,
    PlanBatch,
    PlannedBatch,
    PlannedTask,
    RunFailed,
    RunHalted,
    RunPlanned,
    RunResumed,
    RunStarted,
    RunStatus,
    RunSucceeded,
    StatusEvent,
    TaskDispatched,
    TaskQueued,
    default_integration_branch,
)

from planner.domain.naming import branch_names, event_id, task_id
from planner.domain.progress import (
    Action,
    BatchState,
    CompleteBatch,
    DispatchTasks,
    FinishRun,
    Land,
    ResumeRun,
    RunProgress,
    StartBatch,
    TaskState,
    start_batch,
)

Outgoing = StatusEvent | TaskDispatched | LandRequested
"""What the planner publishes, in order: status events, task dispatches, landing requests."""


class RunTasks(msgspec.Struct, frozen=True, kw_only=True):
    """Every task of a run as its first dispatch, per selected batch (stored once, read when a
    batch starts: the phase-start message itself is gone once acked)."""

    run_id: str
    batches: list[list[TaskDispatched]]

    def by_id(self) -> dict[str, TaskDispatched]:
        return {t.task_id: t for batch in self.batches for t in batch}


class PlannedRun(msgspec.Struct, frozen=True, kw_only=True):
    progress: RunProgress
    tasks: RunTasks
    messages: list[Outgoing]


def plan_run(request: PhaseStartRequested, *, default_timeout_s: float) -> PlannedRun:
    """Select the batches, name every task, and the first messages: `run.planned`,
    `run.started`, then batch 0 started with its tasks queued and dispatched.

    Raises `cc_planfile.SelectionError` when the selection does not name runnable batches.
    """
    selected = select_batches(request.plan, request.selection)
    run_id = request.run_id
    flat = [(task.id, task.title) for batch in selected for task in batch.tasks]
    branches = iter(branch_names(run_id, flat))
    timeout_s = request.timeout_s if request.timeout_s is not None else default_timeout_s

    dispatches: list[list[TaskDispatched]] = []
    for b_index, batch in enumerate(selected):
        dispatches.append(
            [
                _dispatch(request, b_index, t_index, batch, next(branches), timeout_s)
                for t_index in range(len(batch.tasks))
            ]
        )
    progress = RunProgress(
        run_id=run_id,
        continue_on_failure=request.continue_on_failure,
        land=request.land,
        integration_branch=integration_branch(request),
        max_cost_usd=request.max_cost_usd,
        # In local mode one task runs at a time anyway: dispatching them one by one lets the
        # budget be checked before each task starts.
        serial=request.mode == ExecutionMode.LOCAL and request.max_cost_usd is not None,
        batches=[
            BatchState(
                index=b_index,
                phase=batch.phase,
                number=batch.number,
                title=batch.title,
                tasks=_task_states(batch, tasks),
            )
            for b_index, (batch, tasks) in enumerate(zip(selected, dispatches, strict=True))
        ],
    )
    tasks = RunTasks(run_id=run_id, batches=dispatches)
    planned = RunPlanned(
        event_id=event_id(run_id, "run.planned"),
        run_id=run_id,
        batches=[
            PlannedBatch(
                index=b_index,
                phase=batch.phase,
                number=batch.number,
                title=batch.title,
                tasks=[
                    PlannedTask(
                        task_id=t.task_id,
                        plan_task_id=t.plan_task_id,
                        title=t.title,
                        branch=t.branch,
                    )
                    for t in batch_tasks
                ],
            )
            for b_index, (batch, batch_tasks) in enumerate(zip(selected, dispatches, strict=True))
        ],
    )
    started = RunStarted(event_id=event_id(run_id, "run.started"), run_id=run_id)
    first = start_batch(progress, 0)
    first_tasks = {t.task_id: t for t in dispatches[0]} if dispatches else {}
    messages: list[Outgoing] = [planned, started, *render(progress, [first], first_tasks)]
    return PlannedRun(progress=progress, tasks=tasks, messages=messages)


def _task_states(batch: PlanBatch, dispatches: list[TaskDispatched]) -> list[TaskState]:
    """The batch's tasks, each with the earlier ones it waits for (overlapping `Files:`, or a
    dependency within the batch): those must be integrated before it starts."""
    ids = {d.plan_task_id: d.task_id for d in dispatches}
    waits = task_waits(batch)
    return [
        TaskState(
            task_id=d.task_id,
            plan_task_id=d.plan_task_id,
            waits_for=[ids[w] for w in waits.get(d.plan_task_id, []) if w in ids],
        )
        for d in dispatches
    ]


def integration_branch(request: PhaseStartRequested) -> str:
    return request.integration_branch or default_integration_branch(request.run_id)


def _dispatch(
    request: PhaseStartRequested,
    batch_index: int,
    task_index: int,
    batch: PlanBatch,
    branch: str,
    timeout_s: float,
) -> TaskDispatched:
    task = batch.tasks[task_index]
    agent = request.agent
    if task.model:  # the plan's `**Model:**` for this task wins over the run's
        agent = msgspec.structs.replace(agent, model=task.model)
    return TaskDispatched(
        run_id=request.run_id,
        task_id=task_id(request.run_id, batch_index, task_index),
        attempt=1,
        plan_task_id=task.id,
        batch_index=batch_index,
        title=task.title,
        body=task.body,
        files=list(task.files),
        verification=list(task.verification),
        verification_notes=list(task.verification_notes),
        depends_on=list(task.depends_on),
        skill=task.skill,
        commit_message=task.commit_message,
        branch=branch,
        repo=request.repo,
        base_ref=request.base_ref,
        remote=request.remote,
        agent=agent,
        timeout_s=timeout_s,
        mode=request.mode,
        integration_branch=integration_branch(request),
        merge_style=request.merge_style,
        fix_rounds=request.fix_rounds,
        max_turns=task.max_turns or request.max_turns,
        allowed_tools=request.allowed_tools,
        keep_task_branches=request.keep_task_branches,
    )


def run_failed(request: PhaseStartRequested, error: SelectionError) -> RunFailed:
    """The run cannot start: the error text names the batches the user could have meant."""
    message = str(error)
    if error.candidates:
        message += f" (candidates: {'; '.join(error.candidates)})"
    return RunFailed(
        event_id=event_id(request.run_id, "run.failed"), run_id=request.run_id, error=message
    )


def render(
    progress: RunProgress, actions: list[Action], tasks: Mapping[str, TaskDispatched] | None
) -> list[Outgoing]:
    """The messages that carry out `actions`, in order. `tasks` (first dispatches by task id)
    must hold the tasks that `StartBatch` and `DispatchTasks` dispatch (`dispatched_by`)."""
    run_id = progress.run_id
    out: list[Outgoing] = []
    for action in actions:
        if isinstance(action, StartBatch | DispatchTasks):
            if tasks is None:
                raise ValueError("dispatching needs the run's tasks")
            i = action.batch_index
            if isinstance(action, StartBatch):
                out.append(
                    BatchStarted(
                        event_id=event_id(run_id, f"batch.started/{i}"),
                        run_id=run_id,
                        batch_index=i,
                    )
                )
            out.extend(_dispatch_messages(run_id, [tasks[t] for t in action.task_ids]))
        elif isinstance(action, CompleteBatch):
            i = action.batch_index
            if action.integrated_commit:
                out.append(
                    BatchIntegrated(
                        event_id=event_id(run_id, f"batch.integrated/{i}/{action.round}"),
                        run_id=run_id,
                        batch_index=i,
                        integration_branch=progress.integration_branch,
                        commit=action.integrated_commit,
                    )
                )
            out.append(
                BatchCompleted(
                    event_id=event_id(run_id, f"batch.completed/{i}/{action.round}"),
                    run_id=run_id,
                    batch_index=i,
                    succeeded=action.succeeded,
                )
            )
        elif isinstance(action, Land):
            out.append(
                LandRequested(
                    request_id=event_id(run_id, f"land/{action.stage}"),
                    run_id=run_id,
                    final=action.final,
                )
            )
        elif isinstance(action, FinishRun):
            name = f"run.{action.outcome}/{action.epoch}"
            if action.outcome == RunStatus.SUCCEEDED:
                out.append(RunSucceeded(event_id=event_id(run_id, name), run_id=run_id))
            else:
                out.append(
                    RunHalted(
                        event_id=event_id(run_id, name),
                        run_id=run_id,
                        batch_index=action.batch_index,
                        failed_tasks=list(action.failed_tasks),
                        reason=_budget_reason(action.budget)
                        if action.budget
                        else _halt_reason(progress, action.failed_tasks),
                        error_code=FailureCode.BUDGET_EXCEEDED if action.budget else None,
                    )
                )
        elif isinstance(action, ResumeRun):
            out.append(
                RunResumed(
                    event_id=event_id(run_id, f"run.resumed/{action.epoch}"),
                    run_id=run_id,
                    reason=f"budget raised to ${action.max_cost_usd:.2f}",
                )
            )
        else:
            assert_never(action)
    return out


def dispatched_by(actions: list[Action]) -> list[tuple[int, list[str]]]:
    """(batch index, task ids) of the tasks `actions` dispatch: what `render` needs."""
    return [
        (a.batch_index, a.task_ids) for a in actions if isinstance(a, StartBatch | DispatchTasks)
    ]


def _dispatch_messages(run_id: str, dispatched: list[TaskDispatched]) -> list[Outgoing]:
    """`task.queued` for each task (in plan order), then their dispatches."""
    queued: list[Outgoing] = [
        TaskQueued(
            event_id=event_id(run_id, f"task.queued/{t.task_id}/{t.attempt}"),
            run_id=run_id,
            task_id=t.task_id,
            attempt=t.attempt,
            batch_index=t.batch_index,
            plan_task_id=t.plan_task_id,
            branch=t.branch,
        )
        for t in dispatched
    ]
    return [*queued, *dispatched]


def _budget_reason(budget: tuple[float, float]) -> str:
    spent, limit = budget
    return (
        f"BUDGET_EXCEEDED: the run's agents spent ${spent:.2f} of its ${limit:.2f} budget; "
        "raise it (POST /api/v1/runs/{id}/budget) to go on"
    )


def _halt_reason(progress: RunProgress, failed: list[str]) -> str:
    described = []
    for tid in failed:
        found = progress.find_task(tid)
        if found is not None:
            task = found[1]
            described.append(f"{task.plan_task_id} ({task.error_code or 'failed'})")
    return "failed: " + ", ".join(described) if described else "a task failed"
