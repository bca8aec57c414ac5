"""Replay against a real nats-server: a request on `cc.control.replay` becomes attempt n+1 of
the task (queued, then dispatched), and a halted run resumes with its next batch."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import pytest
from cc_bus import planner_replay_consumer, publish
from commandcenter_contracts import (
    AgentSpec,
    BatchCompleted,
    RunSucceeded,
    TaskQueued,
    TaskReplayRefused,
    TaskReplayRequested,
    subjects,
)
from nats.js import JetStreamContext
from planner.app import create_app
from planner.settings import Settings
from planner_support import StatusLog, TestExecutor, make_plan, make_request, start_run, until_idle

pytestmark = pytest.mark.integration


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


async def _halted_run(
    js: JetStreamContext, executor: TestExecutor, status_log: StatusLog, *batch_sizes: int
) -> tuple[str, str]:
    """A run whose batch 0 has two tasks: the first succeeds, the second fails and the run
    halts; the run's id and the failed task's."""
    run = await start_run(js, make_request(make_plan(*batch_sizes)))
    first, raw = await executor.take()
    await executor.succeed(first, raw)
    second, raw = await executor.take()
    await executor.report_started(second)
    await executor.fail(second, raw)
    await status_log.wait_for(run, "run.halted")
    return run, second.task_id


@pytest.mark.usefixtures("planner_app")
async def test_a_replayed_task_resumes_the_halted_run(
    js: JetStreamContext, executor: TestExecutor, status_log: StatusLog
) -> None:
    run, task_id = await _halted_run(js, executor, status_log, 2, 1)
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

    await executor.report_started(retry)
    await executor.succeed(retry, raw)
    # the batch completes again (successfully), then batch 1 runs
    completed = await status_log.wait_for(run, "batch.completed", count=2)
    assert isinstance(completed[1], BatchCompleted) and completed[1].succeeded
    last, raw = await executor.take()
    assert last.batch_index == 1
    await executor.succeed(last, raw)
    (done,) = await status_log.wait_for(run, "run.succeeded")
    assert isinstance(done, RunSucceeded)
    types = status_log.types(run)
    assert types.index("run.halted") < types.index("run.succeeded")
    assert await executor.nothing_more(wait=1.0)


@pytest.mark.usefixtures("planner_app")
async def test_a_doubled_replay_request_dispatches_one_attempt(
    js: JetStreamContext, executor: TestExecutor, status_log: StatusLog
) -> None:
    run, task_id = await _halted_run(js, executor, status_log, 2)

    replay = _request(run, task_id)
    await _replay(js, replay)
    # the same request redelivered (past JetStream's dedup: another message id) ...
    await _replay(js, replay, msg_id=replay.request_id + "-again")
    # ... and a second person's request for the same failed attempt
    await _replay(js, _request(run, task_id))
    retry, raw = await executor.take()
    assert retry.attempt == 2
    await until_idle(js, planner_replay_consumer(), what="all three requests handled")
    assert await executor.nothing_more(wait=1.0)
    assert len([e for e in status_log.of(run, "task.queued") if e.attempt == 2]) == 1  # type: ignore[union-attr]
    # The redelivered request was carried out (again): only the second person's is refused.
    [refused] = await status_log.wait_for(run, "task.replay_refused")
    assert refused.request_id != replay.request_id  # type: ignore[union-attr]
    assert "has a newer attempt (2)" in refused.reason  # type: ignore[union-attr]

    # The next replay builds on the last dispatch (its overrides stay) as attempt 3.
    await executor.fail(retry, raw)
    await status_log.wait_for(run, "run.halted", count=2)
    await _replay(js, _request(run, task_id, expected=2, verification=["true"]))
    third, raw = await executor.take()
    assert (third.attempt, third.verification) == (3, ["true"])
    await _replay(js, _request(run, task_id, expected=3))  # attempt 3 is not finished
    await executor.fail(third, raw)
    fourth, raw = await executor.take()
    assert (fourth.attempt, fourth.verification) == (4, ["true"])


@pytest.mark.usefixtures("planner_app")
async def test_a_replay_ahead_of_the_planner_waits_for_the_failure(
    js: JetStreamContext, executor: TestExecutor, status_log: StatusLog
) -> None:
    run = await start_run(js, make_request(make_plan(1)))
    task, raw = await executor.take()
    await executor.report_started(task)
    await status_log.wait_for(run, "task.started")

    # The requester saw attempt 1 fail before this planner did: the request waits.
    await _replay(js, _request(run, task.task_id, expected=1))
    assert await executor.nothing_more(wait=1.5)
    await executor.fail(task, raw)
    retry, _ = await executor.take()
    assert retry.attempt == 2
    assert not status_log.of(run, "task.replay_refused")  # waiting is not refusing


async def test_a_replay_that_waited_too_long_is_refused_and_said(
    js: JetStreamContext,
    executor: TestExecutor,
    status_log: StatusLog,
    planner_settings: Settings,
) -> None:
    """A request whose attempt never finishes is given up on (a dead letter) after the
    planner's deliveries: the person who asked is told so on the run's status stream too."""
    app = create_app(dataclasses.replace(planner_settings, max_deliveries=2))
    await app.start()
    try:
        run = await start_run(js, make_request(make_plan(1)))
        task, _ = await executor.take()
        await executor.report_started(task)
        await status_log.wait_for(run, "task.started")
        request = _request(run, task.task_id, expected=1)  # attempt 1 never finishes here
        await _replay(js, request)
        [refused] = await status_log.wait_for(run, "task.replay_refused")
    finally:
        await app.stop()
    assert refused.request_id == request.request_id  # type: ignore[union-attr]
    assert "gave up waiting after 2 deliveries" in refused.reason  # type: ignore[union-attr]


@pytest.mark.usefixtures("planner_app")
async def test_replays_that_cannot_be_carried_out_are_dropped(
    js: JetStreamContext, executor: TestExecutor, status_log: StatusLog
) -> None:
    run = await start_run(js, make_request(make_plan(1, 1)))
    task, raw = await executor.take()
    await executor.succeed(task, raw)
    later, _ = await executor.take()  # batch 1 is running now

    succeeded = _request(run, task.task_id)
    unknown_run = _request(str(uuid.uuid4()), task.task_id)
    unknown_task = _request(run, str(uuid.uuid4()))
    running = _request(run, later.task_id, expected=0)
    for request in (succeeded, unknown_run, unknown_task, running):
        await _replay(js, request)
    await until_idle(js, planner_replay_consumer(), what="the requests handled")
    assert await executor.nothing_more(wait=1.0)
    assert not [e for e in status_log.of(run, "task.queued") if e.attempt > 1]  # type: ignore[union-attr]

    # Each person was told 202 by the gateway: the run's status stream says why not.
    await status_log.wait_for(run, "task.replay_refused", count=3)
    await status_log.wait_for(unknown_run.run_id, "task.replay_refused")
    reasons = {
        e.request_id: e.reason  # type: ignore[union-attr]
        for e in status_log.of(run) + status_log.of(unknown_run.run_id)
        if isinstance(e, TaskReplayRefused)
    }
    assert reasons.keys() == {r.request_id for r in (succeeded, unknown_run, unknown_task, running)}
    assert "succeeded: nothing to replay" in reasons[succeeded.request_id]
    assert "knows no run" in reasons[unknown_run.request_id]
    assert "has no task" in reasons[unknown_task.request_id]
    assert "nothing to replay" in reasons[running.request_id]
    refusal = next(
        e
        for e in status_log.of(run, "task.replay_refused")
        if e.request_id == unknown_task.request_id  # type: ignore[union-attr]
    )
    assert (refusal.task_id, refusal.requested_by) == (unknown_task.task_id, "test")  # type: ignore[union-attr]

    # A refused request delivered again is refused again under the same event id: stored once.
    await _replay(js, succeeded, msg_id=succeeded.request_id + "-again")
    await until_idle(js, planner_replay_consumer(), what="the redelivery handled")
    info = await js.stream_info(subjects.STREAM_STATUS)
    await asyncio.sleep(0.5)
    assert (await js.stream_info(subjects.STREAM_STATUS)).state.messages == info.state.messages
    assert len(status_log.of(run, "task.replay_refused")) == 3
