"""The pure rules of replay and of giving up on a task message, without NATS."""

from __future__ import annotations

import copy
import uuid

from commandcenter_contracts import (
    AgentSpec,
    FailureCode,
    TaskQueued,
    TaskReplayRequested,
)
from planner.domain import replay
from planner.domain.giving_up import MaxDeliveries
from planner.domain.planning import PlannedRun, plan_run
from planner.domain.progress import RunProgress, apply
from planner_support import failed, make_plan, make_request, queued, started, succeeded


def _planned() -> PlannedRun:
    return plan_run(make_request(make_plan(2, 1)), default_timeout_s=60)


def _after(progress: RunProgress, *events: object) -> RunProgress:
    for event in events:
        progress = apply(progress, event).progress  # type: ignore[arg-type]
    return progress


def _ask(planned: PlannedRun, task_id: str, expected: int = 1, **kw: object) -> TaskReplayRequested:
    return TaskReplayRequested(
        request_id=str(uuid.uuid4()),
        run_id=planned.progress.run_id,
        task_id=task_id,
        expected_attempt=expected,
        **kw,  # type: ignore[arg-type]
    )


def test_only_a_failed_attempt_the_planner_has_seen_is_replayed() -> None:
    planned = _planned()
    run = planned.progress.run_id
    a, b = (t.task_id for t in planned.tasks.batches[0])
    later = planned.tasks.batches[1][0].task_id
    progress = copy.deepcopy(planned.progress)

    # not finished yet, as far as the planner knows: wait (the requester saw more)
    running = _after(progress, started(run, b))
    assert isinstance(replay.decide(running, _ask(planned, b)), replay.Wait)
    assert isinstance(replay.decide(running, _ask(planned, b, expected=2)), replay.Wait)
    # no expectation: a running task is simply not replayable
    assert isinstance(replay.decide(running, _ask(planned, b, expected=0)), replay.Refuse)

    done = _after(progress, succeeded(run, a), failed(run, b))
    assert replay.decide(done, _ask(planned, b)) == replay.Go(attempt=2)
    # attempt 2 was dispatched by a replay whose `task.queued` the progress has not seen yet:
    # a second request for attempt 1 is late, one that saw attempt 2 fail waits for it
    assert isinstance(replay.decide(done, _ask(planned, b), last_replayed_attempt=2), replay.Refuse)
    ahead = replay.decide(done, _ask(planned, b, expected=2), last_replayed_attempt=2)
    assert isinstance(ahead, replay.Wait)
    no_expectation = replay.decide(done, _ask(planned, b, expected=0), last_replayed_attempt=2)
    assert isinstance(no_expectation, replay.Refuse)
    for refused in (
        replay.decide(done, _ask(planned, a)),  # succeeded
        replay.decide(done, _ask(planned, later)),  # its batch never started
        replay.decide(done, _ask(planned, str(uuid.uuid4()))),  # no such task
        replay.decide(None, _ask(planned, b)),  # no such run
        replay.decide(done, _ask(planned, b), cancelled=True),
    ):
        assert isinstance(refused, replay.Refuse), refused

    # attempt 2 exists already: a request that saw only attempt 1 fail is late
    again = _after(done, queued(run, b, 2, 0))
    assert isinstance(replay.decide(again, _ask(planned, b, expected=1)), replay.Refuse)
    refail = _after(again, failed(run, b, attempt=2, code=FailureCode.CANCELLED))
    assert replay.decide(refail, _ask(planned, b, expected=2)) == replay.Go(attempt=3)


def test_a_replay_dispatch_is_the_last_one_with_the_overrides() -> None:
    planned = _planned()
    base = planned.tasks.batches[0][1]
    request = _ask(
        planned,
        base.task_id,
        agent=AgentSpec(name="command", argv=["x"]),
        timeout_s=5.0,
        verification=[],
    )
    dispatch = replay.replay_dispatch(base, request, 2)
    assert (dispatch.attempt, dispatch.agent.argv, dispatch.timeout_s, dispatch.verification) == (
        2,
        ["x"],
        5.0,
        [],
    )
    assert (dispatch.branch, dispatch.task_id, dispatch.body) == (
        base.branch,
        base.task_id,
        base.body,
    )
    kept = replay.replay_dispatch(dispatch, _ask(planned, base.task_id), 3)
    assert (kept.attempt, kept.agent, kept.verification) == (3, dispatch.agent, [])
    assert dispatch.msg_id == f"{base.task_id}:2"

    first, second = replay.replay_messages(dispatch)
    assert isinstance(first, TaskQueued) and second == dispatch
    assert (first.attempt, first.batch_index, first.branch) == (2, 0, base.branch)
    # deterministic: the same dispatch gives the same event id
    assert replay.replay_messages(dispatch)[0].event_id == first.event_id  # type: ignore[union-attr]


def test_giving_up_fails_the_latest_unfinished_attempt_only() -> None:
    planned = _planned()
    run = planned.progress.run_id
    task = planned.tasks.batches[0][0]
    advisory = MaxDeliveries(
        stream="CC_TASKS", consumer="executor-local", stream_seq=7, deliveries=5
    )
    progress = _after(copy.deepcopy(planned.progress), started(run, task.task_id))

    failure = advisory.failure(task, progress)
    assert failure is not None
    assert (failure.attempt, failure.error_code, failure.will_retry) == (1, "INFRA", False)
    assert "gave up after 5 deliveries" in failure.message
    again = advisory.failure(task, progress)
    assert again is not None and again.event_id == failure.event_id  # handled twice: one event

    # an executor that numbered its retries of this message: the latest attempt fails
    retried = _after(progress, started(run, task.task_id, attempt=3))
    late = advisory.failure(task, retried)
    assert late is not None and late.attempt == 3
    # nothing to end: an outcome exists, the run was cancelled, or a replay superseded it
    assert advisory.failure(task, _after(progress, succeeded(run, task.task_id))) is None
    cancelled = copy.deepcopy(progress)
    cancelled.status = "cancelled"
    assert advisory.failure(task, cancelled) is None
    assert advisory.failure(task, progress, superseded=True) is None

    letter = advisory.letter(subject="cc.task.dispatch.local", task=task, raw=b"ignored")
    assert (letter.task, letter.raw, letter.num_delivered) == (task, b"", 5)
    raw = advisory.letter(subject="cc.task.dispatch.local", task=None, raw=b"{oops")
    assert (raw.error_code, raw.raw, raw.event_id) == ("BAD_MESSAGE", b"{oops", letter.event_id)
