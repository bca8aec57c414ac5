"""Forgetting runs long ended, on a real nats-server: runs are marked as they end, a sweep
purges every key of a run ended before the retention period and nothing of any other run, a
re-opened run keeps its state, and the planner then knows no such run."""

from __future__ import annotations

import uuid

import pytest
from cc_bus.kv_keys import bucket_keys
from commandcenter_contracts import FailureCode, RunCancelled, TaskReplayRequested, subjects
from nats.js import JetStreamContext
from planner.app import PlannerService
from planner.domain.planning import plan_run
from planner.domain.progress import advance
from planner.domain.replay import Refuse
from planner.retention import GRACE_S, Retention
from planner.run_states import RunStates
from planner.settings import Settings
from planner.store import ENDED_PREFIX, ProgressStore
from planner_support import (
    StatusLog,
    TestExecutor,
    failed,
    make_plan,
    make_request,
    start_run,
    started,
    succeeded,
)

from tests.support.polling import eventually

pytestmark = pytest.mark.integration

DAY = 86_400.0


async def _keys(js: JetStreamContext) -> set[str]:
    return set(await bucket_keys(js, subjects.KV_PLANNER_RUNS))


def _of(run_id: str, keys: set[str]) -> set[str]:
    return {k for k in keys if k == run_id or k.startswith(f"{run_id}.") or k.endswith(run_id)}


async def _stored_run(store: ProgressStore, run_id: str, *, end: bool) -> None:
    """A planned run of two tasks with journal entries and a cancel key; ended (both tasks
    succeeded) or not (one still running)."""
    planned = plan_run(make_request(make_plan(2), run_id=run_id), default_timeout_s=60)
    await store.put_tasks(planned.tasks)
    await store.create(planned.progress)
    stored = await store.get(run_id)
    assert stored is not None
    first, second = (t.task_id for t in planned.tasks.batches[0])
    events = [started(run_id, first), succeeded(run_id, first), started(run_id, second)]
    if end:
        events.append(succeeded(run_id, second))
    for event in events:
        advance(stored.progress, event)
        await store.append(stored, event)
    await store.mark_cancelled(run_id)  # any other key of the run goes with it


async def test_a_sweep_forgets_runs_ended_before_the_period_and_nothing_else(
    js: JetStreamContext,
) -> None:
    store = await ProgressStore.open(js, subjects.KV_PLANNER_RUNS)
    states = RunStates(store)
    now = 1_000 * DAY
    old, recent, reopened, half_gone, still = "run1", "run10", "run2", "run3", "run4"
    for run_id in (old, recent, reopened):
        await _stored_run(store, run_id, end=run_id != reopened)
    await _stored_run(store, still, end=False)
    await store.mark_ended(old, now - 40 * DAY)
    await store.mark_ended(recent, now - 2 * DAY)
    await store.mark_ended(reopened, now - 40 * DAY)  # ended then, goes on now
    await store.mark_ended(half_gone, now - 40 * DAY)  # a sweep cut short left the mark
    kv = await js.key_value(subjects.KV_PLANNER_RUNS)
    await kv.put(f"{ENDED_PREFIX}.not/ours", b'{"at": 0}')  # no run id: never swept
    await kv.put(f"{ENDED_PREFIX}.garbled", b"not json")
    before = await _keys(js)
    assert f"{ENDED_PREFIX}.{old}" in before and f"{old}.j.4" in before
    assert sorted(await store.ended_runs()) == sorted(
        [
            (old, now - 40 * DAY),
            (recent, now - 2 * DAY),
            (reopened, now - 40 * DAY),
            (half_gone, now - 40 * DAY),
        ]
    )
    assert await states.current(old) is not None  # kept in memory too

    retention = Retention(store, states, keep_s=30 * DAY, clock=lambda: now)
    assert sorted(await retention.sweep()) == [old, half_gone]

    after = await _keys(js)
    assert _of(old, after) == set()
    assert await store.get(old) is None and await states.current(old) is None
    # `run1`'s keys went, `run10`'s (the same prefix) stayed, and every other run's
    assert _of(recent, after) == _of(recent, before)
    assert _of(still, after) == _of(still, before)
    assert _of(reopened, after) == _of(reopened, before) - {f"{ENDED_PREFIX}.{reopened}"}
    assert f"{ENDED_PREFIX}.{half_gone}" not in after
    assert {f"{ENDED_PREFIX}.not/ours", f"{ENDED_PREFIX}.garbled"} <= after  # not the planner's
    assert {run_id for run_id, _ in await store.ended_runs()} == {recent}
    # the purge leaves no delete markers: the bucket holds only what is kept
    info = await js.stream_info(f"KV_{subjects.KV_PLANNER_RUNS}")
    assert info.state.messages == len(after)

    # nothing more to forget until the recent run's time comes
    assert await retention.sweep() == []
    later = Retention(store, states, keep_s=30 * DAY, clock=lambda: now + 29 * DAY)
    assert await later.sweep() == [recent]


async def test_the_first_sweep_marks_the_runs_an_older_planner_left_unmarked(
    js: JetStreamContext,
) -> None:
    """Runs that ended before retention existed are marked when first found, so they are kept
    a whole period from then, and then forgotten like any other; this happens once."""
    store = await ProgressStore.open(js, subjects.KV_PLANNER_RUNS)
    states = RunStates(store)
    await _stored_run(store, "ended1", end=True)  # as an older planner left them: no marks
    await _stored_run(store, "going1", end=False)
    assert await store.ended_runs() == [] and not await store.backfilled()

    now = 1_000 * DAY
    first = Retention(store, states, keep_s=30 * DAY, clock=lambda: now)
    assert await first.sweep() == []
    assert await store.ended_runs() == [("ended1", now)]
    assert await store.backfilled()

    await _stored_run(store, "ended2", end=True)  # unmarked, but after the one backfill
    later = Retention(store, states, keep_s=30 * DAY, clock=lambda: now + 31 * DAY)
    assert await later.sweep() == ["ended1"]
    assert {run_id for run_id, _ in await store.ended_runs()} == set()
    assert sorted(await store.run_ids()) == ["ended2", "going1"]


@pytest.mark.parametrize("days", ["0", "30"])
def test_the_retention_comes_from_the_environment_with_a_day_of_grace(days: str) -> None:
    settings = Settings.from_env({"CC_RUN_RETENTION_DAYS": days, "CC_PLANNER_SWEEP_S": "60"})
    assert settings.sweep_interval_s == 60
    assert settings.keep_runs_s == (None if days == "0" else 30 * DAY + GRACE_S)
    assert Settings.from_env({}).keep_runs_s == 30 * DAY + GRACE_S


async def test_the_planner_marks_runs_as_they_end_and_knows_no_run_it_forgot(
    js: JetStreamContext,
    planner_app: PlannerService,
    executor: TestExecutor,
    status_log: StatusLog,
) -> None:
    """The marks come from the planner itself: a halted run and a run cancelled before it
    was planned are marked when they end, a run still going is not."""
    store = await ProgressStore.open(js, subjects.KV_PLANNER_RUNS)
    halted = await start_run(js, make_request(make_plan(2)))
    first, raw = await executor.take()  # local mode: one task at a time
    await executor.succeed(first, raw)
    second, raw = await executor.take()
    assert halted not in dict(await store.ended_runs())  # one task still running
    await executor.fail(second, raw, code=FailureCode.VERIFICATION_FAILED)
    await status_log.wait_for(halted, "run.halted")

    assert planner_app.planner is not None
    never_planned = str(uuid.uuid4())
    await planner_app.planner.on_status(RunCancelled(run_id=never_planned))
    assert await store.is_cancelled(never_planned)

    async def marked() -> bool:
        return {halted, never_planned} <= {run_id for run_id, _ in await store.ended_runs()}

    await eventually(marked, within_s=30, what="both runs marked as ended")
    forget_all = Retention(store, planner_app.planner.states, keep_s=-DAY)
    forgotten = await forget_all.sweep()
    assert {halted, never_planned} <= set(forgotten)
    keys = await _keys(js)
    assert _of(halted, keys) == set() and _of(never_planned, keys) == set()

    replay = TaskReplayRequested(
        request_id=str(uuid.uuid4()),
        run_id=halted,
        task_id=second.task_id,
        expected_attempt=1,
        requested_by="test",
    )
    decision = await planner_app.planner.replay_task(replay)
    assert isinstance(decision, Refuse) and "knows no run" in decision.reason
    # a late event of the forgotten run changes nothing and stores nothing
    await planner_app.planner.on_status(failed(halted, second.task_id))
    assert _of(halted, await _keys(js)) == set()
