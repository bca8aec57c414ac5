"""The KV progress store on a real nats-server: a snapshot plus a journal of events, created
once, appended with compare-and-set, a cost per event that does not grow with the run, and
what an older planner stored still read."""

from __future__ import annotations

import uuid

import msgspec
import pytest
from commandcenter_contracts import subjects
from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from planner.domain.planning import plan_run
from planner.domain.progress import RunProgress, advance
from planner.run_states import RunStates
from planner.store import TASKS_PER_CHUNK, ProgressStore, StoreConflict
from planner_support import make_plan, make_request, started, succeeded

pytestmark = pytest.mark.integration


async def test_progress_is_created_once_and_journaled_with_compare_and_set(
    js: JetStreamContext,
) -> None:
    store = await ProgressStore.open(js, subjects.KV_PLANNER_RUNS)
    planned = plan_run(make_request(make_plan(2, 1)), default_timeout_s=60)
    run_id = planned.progress.run_id
    assert await store.get(run_id) is None
    assert await store.get_tasks(run_id) is None

    await store.put_tasks(planned.tasks)
    assert await store.create(planned.progress) is True
    assert await store.create(planned.progress) is False  # a redelivered phase start

    stored = await store.get(run_id)
    assert stored is not None and stored.progress == planned.progress
    assert stored.journaled == 0
    assert await store.get_tasks(run_id) == planned.tasks

    # two readers of the same state; the first to append wins, the second must reload
    first = await store.get(run_id)
    second = await store.get(run_id)
    assert first is not None and second is not None
    event = started(run_id, planned.tasks.batches[0][0].task_id)
    advance(first.progress, event)
    await store.append(first, event)
    assert not await store.is_current(second)
    assert await store.is_current(first)
    other = started(run_id, planned.tasks.batches[0][1].task_id)
    advance(second.progress, other)
    with pytest.raises(StoreConflict):
        await store.append(second, other)

    again = await store.get(run_id)
    assert again is not None and again.journaled == 1
    assert again.progress == first.progress
    assert again.progress.batches[0].tasks[0].status == "running"
    assert again.progress.batches[0].tasks[1].status == "queued"

    # re-opening the bucket (a restarted planner) sees the same state
    reopened = await ProgressStore.open(js, subjects.KV_PLANNER_RUNS)
    from_reopened = await reopened.get(run_id)
    assert from_reopened is not None and from_reopened.progress == again.progress


async def _writes(js: JetStreamContext) -> int:
    info = await js.stream_info(f"KV_{subjects.KV_PLANNER_RUNS}")
    return info.state.last_seq


@pytest.mark.parametrize("tasks", [50, 2000])
async def test_storing_an_event_writes_the_event_not_the_run(
    js: JetStreamContext, tasks: int
) -> None:
    """One message per event whatever the run's size, and a snapshot of the whole run only
    once per `snapshot_interval` (≥ its task count) events; loads give the same progress."""
    store = await ProgressStore.open(js, subjects.KV_PLANNER_RUNS)
    planned = plan_run(make_request(make_plan(*[10] * (tasks // 10))), default_timeout_s=60)
    run_id = planned.progress.run_id
    await store.put_tasks(planned.tasks)
    await store.create(planned.progress)
    stored = await store.get(run_id)
    assert stored is not None
    assert stored.snapshot_interval == max(64, tasks)

    before = await _writes(js)
    events = [started(run_id, t.task_id) for t in planned.tasks.batches[0]]
    events += [succeeded(run_id, t.task_id) for t in planned.tasks.batches[0]]
    for event in events:
        assert advance(stored.progress, event).changed
        await store.append(stored, event)
    assert await _writes(js) - before == len(events)  # 20 events: no snapshot due yet

    loaded = await store.get(run_id)
    assert loaded is not None and loaded.journaled == len(events)
    assert loaded.progress == stored.progress


async def test_a_snapshot_is_written_once_per_interval_and_read_back(js: JetStreamContext) -> None:
    store = await ProgressStore.open(js, subjects.KV_PLANNER_RUNS)
    planned = plan_run(make_request(make_plan(*[10] * 5)), default_timeout_s=60)
    run_id = planned.progress.run_id
    await store.put_tasks(planned.tasks)
    await store.create(planned.progress)
    stored = await store.get(run_id)
    assert stored is not None and stored.snapshot_interval == 64
    kv = await js.key_value(subjects.KV_PLANNER_RUNS)

    task_ids = [t.task_id for t in planned.tasks.batches[0]]
    events = [started(run_id, t) for t in task_ids] + [succeeded(run_id, t) for t in task_ids]
    snapshot_revision = (await kv.get(run_id)).revision
    for event in events:
        advance(stored.progress, event)
        await store.append(stored, event)
    assert (await kv.get(run_id)).revision == snapshot_revision  # 20 < 64: not rewritten

    stored.snapshot_interval = 16  # now overdue: entry 21 writes one, the next is due at 37
    for event in [started(run_id, t.task_id) for t in planned.tasks.batches[1]]:
        advance(stored.progress, event)
        await store.append(stored, event)
    snapshot = (await kv.get(run_id)).value
    assert snapshot is not None and msgspec.json.decode(snapshot)["applied"] == 21
    loaded = await store.get(run_id)  # the snapshot at 21, then entries 22..30
    assert loaded is not None and loaded.snapshot_at == 21 and loaded.journaled == 30
    assert loaded.progress == stored.progress


async def test_what_an_older_planner_stored_is_read(js: JetStreamContext) -> None:
    """A bare `RunProgress` under the run id and every dispatch under `<run>.tasks`."""
    store = await ProgressStore.open(js, subjects.KV_PLANNER_RUNS)
    kv: KeyValue = await js.key_value(subjects.KV_PLANNER_RUNS)
    planned = plan_run(make_request(make_plan(3, 2)), default_timeout_s=60)
    run_id = planned.progress.run_id
    await kv.put(f"{run_id}.tasks", msgspec.json.encode(planned.tasks))
    await kv.put(run_id, msgspec.json.encode(planned.progress))

    stored = await store.get(run_id)
    assert stored is not None and stored.journaled == 0
    assert stored.progress == planned.progress
    assert isinstance(stored.progress, RunProgress)
    assert await store.get_tasks(run_id) == planned.tasks
    assert await store.get_dispatches(run_id, 1, [1]) == [planned.tasks.batches[1][1]]


async def test_tasks_are_stored_in_chunks_and_read_by_position(js: JetStreamContext) -> None:
    store = await ProgressStore.open(js, subjects.KV_PLANNER_RUNS)
    size = TASKS_PER_CHUNK * 2 + 3
    planned = plan_run(make_request(make_plan(2, size)), default_timeout_s=60)
    run_id = planned.progress.run_id
    await store.put_tasks(planned.tasks)
    batch = planned.tasks.batches[1]
    wanted = [0, TASKS_PER_CHUNK - 1, TASKS_PER_CHUNK, size - 1]
    assert await store.get_dispatches(run_id, 1, wanted) == [batch[p] for p in wanted]
    assert await store.get_tasks(run_id) == planned.tasks


@pytest.mark.parametrize("run_id", ["has.dot", "has space", "", "a>b", "*"])
async def test_run_ids_that_cannot_be_keys_are_unknown_runs(
    js: JetStreamContext, run_id: str
) -> None:
    store = await ProgressStore.open(js, subjects.KV_PLANNER_RUNS)
    assert not ProgressStore.accepts(run_id)
    assert await store.get(run_id) is None
    assert await store.get_tasks(run_id) is None
    assert not await store.exists(run_id)
    assert ProgressStore.accepts(str(uuid.uuid4()))


async def test_runs_are_kept_in_memory_up_to_a_number_of_tasks(js: JetStreamContext) -> None:
    """The planner keeps the runs it works on (the same object while nobody else wrote), the
    least recently used going first once they hold more tasks than allowed."""
    store = await ProgressStore.open(js, subjects.KV_PLANNER_RUNS)
    runs = []
    for _ in range(2):
        planned = plan_run(make_request(make_plan(5, 5)), default_timeout_s=60)
        await store.put_tasks(planned.tasks)
        await store.create(planned.progress)
        runs.append(planned.progress.run_id)
    states = RunStates(store, max_tasks=15)
    first = await states.current(runs[0])
    assert first is not None and await states.current(runs[0]) is first  # kept
    second = await states.current(runs[1])  # 20 tasks kept: the first run goes
    assert second is not None and await states.current(runs[1]) is second
    again = await states.current(runs[0])
    assert again is not None and again is not first and again.progress == first.progress

    # someone else appended to the kept run: it is read again, with that entry
    other = await store.get(runs[0])
    assert other is not None
    event = started(runs[0], other.progress.batches[0].tasks[0].task_id)
    advance(other.progress, event)
    await store.append(other, event)
    fresh = await states.current(runs[0])
    assert fresh is not None and fresh is not again and fresh.journaled == 1
