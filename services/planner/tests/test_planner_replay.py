"""Replay against a real nats-server: a request on `cc.control.replay` becomes attempt n+1 of
the task (queued, then dispatched), and a halted run resumes with its next batch."""

from __future__ import annotations

import uuid

import cc_bus
import pytest
from cc_bus import publish
from commandcenter_contracts import (
    AgentSpec,
    BatchCompleted,
    PhaseStartRequested,
    RunSucceeded,
    TaskQueued,
    TaskReplayRequested,
    subjects,
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


async def _replay(js: JetStreamContext, request: TaskReplayRequested, msg_id: str = "") -> None:
    await publish(js, subjects.CONTROL_REPLAY, request, msg_id=msg_id or request.request_id)


def _request(
    run_id: str, task_id: str, expected: int = 1, **overrides: object
) -> TaskReplayRequested:
    return TaskReplayRequested(
        request_id=str(uuid.uuid4()),
        run_id=run_id,
        task_id=task_id,
        expected_attempt=expected,
        requested_by="test",
        **overrides,  # type: ignore[arg-type]
    )


async def _replays_drained(js: JetStreamContext) -> bool:
    return await consumer_idle(js, subjects.STREAM_PHASES, subjects.CONSUMER_PLANNER_REPLAY)


async def _halt_on_second_task(
    js: JetStreamContext, executor: TestExecutor, status_log: StatusLog, run: str
) -> str:
    """Batch 0 of two tasks: the first succeeds, the second fails; returns the failed one."""
    first, raw = await executor.take()
    await executor.finish(raw, outcome=succeeded(run, first.task_id))
    second, raw = await executor.take()
    await cc_bus.publish_status(js, started(run, second.task_id))
    await executor.finish(raw, outcome=failed(run, second.task_id))
    await status_log.wait_for(run, "run.halted")
    return second.task_id


@pytest.mark.usefixtures("planner_app")
async def test_a_replayed_task_resumes_the_halted_run(
    js: JetStreamContext, executor: TestExecutor, status_log: StatusLog
) -> None:
    request = make_request(make_plan(2, 1))
    run = request.run_id
    await _start(js, request)
    task_id = await _halt_on_second_task(js, executor, status_log, run)
    attempt_1 = executor.received[-1]

    await _replay(
        js,
        _request(
            run,
            task_id,
            agent=AgentSpec(name="command", argv=["fixer", "--hard"]),
            timeout_s=42.0,
            verification=["test -s fixed.txt"],
        ),
    )
    retry, raw = await executor.take()
    assert (retry.task_id, retry.attempt) == (task_id, 2)
    assert retry.agent == AgentSpec(name="command", argv=["fixer", "--hard"])
    assert (retry.timeout_s, retry.verification) == (42.0, ["test -s fixed.txt"])
    # everything else as the task was: same branch (reset by the executor), same body
    assert (retry.branch, retry.body, retry.batch_index) == (
        attempt_1.branch,
        attempt_1.body,
        attempt_1.batch_index,
    )
    queued = [e for e in status_log.of(run, "task.queued") if e.attempt == 2]  # type: ignore[union-attr]
    assert len(queued) == 1 and isinstance(queued[0], TaskQueued)
    assert queued[0].task_id == task_id and queued[0].branch == attempt_1.branch

    await cc_bus.publish_status(js, started(run, task_id, attempt=2))
    await executor.finish(raw, outcome=succeeded(run, task_id, attempt=2))
    # the batch completes again (successfully), then batch 1 runs
    completed = await status_log.wait_for(run, "batch.completed", count=2)
    assert isinstance(completed[1], BatchCompleted) and completed[1].succeeded
    last, raw = await executor.take()
    assert last.batch_index == 1
    await executor.finish(raw, outcome=succeeded(run, last.task_id))
    (done,) = await status_log.wait_for(run, "run.succeeded")
    assert isinstance(done, RunSucceeded)
    types = status_log.types(run)
    assert types.index("run.halted") < types.index("run.succeeded")
    assert await executor.nothing_more(wait=1.0)


@pytest.mark.usefixtures("planner_app")
async def test_a_doubled_replay_request_dispatches_one_attempt(
    js: JetStreamContext, executor: TestExecutor, status_log: StatusLog
) -> None:
    request = make_request(make_plan(2))
    run = request.run_id
    await _start(js, request)
    task_id = await _halt_on_second_task(js, executor, status_log, run)

    replay = _request(run, task_id)
    await _replay(js, replay)
    # the same request redelivered (past JetStream's dedup: another message id) ...
    await _replay(js, replay, msg_id=replay.request_id + "-again")
    # ... and a second person's request for the same failed attempt
    await _replay(js, _request(run, task_id))
    retry, raw = await executor.take()
    assert retry.attempt == 2
    await eventually(lambda: _replays_drained(js), what="all three requests handled")
    assert await executor.nothing_more(wait=1.0)
    assert len([e for e in status_log.of(run, "task.queued") if e.attempt == 2]) == 1  # type: ignore[union-attr]

    # The next replay builds on the last dispatch (its overrides stay) as attempt 3.
    await executor.finish(raw, outcome=failed(run, task_id, attempt=2))
    await status_log.wait_for(run, "run.halted", count=2)
    await _replay(js, _request(run, task_id, expected=2, verification=["true"]))
    third, raw = await executor.take()
    assert (third.attempt, third.verification) == (3, ["true"])
    await _replay(js, _request(run, task_id, expected=3))  # attempt 3 is not finished
    await executor.finish(raw, outcome=failed(run, task_id, attempt=3))
    fourth, raw = await executor.take()
    assert (fourth.attempt, fourth.verification) == (4, ["true"])


@pytest.mark.usefixtures("planner_app")
async def test_a_replay_ahead_of_the_planner_waits_for_the_failure(
    js: JetStreamContext, executor: TestExecutor, status_log: StatusLog
) -> None:
    request = make_request(make_plan(1))
    run = request.run_id
    await _start(js, request)
    task, raw = await executor.take()
    await cc_bus.publish_status(js, started(run, task.task_id))
    await status_log.wait_for(run, "task.started")

    # The requester saw attempt 1 fail before this planner did: the request waits.
    await _replay(js, _request(run, task.task_id, expected=1))
    assert await executor.nothing_more(wait=1.5)
    await executor.finish(raw, outcome=failed(run, task.task_id))
    retry, _ = await executor.take()
    assert retry.attempt == 2


@pytest.mark.usefixtures("planner_app")
async def test_replays_that_cannot_be_carried_out_are_dropped(
    js: JetStreamContext, executor: TestExecutor, status_log: StatusLog
) -> None:
    request = make_request(make_plan(1, 1))
    run = request.run_id
    await _start(js, request)
    task, raw = await executor.take()
    await executor.finish(raw, outcome=succeeded(run, task.task_id))
    later, _ = await executor.take()  # batch 1 is running now

    await _replay(js, _request(run, task.task_id))  # succeeded: nothing to replay
    await _replay(js, _request(str(uuid.uuid4()), task.task_id))  # unknown run
    await _replay(js, _request(run, str(uuid.uuid4())))  # unknown task
    await _replay(js, _request(run, later.task_id, expected=0))  # running, not finished
    await eventually(lambda: _replays_drained(js), what="the requests handled")
    assert await executor.nothing_more(wait=1.0)
    assert not [e for e in status_log.of(run, "task.queued") if e.attempt > 1]  # type: ignore[union-attr]
