"""The run state machine (`apply`) and what its actions publish (`render`), without NATS."""

from __future__ import annotations

import copy

import msgspec
import pytest
from commandcenter_contracts import (
    BatchCompleted,
    BatchStarted,
    FailureCode,
    PlannedBatch,
    RunBudgetChanged,
    RunCancelled,
    RunHalted,
    RunPlanned,
    RunStarted,
    RunSucceeded,
    StatusEvent,
    TaskDispatched,
    TaskProgress,
    TaskQueued,
)
from planner.domain.planning import Outgoing, PlannedRun, RunTasks, plan_run, render
from planner.domain.progress import (
    CompleteBatch,
    FinishRun,
    RunProgress,
    StartBatch,
    Transition,
    advance,
    apply,
    could_change,
)
from planner_support import failed, make_plan, make_request, queued, started, succeeded


class Machine:
    """Drives one run through `apply` + `render` the way the service does, minus NATS."""

    def __init__(
        self,
        *batch_sizes: int,
        continue_on_failure: bool = False,
        max_cost_usd: float | None = None,
        mode: str = "local",
    ) -> None:
        self.planned: PlannedRun = plan_run(
            make_request(
                make_plan(*batch_sizes),
                continue_on_failure=continue_on_failure,
                max_cost_usd=max_cost_usd,
                mode=mode,
            ),
            default_timeout_s=1800,
        )
        self.progress: RunProgress = self.planned.progress
        self.tasks: RunTasks = self.planned.tasks
        self.run_id = self.progress.run_id
        self.published: list[Outgoing] = list(self.planned.messages)

    def task(self, batch: int, index: int) -> str:
        return self.tasks.batches[batch][index].task_id

    def send(self, event: StatusEvent) -> tuple[Transition, list[Outgoing]]:
        transition = apply(self.progress, event)
        # the planner service moves its progress in place: the same transition, every time
        in_place = copy.deepcopy(self.progress)
        moved = advance(in_place, event)
        assert moved.progress is in_place
        assert (moved.changed, moved.actions, in_place) == (
            transition.changed,
            transition.actions,
            transition.progress,
        )
        out = render(transition.progress, transition.actions, self.tasks.by_id())
        self.progress = transition.progress
        self.published += out
        return transition, out

    def finish_batch(self, batch: int, *, fail: set[int] = frozenset()) -> list[Outgoing]:  # type: ignore[assignment]
        out: list[Outgoing] = []
        for i in range(len(self.tasks.batches[batch])):
            tid = self.task(batch, i)
            event = failed(self.run_id, tid) if i in fail else succeeded(self.run_id, tid)
            out += self.send(event)[1]
        return out


def _types(messages: list[Outgoing]) -> list[str]:
    return [
        "dispatch" if isinstance(m, TaskDispatched) else m.__struct_config__.tag  # type: ignore[misc]
        for m in messages
    ]


# --- planning ---------------------------------------------------------------------------------
def test_planning_publishes_the_plan_then_batch_zero() -> None:
    m = Machine(2, 3)
    assert _types(m.planned.messages) == [
        "run.planned",
        "run.started",
        "batch.started",
        "task.queued",
        "task.queued",
        "dispatch",
        "dispatch",
    ]
    planned = m.planned.messages[0]
    assert isinstance(planned, RunPlanned)
    assert [len(b.tasks) for b in planned.batches] == [2, 3]
    assert isinstance(planned.batches[0], PlannedBatch)
    assert planned.batches[1].number == "2"
    assert m.progress.batches[0].status == "running"
    assert m.progress.batches[1].status == "pending"
    assert [t.status for t in m.progress.batches[0].tasks] == ["queued", "queued"]


def test_dispatches_carry_the_plan_task_and_the_request() -> None:
    request = make_request(make_plan(1, 1), timeout_s=90, mode="dagger")
    planned = plan_run(request, default_timeout_s=1800)
    dispatch = planned.tasks.batches[1][0]
    plan_task = request.plan.batches[1].tasks[0]
    assert dispatch.attempt == 1 and dispatch.batch_index == 1
    assert dispatch.plan_task_id == "2.1"
    assert (dispatch.title, dispatch.body) == (plan_task.title, plan_task.body)
    assert dispatch.files == plan_task.files
    assert dispatch.verification == plan_task.verification
    assert dispatch.verification_notes == plan_task.verification_notes
    assert dispatch.depends_on == ["1.1"]
    assert dispatch.skill == "operations"
    assert dispatch.commit_message == "feat: task 2.1"
    assert (dispatch.repo, dispatch.base_ref, dispatch.remote) == (
        "/repos/target",
        "main",
        "origin",
    )
    assert dispatch.mode == "dagger" and dispatch.timeout_s == 90
    assert dispatch.branch.startswith(f"cc/{request.run_id[:8]}/2.1-")
    assert dispatch.msg_id == f"{dispatch.task_id}:1"


def test_the_default_timeout_applies_when_the_run_names_none() -> None:
    planned = plan_run(make_request(make_plan(1)), default_timeout_s=42)
    assert planned.tasks.batches[0][0].timeout_s == 42


def test_planning_twice_gives_the_same_ids() -> None:
    request = make_request(make_plan(2, 2))
    first = plan_run(request, default_timeout_s=1800)
    again = plan_run(request, default_timeout_s=1800)
    ids = [getattr(m, "event_id", None) or m.msg_id for m in first.messages]  # type: ignore[union-attr]
    ids_again = [getattr(m, "event_id", None) or m.msg_id for m in again.messages]  # type: ignore[union-attr]
    assert ids == ids_again
    assert len(set(ids)) == len(ids)
    assert first.tasks == again.tasks


def test_every_branch_of_a_run_is_different() -> None:
    m = Machine(3, 3, 3)
    branches = [t.branch for batch in m.tasks.batches for t in batch]
    assert len(set(branches)) == 9


# --- moving on ----------------------------------------------------------------------------------
def test_a_batch_completes_only_when_its_last_task_finished() -> None:
    m = Machine(3, 1)
    t, out = m.send(succeeded(m.run_id, m.task(0, 0)))
    assert t.changed and t.actions == [] and out == []
    t, out = m.send(succeeded(m.run_id, m.task(0, 2)))
    assert t.actions == []
    t, out = m.send(succeeded(m.run_id, m.task(0, 1)))
    assert t.actions == [
        CompleteBatch(batch_index=0, succeeded=True, round=0),
        StartBatch(batch_index=1, task_ids=[m.task(1, 0)]),
    ]
    assert _types(out) == ["batch.completed", "batch.started", "task.queued", "dispatch"]
    assert isinstance(out[1], BatchStarted) and out[1].batch_index == 1
    assert isinstance(out[3], TaskDispatched) and out[3].task_id == m.task(1, 0)


def test_the_last_batch_succeeding_finishes_the_run() -> None:
    m = Machine(1, 2)
    m.finish_batch(0)
    out = m.finish_batch(1)
    assert _types(out) == ["batch.completed", "run.succeeded"]
    assert m.progress.status == "succeeded"
    assert all(b.status == "succeeded" for b in m.progress.batches)


def test_a_failed_task_halts_the_run_after_its_batch_drains() -> None:
    m = Machine(3, 1)
    t, out = m.send(failed(m.run_id, m.task(0, 1), code=FailureCode.NO_CHANGES))
    assert t.changed and out == []  # the other tasks still run
    m.send(succeeded(m.run_id, m.task(0, 0)))
    t, out = m.send(succeeded(m.run_id, m.task(0, 2)))
    assert _types(out) == ["batch.completed", "run.halted"]
    completed, halted = out
    assert isinstance(completed, BatchCompleted) and not completed.succeeded
    assert isinstance(halted, RunHalted)
    assert halted.batch_index == 0 and halted.failed_tasks == [m.task(0, 1)]
    assert "1.2 (NO_CHANGES)" in halted.reason
    assert m.progress.status == "halted"
    assert m.progress.batches[1].status == "pending"
    assert not any(isinstance(x, TaskDispatched) and x.batch_index == 1 for x in m.published)


def test_a_cancelled_task_counts_as_failed() -> None:
    m = Machine(1, 1)
    _, out = m.send(failed(m.run_id, m.task(0, 0), code=FailureCode.CANCELLED))
    assert _types(out) == ["batch.completed", "run.halted"]


def test_continue_on_failure_runs_every_batch_then_halts_with_the_failures() -> None:
    m = Machine(2, 1, 1, continue_on_failure=True)
    out = m.finish_batch(0, fail={1})
    assert _types(out) == ["batch.completed", "batch.started", "task.queued", "dispatch"]
    m.finish_batch(1, fail={0})
    out = m.finish_batch(2)
    assert _types(out) == ["batch.completed", "run.halted"]
    halted = out[-1]
    assert isinstance(halted, RunHalted)
    assert halted.batch_index == 2
    assert halted.failed_tasks == [m.task(0, 1), m.task(1, 0)]


def test_continue_on_failure_with_nothing_failed_succeeds() -> None:
    m = Machine(1, 1, continue_on_failure=True)
    m.finish_batch(0)
    assert _types(m.finish_batch(1)) == ["batch.completed", "run.succeeded"]


# --- late, duplicate and foreign events ----------------------------------------------------------
def test_the_same_outcome_twice_is_a_no_op() -> None:
    m = Machine(1, 1)
    event = succeeded(m.run_id, m.task(0, 0))
    m.send(event)
    t, out = m.send(event)
    assert not t.changed and t.actions == [] and out == []
    # a conflicting outcome of the same attempt does not overwrite the first either
    t, _ = m.send(failed(m.run_id, m.task(0, 0)))
    assert not t.changed
    assert m.progress.batches[1].status == "running"


def test_a_failure_that_will_be_retried_does_not_finish_the_task() -> None:
    m = Machine(1)
    t, _ = m.send(failed(m.run_id, m.task(0, 0), will_retry=True))
    assert not t.changed
    assert m.progress.batches[0].tasks[0].status == "queued"
    _, out = m.send(succeeded(m.run_id, m.task(0, 0)))
    assert _types(out) == ["batch.completed", "run.succeeded"]


def test_the_planners_own_queued_event_is_a_no_op() -> None:
    m = Machine(1)
    own = next(x for x in m.planned.messages if isinstance(x, TaskQueued))
    t, _ = m.send(own)
    assert not t.changed


def test_started_marks_the_task_running_once() -> None:
    m = Machine(1)
    t, out = m.send(started(m.run_id, m.task(0, 0)))
    assert t.changed and out == []
    assert m.progress.batches[0].tasks[0].status == "running"
    t, _ = m.send(started(m.run_id, m.task(0, 0)))
    assert not t.changed
    # started after the outcome (out of order) does not bring the task back
    m.send(succeeded(m.run_id, m.task(0, 0)))
    t, _ = m.send(started(m.run_id, m.task(0, 0)))
    assert not t.changed and m.progress.status == "succeeded"


@pytest.mark.parametrize(
    "event_factory",
    [
        lambda run, _task: succeeded(run, "no-such-task"),
        lambda _run, task: succeeded("another-run", task),
        lambda run, _task: RunStarted(run_id=run),
        lambda run, _task: BatchStarted(run_id=run, batch_index=0),
        lambda run, task: TaskProgress(run_id=run, task_id=task, step="agent_started"),
    ],
    ids=["unknown-task", "other-run", "run.started", "batch.started", "task.progress"],
)
def test_events_the_planner_does_not_act_on(event_factory) -> None:  # type: ignore[no-untyped-def]
    m = Machine(1)
    before = copy.deepcopy(m.progress)
    t, out = m.send(event_factory(m.run_id, m.task(0, 0)))
    assert not t.changed and out == [] and m.progress == before


def test_an_outcome_for_a_batch_not_started_yet_is_ignored() -> None:
    m = Machine(1, 1)
    t, _ = m.send(succeeded(m.run_id, m.task(1, 0)))
    assert not t.changed
    assert m.progress.batches[1].tasks[0].status == "pending"


def test_apply_never_mutates_its_input() -> None:
    m = Machine(1, 1)
    before = msgspec.json.encode(m.progress)
    original = m.progress
    apply(original, succeeded(m.run_id, m.task(0, 0)))
    apply(original, RunCancelled(run_id=m.run_id))
    assert msgspec.json.encode(original) == before


def test_a_cancelled_run_starts_nothing_more() -> None:
    m = Machine(1, 1)
    t, _ = m.send(RunCancelled(run_id=m.run_id, reason="stop"))
    assert t.changed and m.progress.status == "cancelled"
    t, out = m.send(succeeded(m.run_id, m.task(0, 0)))
    assert not t.changed and out == []


# --- attempts and replay --------------------------------------------------------------------------
def _halted_machine() -> Machine:
    m = Machine(2, 1)
    m.finish_batch(0, fail={1})
    assert m.progress.status == "halted"
    return m


def test_replaying_the_failed_task_reopens_the_run_and_resumes_it() -> None:
    m = _halted_machine()
    tid = m.task(0, 1)
    t, out = m.send(queued(m.run_id, tid, attempt=2, batch_index=0))
    assert t.changed and out == []
    assert m.progress.status == "running" and m.progress.epoch == 1
    assert m.progress.batches[0].status == "running" and m.progress.batches[0].round == 1
    assert m.progress.batches[0].tasks[1].attempt == 2
    assert m.progress.batches[0].tasks[1].status == "queued"

    _, out = m.send(succeeded(m.run_id, tid, attempt=2))
    assert _types(out) == ["batch.completed", "batch.started", "task.queued", "dispatch"]
    completed = out[0]
    assert isinstance(completed, BatchCompleted) and completed.succeeded
    # the second completion of batch 0 has a new id, so JetStream does not drop it
    first_completion = next(x for x in m.published if isinstance(x, BatchCompleted))
    assert completed.event_id != first_completion.event_id

    out = m.finish_batch(1)
    assert _types(out) == ["batch.completed", "run.succeeded"]


def test_a_replay_that_fails_again_halts_again_with_a_new_event_id() -> None:
    m = _halted_machine()
    tid = m.task(0, 1)
    m.send(queued(m.run_id, tid, attempt=2, batch_index=0))
    _, out = m.send(failed(m.run_id, tid, attempt=2))
    assert _types(out) == ["batch.completed", "run.halted"]
    halts = [x for x in m.published if isinstance(x, RunHalted)]
    assert len(halts) == 2 and halts[0].event_id != halts[1].event_id


def test_an_older_attempts_outcome_never_overwrites_a_newer_attempt() -> None:
    m = _halted_machine()
    tid = m.task(0, 1)
    m.send(queued(m.run_id, tid, attempt=2, batch_index=0))
    # attempt 1's failure delivered again (late): ignored, the replay keeps running
    t, out = m.send(failed(m.run_id, tid, attempt=1))
    assert not t.changed and out == []
    t, _ = m.send(queued(m.run_id, tid, attempt=1, batch_index=0))
    assert not t.changed
    assert m.progress.batches[0].tasks[1].status == "queued"
    assert m.progress.batches[0].tasks[1].attempt == 2


def test_an_outcome_of_a_newer_attempt_is_applied_even_without_its_queued_event() -> None:
    m = _halted_machine()
    _, out = m.send(succeeded(m.run_id, m.task(0, 1), attempt=3))
    assert _types(out) == ["batch.completed", "batch.started", "task.queued", "dispatch"]
    assert m.progress.batches[0].tasks[1].attempt == 3


def test_replay_in_an_earlier_batch_of_a_continuing_run_waits_for_the_running_batch() -> None:
    m = Machine(2, 1, 1, continue_on_failure=True)
    m.finish_batch(0, fail={1})  # batch 1 starts
    tid = m.task(0, 1)
    m.send(queued(m.run_id, tid, attempt=2, batch_index=0))
    _, out = m.send(succeeded(m.run_id, tid, attempt=2))
    assert _types(out) == ["batch.completed"]  # batch 1 still running: it decides what is next
    out = m.finish_batch(1)
    assert _types(out) == ["batch.completed", "batch.started", "task.queued", "dispatch"]
    out = m.finish_batch(2)
    assert _types(out) == ["batch.completed", "run.succeeded"]


def test_replaying_a_task_of_a_succeeded_run_reopens_it_with_a_new_epoch() -> None:
    m = Machine(1)
    m.finish_batch(0)
    tid = m.task(0, 0)
    m.send(queued(m.run_id, tid, attempt=2, batch_index=0))
    assert m.progress.status == "running"
    _, out = m.send(succeeded(m.run_id, tid, attempt=2))
    assert _types(out) == ["batch.completed", "run.succeeded"]
    wins = [x for x in m.published if isinstance(x, RunSucceeded)]
    assert len({w.event_id for w in wins}) == 2


def test_finish_actions_name_the_epoch() -> None:
    m = _halted_machine()
    m.send(queued(m.run_id, m.task(0, 1), attempt=2, batch_index=0))
    t, _ = m.send(failed(m.run_id, m.task(0, 1), attempt=2))
    finish = t.actions[-1]
    assert isinstance(finish, FinishRun) and finish.epoch == 1 and finish.outcome == "halted"


def test_rendering_a_batch_start_needs_the_tasks() -> None:
    m = Machine(1, 1)
    with pytest.raises(ValueError, match="tasks"):
        render(m.progress, [StartBatch(batch_index=1, task_ids=[m.task(1, 0)])], None)


def test_progress_round_trips_through_json() -> None:
    m = _halted_machine()
    raw = msgspec.json.encode(m.progress)
    assert msgspec.json.decode(raw, type=RunProgress) == m.progress


def test_events_the_service_skips_without_reading_progress_never_change_it() -> None:
    """`could_change` lets the service skip the KV read; it must never skip a real change."""
    m = Machine(2, 1)
    first, second = m.task(0, 0), m.task(0, 1)
    m.send(started(m.run_id, first))
    run, batch = m.run_id, 0
    skipped: list[StatusEvent] = [
        queued(run, second, 1, batch),  # the planner's own first dispatch coming back
        failed(run, first, will_retry=True),
        TaskProgress(run_id=run, task_id=first, step="committed"),
        BatchStarted(run_id=run, batch_index=0),
        RunStarted(run_id=run),
    ]
    for event in skipped:
        assert not could_change(event), event
        assert not apply(m.progress, event).changed, event
    for event in (
        started(run, second),
        succeeded(run, first),
        failed(run, second),
        queued(run, second, 2, batch),
        RunCancelled(run_id=run),
    ):
        assert could_change(event), event
        assert apply(m.progress, event).changed, event


def test_a_run_without_a_timeout_leaves_it_to_the_executor_and_the_skill() -> None:
    """0 = not requested: the executor applies the skill's `default_ms`, else its default."""
    planned = plan_run(make_request(make_plan(1)), default_timeout_s=0)
    assert planned.tasks.batches[0][0].timeout_s == 0


# --- budget -------------------------------------------------------------------------------------
def _dispatched(out: list[Outgoing]) -> list[str]:
    return [m.task_id for m in out if isinstance(m, TaskDispatched)]


def test_a_local_run_with_a_budget_dispatches_one_task_at_a_time_and_halts_when_spent() -> None:
    m = Machine(3, 1, max_cost_usd=1.0)
    assert _dispatched(m.planned.messages) == [m.task(0, 0)]  # serial: the first only
    _, out = m.send(succeeded(m.run_id, m.task(0, 0), cost=0.6))
    assert _dispatched(out) == [m.task(0, 1)]
    _, out = m.send(succeeded(m.run_id, m.task(0, 1), cost=0.6))  # 1.2 spent of 1.0
    assert _dispatched(out) == []  # no new task starts
    halted = [e for e in out if isinstance(e, RunHalted)]
    assert len(halted) == 1 and halted[0].error_code is FailureCode.BUDGET_EXCEEDED
    assert "$1.20 of its $1.00" in halted[0].reason
    assert m.progress.status == "halted" and m.progress.spent == pytest.approx(1.2)

    # the same outcome again changes nothing (costs are set per attempt, not added)
    t, _ = m.send(succeeded(m.run_id, m.task(0, 1), cost=0.6))
    assert not t.changed

    # a raised budget resumes the run where it stopped
    t, out = m.send(RunBudgetChanged(run_id=m.run_id, max_cost_usd=5.0))
    assert t.changed and m.progress.status == "running"
    assert [type(e).__name__ for e in out][:1] == ["RunResumed"]
    assert _dispatched(out) == [m.task(0, 2)]
    m.send(succeeded(m.run_id, m.task(0, 2), cost=0.1))
    _, out = m.send(succeeded(m.run_id, m.task(1, 0), cost=0.1))
    assert m.progress.status == "succeeded"


def test_a_dagger_run_with_a_budget_finishes_its_running_tasks_then_halts() -> None:
    m = Machine(2, 1, max_cost_usd=1.0, mode="dagger")
    assert len(_dispatched(m.planned.messages)) == 2  # parallel: the whole batch
    _, out = m.send(succeeded(m.run_id, m.task(0, 0), cost=1.5))
    assert not [e for e in out if isinstance(e, RunHalted)]  # 0.1 is still running
    _, out = m.send(succeeded(m.run_id, m.task(0, 1), cost=0.1))
    assert _dispatched(out) == []  # batch 2 never starts
    assert [e for e in out if isinstance(e, RunHalted)]
    t, out = m.send(RunBudgetChanged(run_id=m.run_id, max_cost_usd=1.0))
    assert not t.changed  # the same budget again: nothing
    t, out = m.send(RunBudgetChanged(run_id=m.run_id, max_cost_usd=1.5))
    assert t.changed and m.progress.status == "halted"  # still spent: stays halted
    _, out = m.send(RunBudgetChanged(run_id=m.run_id, max_cost_usd=3.0))
    assert _dispatched(out) == [m.task(1, 0)] and m.progress.status == "running"
