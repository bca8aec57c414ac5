"""Helpers shared by the planner's tests: plans, requests and executor-side events."""

from __future__ import annotations

import uuid

from commandcenter_contracts import (
    BatchSelection,
    FailureCode,
    PhaseStartRequested,
    Plan,
    PlanBatch,
    PlanTask,
    TaskFailed,
    TaskQueued,
    TaskStarted,
    TaskSucceeded,
    TaskUsage,
)


def make_plan(*batch_sizes: int, phase: str | None = None, title: str = "Test plan") -> Plan:
    """Batches numbered 1..n, each with `size` tasks `<batch>.<task>`."""
    return Plan(
        title=title,
        batches=[
            PlanBatch(
                phase=phase,
                number=str(b),
                title=f"Batch {b}",
                tasks=[
                    PlanTask(
                        id=f"{b}.{t}",
                        title=f"Task {b}.{t}",
                        body=f"Do task {b}.{t}",
                        files=[f"src/f{b}{t}.txt"],
                        verification=[f"test -s src/f{b}{t}.txt"],
                        verification_notes=["looks right"],
                        depends_on=[f"{b - 1}.1"] if b > 1 else [],
                        skill="operations",
                        commit_message=f"feat: task {b}.{t}",
                    )
                    for t in range(1, size + 1)
                ],
            )
            for b, size in enumerate(batch_sizes, start=1)
        ],
    )


def make_request(
    plan: Plan,
    *,
    run_id: str | None = None,
    selection: BatchSelection | None = None,
    continue_on_failure: bool = False,
    timeout_s: float | None = None,
    mode: str = "local",
    max_cost_usd: float | None = None,
) -> PhaseStartRequested:
    run_id = run_id or str(uuid.uuid4())
    return PhaseStartRequested(
        event_id=str(uuid.uuid4()),
        run_id=run_id,
        plan_path="/plans/MASTER_PLAN.md",
        plan=plan,
        selection=selection or BatchSelection(),
        mode=mode,  # type: ignore[arg-type]
        repo="/repos/target",
        base_ref="main",
        remote="origin",
        timeout_s=timeout_s,
        continue_on_failure=continue_on_failure,
        max_cost_usd=max_cost_usd,
    )


def succeeded(run_id: str, task_id: str, attempt: int = 1, *, cost: float = 0.0) -> TaskSucceeded:
    return TaskSucceeded(
        run_id=run_id,
        task_id=task_id,
        attempt=attempt,
        branch="cc/x/y",
        commit="0" * 40,
        pushed=True,
        usage=TaskUsage(cost_usd=cost, turns=1) if cost else None,
    )


def failed(
    run_id: str,
    task_id: str,
    attempt: int = 1,
    *,
    code: FailureCode = FailureCode.VERIFICATION_FAILED,
    will_retry: bool = False,
) -> TaskFailed:
    return TaskFailed(
        run_id=run_id,
        task_id=task_id,
        attempt=attempt,
        error_code=code,
        message="it broke",
        will_retry=will_retry,
    )


def started(run_id: str, task_id: str, attempt: int = 1) -> TaskStarted:
    return TaskStarted(run_id=run_id, task_id=task_id, attempt=attempt, executor="test")


def queued(run_id: str, task_id: str, attempt: int, batch_index: int) -> TaskQueued:
    return TaskQueued(
        run_id=run_id,
        task_id=task_id,
        attempt=attempt,
        batch_index=batch_index,
        plan_task_id="?",
        branch="cc/x/y",
    )
