"""The KV progress store on a real nats-server: create once, compare-and-set, unknown runs."""

from __future__ import annotations

import uuid

import pytest
from commandcenter_contracts import subjects
from nats.js import JetStreamContext
from planner.domain.planning import plan_run
from planner.store import ProgressStore, StoreConflict
from planner_support import make_plan, make_request

pytestmark = pytest.mark.integration


async def test_progress_is_created_once_and_updated_with_compare_and_set(
    js: JetStreamContext,
) -> None:
    store = await ProgressStore.open(js, subjects.KV_PLANNER_RUNS)
    planned = plan_run(make_request(make_plan(1, 1)), default_timeout_s=60)
    run_id = planned.progress.run_id
    assert await store.get(run_id) is None
    assert await store.get_tasks(run_id) is None

    await store.put_tasks(planned.tasks)
    assert await store.create(planned.progress) is True
    assert await store.create(planned.progress) is False  # a redelivered phase start

    stored = await store.get(run_id)
    assert stored is not None and stored.progress == planned.progress
    assert await store.get_tasks(run_id) == planned.tasks

    changed = stored.progress
    changed.status = "halted"
    new_revision = await store.put(changed, stored.revision)
    assert new_revision > stored.revision
    with pytest.raises(StoreConflict):
        await store.put(changed, stored.revision)  # stale revision: someone wrote meanwhile
    again = await store.get(run_id)
    assert again is not None and again.progress.status == "halted"

    # re-opening the bucket (a restarted planner) sees the same state
    reopened = await ProgressStore.open(js, subjects.KV_PLANNER_RUNS)
    assert (await reopened.get(run_id)) == again


@pytest.mark.parametrize("run_id", ["has.dot", "has space", "", "a>b", "*"])
async def test_run_ids_that_cannot_be_keys_are_unknown_runs(
    js: JetStreamContext, run_id: str
) -> None:
    store = await ProgressStore.open(js, subjects.KV_PLANNER_RUNS)
    assert not ProgressStore.accepts(run_id)
    assert await store.get(run_id) is None
    assert await store.get_tasks(run_id) is None
    assert ProgressStore.accepts(str(uuid.uuid4()))
