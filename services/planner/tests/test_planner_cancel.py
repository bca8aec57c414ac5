"""Cancel against a real nats-server: the planner stops dispatching, takes the run's waiting
tasks back out of the work queue, and never starts a run cancelled before it was planned."""

from __future__ import annotations

import cc_bus
import pytest
from cc_bus import publish
from commandcenter_contracts import (
    FailureCode,
    PhaseStartRequested,
    RunCancelled,
    subjects,
    task_decoder,
)
from nats.js import JetStreamContext
from planner_support import (
    StatusLog,
    TestExecutor,
    consumer_idle,
    failed,
    make_plan,
    make_request,
    started,
    succeeded,
)

from tests.support.polling import eventually

pytestmark = pytest.mark.integration


async def _start(js: JetStreamContext, request: PhaseStartRequested) -> None:
    await publish(js, subjects.PHASE_START, request, msg_id=request.run_id)


async def _queued_runs(js: JetStreamContext) -> list[str]:
    """The run of every task message still in CC_TASKS."""
    info = await js.stream_info(subjects.STREAM_TASKS)
    runs = []
    for seq in range(max(1, info.state.first_seq), info.state.last_seq + 1):
        try:
            msg = await js.get_msg(subjects.STREAM_TASKS, seq)
        except Exception:
            continue
        runs.append(task_decoder.decode(msg.data or b"").run_id)
    return runs


async def _progress_drained(js: JetStreamContext) -> bool:
    return await consumer_idle(js, subjects.STREAM_STATUS, subjects.CONSUMER_PLANNER_PROGRESS)


@pytest.mark.usefixtures("planner_app")
async def test_a_cancelled_run_dispatches_nothing_more_and_its_queue_is_emptied(
    js: JetStreamContext, executor: TestExecutor, status_log: StatusLog
) -> None:
    cancelled = make_request(make_plan(3, 1))
    other = make_request(make_plan(1))
    run = cancelled.run_id
    await _start(js, cancelled)
    running, raw = await executor.take()  # the executor holds the first task
    await cc_bus.publish_status(js, started(run, running.task_id))
    await status_log.wait_for(run, "task.queued", count=3)
    await _start(js, other)
    await status_log.wait_for(other.run_id, "task.queued")
    assert sorted(await _queued_runs(js)) == sorted([run, run, run, other.run_id])

    await cc_bus.publish_status(js, RunCancelled(run_id=run, reason="stop"))

    async def only_the_other_run_left() -> bool:
        return await _queued_runs(js) == [other.run_id]

    await eventually(only_the_other_run_left, what="the cancelled run's tasks taken back")
    # the running task reports its kill: nothing follows (no batch.completed, no halt)
    await executor.finish(raw, outcome=failed(run, running.task_id, code=FailureCode.CANCELLED))
    await eventually(lambda: _progress_drained(js), what="the outcome handled")
    assert "batch.completed" not in status_log.types(run)
    assert "run.halted" not in status_log.types(run)

    # the executor's next task is the other run's: the cancelled one's are gone
    nxt, raw = await executor.take()
    assert nxt.run_id == other.run_id
    await executor.finish(raw, outcome=succeeded(other.run_id, nxt.task_id))
    await status_log.wait_for(other.run_id, "run.succeeded")
    assert await executor.nothing_more(wait=1.0)


@pytest.mark.usefixtures("planner_app")
async def test_a_run_cancelled_before_it_was_planned_never_starts(
    js: JetStreamContext, executor: TestExecutor, status_log: StatusLog
) -> None:
    request = make_request(make_plan(1))
    await cc_bus.publish_status(js, RunCancelled(run_id=request.run_id))
    await eventually(lambda: _progress_drained(js), what="the cancel handled")
    await _start(js, request)
    await eventually(
        lambda: consumer_idle(js, subjects.STREAM_PHASES, subjects.CONSUMER_PLANNER),
        what="the phase start acked",
    )
    assert await executor.nothing_more(wait=1.0)
    assert status_log.types(request.run_id) == ["run.cancelled"]
