"""The planner against a real nats-server: runs, halts, refused selections, poison messages."""

from __future__ import annotations

import cc_bus
import pytest
from commandcenter_contracts import (
    BatchCompleted,
    BatchSelection,
    BatchStarted,
    DeadLetter,
    FailureCode,
    RunFailed,
    RunHalted,
    RunPlanned,
    dead_letter_decoder,
    subjects,
)
from nats.js import JetStreamContext
from planner_support import StatusLog, TestExecutor, make_plan, make_request, start_run, until_idle

from tests.support.polling import eventually

pytestmark = pytest.mark.integration


@pytest.mark.usefixtures("planner_app")
async def test_a_two_batch_run_goes_batch_by_batch_to_success(
    js: JetStreamContext, executor: TestExecutor, status_log: StatusLog
) -> None:
    run = await start_run(js, make_request(make_plan(2, 2)))

    for _ in range(4):
        task, raw = await executor.take()
        await executor.report_started(task)
        await executor.succeed(task, raw)
    await status_log.wait_for(run, "run.succeeded")
    assert await executor.nothing_more(wait=1.0)

    types = status_log.types(run)
    assert types[:3] == ["run.planned", "run.started", "batch.started"]
    assert types[-1] == "run.succeeded"
    planned = status_log.of(run, "run.planned")[0]
    assert isinstance(planned, RunPlanned)
    planned_ids = [t.task_id for b in planned.batches for t in b.tasks]
    assert [t.task_id for t in executor.received] == planned_ids
    assert [t.batch_index for t in executor.received] == [0, 0, 1, 1]

    events = status_log.of(run)
    completed_0 = next(
        i for i, e in enumerate(events) if isinstance(e, BatchCompleted) and e.batch_index == 0
    )
    started_1 = next(
        i for i, e in enumerate(events) if isinstance(e, BatchStarted) and e.batch_index == 1
    )
    last_batch_0_outcome = max(
        i
        for i, e in enumerate(events)
        if e.__struct_config__.tag == "task.succeeded" and e.task_id in planned_ids[:2]  # type: ignore[union-attr]
    )
    assert last_batch_0_outcome < completed_0 < started_1
    assert len(status_log.of(run, "task.queued")) == 4
    await until_idle(js, cc_bus.planner_phase_consumer(), what="the phase start acked")


@pytest.mark.usefixtures("planner_app")
async def test_a_failed_task_halts_the_run_after_its_batch_drains(
    js: JetStreamContext, executor: TestExecutor, status_log: StatusLog
) -> None:
    run = await start_run(js, make_request(make_plan(3, 1)))

    for i in range(3):
        task, raw = await executor.take()
        if i == 0:
            await executor.fail(task, raw, code=FailureCode.VERIFICATION_FAILED)
        else:
            await executor.succeed(task, raw)

    (halted,) = await status_log.wait_for(run, "run.halted")
    assert isinstance(halted, RunHalted)
    assert halted.batch_index == 0
    assert halted.failed_tasks == [executor.received[0].task_id]
    # the other two tasks of the batch finished before the halt
    types = status_log.types(run)
    assert types.index("run.halted") > max(
        i for i, t in enumerate(types) if t in {"task.succeeded", "task.failed"}
    )
    completed = status_log.of(run, "batch.completed")
    assert len(completed) == 1 and isinstance(completed[0], BatchCompleted)
    assert not completed[0].succeeded
    # batch 1 was never started nor dispatched
    assert not [e for e in status_log.of(run, "batch.started") if e.batch_index == 1]  # type: ignore[union-attr]
    assert await executor.nothing_more(wait=2.0)
    assert {t.batch_index for t in executor.received} == {0}
    info = await js.stream_info(subjects.STREAM_TASKS)
    assert info.state.last_seq == 3


@pytest.mark.usefixtures("planner_app")
async def test_an_ambiguous_selection_fails_the_run_naming_the_candidates(
    js: JetStreamContext, executor: TestExecutor, status_log: StatusLog
) -> None:
    plan = make_plan(1, 1, phase="1")
    other = make_plan(1, phase="2")
    plan = plan.__class__(title="p", batches=[*plan.batches, *other.batches])
    selection = BatchSelection(start_batch="1", end_batch="1")
    run = await start_run(js, make_request(plan, selection=selection))

    (run_failed,) = await status_log.wait_for(run, "run.failed")
    assert isinstance(run_failed, RunFailed)
    assert "ambiguous" in run_failed.error
    assert "phase 1 batch 1" in run_failed.error and "phase 2 batch 1" in run_failed.error
    assert status_log.types(run) == ["run.failed"]
    assert await executor.nothing_more(wait=1.0)
    await until_idle(js, cc_bus.planner_phase_consumer(), what="the refused phase start acked")


async def _dead_letters(js: JetStreamContext) -> list[DeadLetter]:
    sub = await js.pull_subscribe(subjects.TASK_DEAD, stream=subjects.STREAM_DEAD)
    letters: list[DeadLetter] = []
    try:
        while True:
            try:
                msgs = await sub.fetch(10, timeout=0.5)
            except TimeoutError:
                return letters
            for msg in msgs:
                letters.append(dead_letter_decoder.decode(msg.data))
                await msg.ack()
    finally:
        await sub.unsubscribe()


@pytest.mark.usefixtures("planner_app")
async def test_undecodable_messages_go_to_the_dead_letters_and_the_planner_goes_on(
    js: JetStreamContext, executor: TestExecutor, status_log: StatusLog
) -> None:
    await js.publish(subjects.PHASE_START, b"\xff\x00 not json {", headers={"Nats-Msg-Id": "p1"})
    await js.publish(subjects.PHASE_START, b'{"run_id": 12}', headers={"Nats-Msg-Id": "p2"})
    await js.publish("cc.status.x", b"<<garbage>>")
    await js.publish("cc.status.x", b'{"type": "task.succeeded", "run_id": "x"}')
    # an event type from a newer version is not poison: it is acknowledged and skipped
    await js.publish("cc.status.x", b'{"type": "run.paused", "run_id": "x", "event_id": "e"}')

    async def letters() -> list[DeadLetter]:
        found = await _dead_letters(js)
        return found if len(found) >= 4 else []

    found = await eventually(letters, what="four dead letters")
    assert len(found) == 4
    by_subject = sorted((d.subject, d.raw) for d in found)
    assert by_subject == sorted(
        [
            (subjects.PHASE_START, b"\xff\x00 not json {"),
            (subjects.PHASE_START, b'{"run_id": 12}'),
            ("cc.status.x", b"<<garbage>>"),
            ("cc.status.x", b'{"type": "task.succeeded", "run_id": "x"}'),
        ]
    )
    assert {d.error_code for d in found} == {FailureCode.BAD_MESSAGE}
    assert all(d.error for d in found)

    # both consumers drained (poison terminated, not redelivered) and still working
    await until_idle(js, cc_bus.planner_progress_consumer(), what="planner-progress drained")
    run = await start_run(js, make_request(make_plan(1)))
    task, raw = await executor.take()
    await executor.succeed(task, raw)
    await status_log.wait_for(run, "run.succeeded")
    assert len(await _dead_letters(js)) == 4  # no new dead letter meanwhile


@pytest.mark.usefixtures("planner_app")
async def test_a_redelivered_phase_start_dispatches_nothing_twice(
    js: JetStreamContext, executor: TestExecutor, status_log: StatusLog
) -> None:
    """The same request again (a gateway retry past the dedup window, or a redelivery after a
    crash between storing and acking) re-publishes with the same ids: nothing new happens."""
    request = make_request(make_plan(1, 1))
    run = await start_run(js, request)
    await status_log.wait_for(run, "task.queued")
    await start_run(js, request, msg_id=run + "-again")
    await until_idle(js, cc_bus.planner_phase_consumer(), what="both phase starts handled")
    task, raw = await executor.take()
    assert await executor.nothing_more(wait=1.0) is True
    await executor.succeed(task, raw)
    task, raw = await executor.take()
    await executor.succeed(task, raw)
    await status_log.wait_for(run, "run.succeeded")
    assert status_log.types(run).count("run.planned") == 1
    assert status_log.types(run).count("batch.started") == 2
    info = await js.stream_info(subjects.STREAM_TASKS)
    assert info.state.last_seq == 2


@pytest.mark.usefixtures("planner_app")
async def test_a_failed_publish_is_retried_and_each_message_lands_once(
    js: JetStreamContext, status_log: StatusLog
) -> None:
    """With CC_TASKS gone, dispatching fails: the phase start is not acked but redelivered,
    the redo re-publishes the status events (deduplicated) and dispatches once it can."""
    await js.delete_stream(subjects.STREAM_TASKS)
    run = await start_run(js, make_request(make_plan(2)))
    await status_log.wait_for(run, "task.queued", count=2)

    async def redelivered() -> bool:
        info = await js.consumer_info(subjects.STREAM_PHASES, subjects.CONSUMER_PLANNER)
        return info.num_redelivered >= 1

    await eventually(redelivered, what="the phase start redelivered after the failed publish")
    await cc_bus.ensure_streams(js)
    executor = TestExecutor(js)
    await executor.start()
    first, _ = await executor.take()
    assert first.batch_index == 0
    await until_idle(js, cc_bus.planner_phase_consumer(), what="the phase start finally acked")
    types = status_log.types(run)
    assert types.count("run.planned") == 1 and types.count("task.queued") == 2
    info = await js.stream_info(subjects.STREAM_TASKS)
    assert info.state.last_seq == 2
