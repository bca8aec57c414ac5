"""Cancel against a real nats-server: the planner stops dispatching, takes the run's waiting
tasks back out of the work queue, and never starts a run cancelled before it was planned."""

from __future__ import annotations

import cc_bus
import pytest
from commandcenter_contracts import (
    FailureCode,
    RunCancelled,
    subjects,
    task_decoder,
)
from nats.js import JetStreamContext
from planner_support import StatusLog, TestExecutor, make_plan, make_request, start_run, until_idle

from tests.support.polling import eventually

pytestmark = pytest.mark.integration


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


@pytest.mark.usefixtures("planner_app")
async def test_a_cancelled_run_dispatches_nothing_more_and_its_queue_is_emptied(
    js: JetStreamContext, executor: TestExecutor, status_log: StatusLog
) -> None:
    run = await start_run(js, make_request(make_plan(3, 1)))
    running, raw = await executor.take()  # the executor holds the first task
    await executor.report_started(running)
    await status_log.wait_for(run, "task.queued", count=3)
    other = await start_run(js, make_request(make_plan(1)))
    await status_log.wait_for(other, "task.queued")
    assert sorted(await _queued_runs(js)) == sorted([run, run, run, other])

    await cc_bus.publish_status(js, RunCancelled(run_id=run, reason="stop"))

    async def only_the_other_run_left() -> bool:
        return await _queued_runs(js) == [other]

    await eventually(only_the_other_run_left, what="the cancelled run's tasks taken back")
    # the running task reports its kill: nothing follows (no batch.completed, no halt)
    await executor.fail(running, raw, code=FailureCode.CANCELLED)
    await until_idle(js, cc_bus.planner_progress_consumer(), what="the outcome handled")
    assert "batch.completed" not in status_log.types(run)
    assert "run.halted" not in status_log.types(run)

    # the executor's next task is the other run's: the cancelled one's are gone
    nxt, raw = await executor.take()
    assert nxt.run_id == other
    await executor.succeed(nxt, raw)
    await status_log.wait_for(other, "run.succeeded")
    assert await executor.nothing_more(wait=1.0)


@pytest.mark.usefixtures("planner_app")
async def test_a_run_cancelled_before_it_was_planned_never_starts(
    js: JetStreamContext, executor: TestExecutor, status_log: StatusLog
) -> None:
    request = make_request(make_plan(1))
    await cc_bus.publish_status(js, RunCancelled(run_id=request.run_id))
    await until_idle(js, cc_bus.planner_progress_consumer(), what="the cancel handled")
    await start_run(js, request)
    await until_idle(js, cc_bus.planner_phase_consumer(), what="the phase start acked")
    assert await executor.nothing_more(wait=1.0)
    assert status_log.types(request.run_id) == ["run.cancelled"]
