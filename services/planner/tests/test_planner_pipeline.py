"""Publishes in flight together (`planner.pipeline`): a big batch is stored exactly once and
in an order that keeps the rules (run and batch events alone and in order, each task's
`task.queued` stored before its dispatch is sent, each stream in plan order); a publish that
fails mid-batch fails the whole step, and its redelivery completes it without a duplicate."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import msgspec
import pytest
from cc_bus import MSG_ID_HEADER, planner_phase_consumer, planner_progress_consumer
from commandcenter_contracts import (
    BatchStatus,
    RunPlanned,
    TaskDispatched,
    TaskQueued,
    status_decoder,
    subjects,
    task_decoder,
)
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RawStreamMsg
from nats.js.errors import NotFoundError
from planner.app import PlannerService, create_app
from planner.domain.planning import Outgoing, plan_run, render
from planner.domain.progress import CompleteBatch, start_batch
from planner.domain.replay import replay_messages
from planner.pipeline import waves
from planner.settings import Settings
from planner.store import ProgressStore
from planner_support import (
    StatusLog,
    TestExecutor,
    make_plan,
    make_request,
    start_run,
    until_idle,
)

from tests.support.polling import eventually

BIG_BATCH = 300
IN_FLIGHT = 16
"""Far fewer than a batch: the pipeline's bound is reached again and again."""


@pytest.fixture
async def pipelined_planner(planner_settings: Settings) -> AsyncIterator[PlannerService]:
    app = create_app(dataclasses.replace(planner_settings, publish_in_flight=IN_FLIGHT))
    await app.start()
    yield app
    await app.stop()


def test_a_batch_is_cut_into_waves_where_order_matters() -> None:
    planned = plan_run(make_request(make_plan(3, 2)), default_timeout_s=0)
    first = waves(planned.messages)
    assert [[m.__struct_config__.tag for m in w] for w in first[:3]] == [
        ["run.planned"],
        ["run.started"],
        ["batch.started"],
    ]
    assert [len(w) for w in first] == [1, 1, 1, 3, 3]
    assert all(isinstance(m, TaskQueued) for m in first[3])
    assert all(isinstance(m, TaskDispatched) for m in first[4])

    # batch 0 done, batch 1 starts: the batch events each alone, then its tasks
    complete = CompleteBatch(batch_index=0, succeeded=True, round=0, integrated_commit="a" * 40)
    then = waves(
        render(
            planned.progress, [complete, start_batch(planned.progress, 1)], planned.tasks.by_id()
        )
    )
    assert [[m.__struct_config__.tag for m in w] for w in then[:3]] == [
        ["batch.integrated"],
        ["batch.completed"],
        ["batch.started"],
    ]
    assert [len(w) for w in then] == [1, 1, 1, 2, 2]

    replayed = replay_messages(planned.tasks.batches[0][1])
    assert waves(replayed) == [[replayed[0]], [replayed[1]]]


def _label(message: Outgoing) -> str:
    kind = {TaskQueued: "q", TaskDispatched: "d"}.get(type(message))
    return f"{kind}{message.plan_task_id}" if kind else message.__struct_config__.tag  # type: ignore[union-attr]


def test_a_big_batch_sends_each_chunk_of_dispatches_beside_the_next_chunk_of_task_queued() -> None:
    planned = plan_run(make_request(make_plan(5)), default_timeout_s=0)
    cut = [[_label(m) for m in wave] for wave in waves(planned.messages, chunk=2)]
    assert cut == [
        ["run.planned"],
        ["run.started"],
        ["batch.started"],
        ["q1.1", "q1.2"],
        ["d1.1", "d1.2", "q1.3", "q1.4"],
        ["d1.3", "d1.4", "q1.5"],
        ["d1.5"],
    ]
    for chunk in (1, 3, 4, 5, 128):
        cut = [[_label(m) for m in wave] for wave in waves(planned.messages, chunk=chunk)]
        sent = [label for wave in cut for label in wave]
        assert len(sent) == len(planned.messages)  # each message once
        # each stream in plan order; a dispatch one wave after its task.queued, or later
        assert [x for x in sent if x[0] == "q"] == [f"q1.{i}" for i in range(1, 6)]
        assert [x for x in sent if x[0] == "d"] == [f"d1.{i}" for i in range(1, 6)]
        wave_of = {label: n for n, wave in enumerate(cut) for label in wave}
        assert all(wave_of[f"d1.{i}"] > wave_of[f"q1.{i}"] for i in range(1, 6))
        assert max(len(wave) for wave in cut) <= 2 * chunk

    # dispatches that are not the batch's pair (another task's, an attempt's) are not interleaved
    queued = [m for m in planned.messages if isinstance(m, TaskQueued)]
    dispatched = [m for m in planned.messages if isinstance(m, TaskDispatched)]
    other = [msgspec.structs.replace(d, attempt=2) for d in dispatched]
    assert waves([*queued, *other], chunk=2) == [queued, other]
    with pytest.raises(ValueError, match="chunk"):
        waves(planned.messages, chunk=0)


async def _dispatches_stored(js: JetStreamContext) -> list[RawStreamMsg]:
    info = await js.stream_info(subjects.STREAM_TASKS)
    stored = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            stored.append(await js.get_msg(subjects.STREAM_TASKS, seq))
        except NotFoundError:
            continue  # acked by the test executor
    return stored


async def _status_stored(js: JetStreamContext, run_id: str) -> list[RawStreamMsg]:
    """The run's status events as stored, in stream order."""
    info = await js.stream_info(subjects.STREAM_STATUS)
    stored = [
        await js.get_msg(subjects.STREAM_STATUS, seq)
        for seq in range(info.state.first_seq, info.state.last_seq + 1)
    ]
    return [m for m in stored if m.subject == subjects.status_subject(run_id)]


def _msg_ids(messages: list[RawStreamMsg]) -> list[str]:
    return [(m.headers or {})[MSG_ID_HEADER] for m in messages]


@pytest.mark.integration
@pytest.mark.usefixtures("pipelined_planner")
async def test_a_big_batch_is_stored_once_in_an_order_that_keeps_the_rules(
    js: JetStreamContext, status_log: StatusLog
) -> None:
    request = make_request(make_plan(BIG_BATCH))
    run_id = await start_run(js, request)
    await status_log.wait_for(run_id, "task.queued", count=BIG_BATCH)
    await eventually(
        lambda: _count_at_least(js, BIG_BATCH), within_s=60, what=f"{BIG_BATCH} dispatches"
    )
    await until_idle(js, planner_progress_consumer(), within_s=60)

    status = await _status_stored(js, run_id)
    tags = status_log.types(run_id)
    assert tags == ["run.planned", "run.started", "batch.started"] + ["task.queued"] * BIG_BATCH
    assert len(set(_msg_ids(status))) == len(status) == BIG_BATCH + 3

    planned = status_log.of(run_id, "run.planned")[0]
    assert isinstance(planned, RunPlanned)
    in_plan_order = [t.task_id for t in planned.batches[0].tasks]
    assert [e.task_id for e in status_log.of(run_id, "task.queued")] == in_plan_order  # type: ignore[attr-defined]

    dispatches = await _dispatches_stored(js)
    tasks = [task_decoder.decode(m.data or b"") for m in dispatches]
    assert [t.task_id for t in tasks] == in_plan_order
    assert _msg_ids(dispatches) == [f"{t}:1" for t in in_plan_order]

    # each task.queued was stored before its dispatch was sent; the two streams' writes
    # overlap (chunks of IN_FLIGHT / 2 tasks)
    events = [(status_decoder.decode(m.data or b""), m.time) for m in status]
    queued_at = {e.task_id: at for e, at in events if isinstance(e, TaskQueued)}
    dispatched_at = {t.task_id: m.time for t, m in zip(tasks, dispatches, strict=True)}
    assert all(queued_at[t] <= dispatched_at[t] for t in in_plan_order)  # type: ignore[operator]
    assert dispatches[0].time < status[-1].time  # type: ignore[operator]


async def _count_at_least(js: JetStreamContext, n: int) -> bool:
    return (await js.stream_info(subjects.STREAM_TASKS)).state.messages >= n


async def _limit_task_queue(js: JetStreamContext, max_msgs: int) -> None:
    """CC_TASKS refuses a message beyond `max_msgs` (-1: no limit) with an error."""
    config = (await js.stream_info(subjects.STREAM_TASKS)).config
    config.max_msgs = max_msgs
    config.discard = DiscardPolicy.NEW
    await js.update_stream(config)


@pytest.mark.integration
@pytest.mark.usefixtures("pipelined_planner")
async def test_a_publish_refused_mid_batch_fails_the_step_and_its_redelivery_completes_it(
    js: JetStreamContext,
    status_log: StatusLog,
    executor: TestExecutor,
) -> None:
    second = 40
    request = make_request(make_plan(1, second))
    run_id = await start_run(js, request)
    first_task, raw = await executor.take()
    room = 10
    await _limit_task_queue(js, room)
    await executor.succeed(first_task, raw)

    progress_durable = planner_progress_consumer()

    async def step_failed_and_retried() -> bool:
        info = await js.consumer_info(progress_durable.stream, progress_durable.durable)
        full = (await js.stream_info(subjects.STREAM_TASKS)).state.messages == room
        return full and (info.num_redelivered or 0) >= 1

    await eventually(step_failed_and_retried, within_s=60, what="batch 2 refused, then retried")
    # the failed step stored no progress: batch 2 has not started as far as the planner knows
    store = await ProgressStore.open(js, subjects.KV_PLANNER_RUNS)
    stored = await store.get(run_id)
    assert stored is not None
    assert stored.progress.batches[1].status == BatchStatus.PENDING
    assert not status_log.of(run_id, "run.succeeded")

    await _limit_task_queue(js, -1)
    await eventually(
        lambda: _count_at_least(js, second), within_s=60, what="the rest of batch 2 dispatched"
    )
    await until_idle(js, progress_durable, within_s=60)
    await status_log.wait_for(run_id, "task.queued", count=1 + second)

    dispatches = await _dispatches_stored(js)
    tasks = [task_decoder.decode(m.data or b"") for m in dispatches]
    assert len(tasks) == second
    assert {t.batch_index for t in tasks} == {1}
    assert len(set(_msg_ids(dispatches))) == second  # none twice (Nats-Msg-Id)

    status = await _status_stored(js, run_id)
    assert len(set(_msg_ids(status))) == len(status)
    tags = status_log.types(run_id)
    assert tags.count("batch.started") == 2
    assert tags.count("batch.completed") == 1
    assert tags.count("task.queued") == 1 + second
    # batch 1 completed, then batch 2 started, then its tasks queued
    second_start = len(tags) - 1 - tags[::-1].index("batch.started")
    assert tags.index("batch.completed") < second_start
    assert tags[second_start + 1 :] == ["task.queued"] * second
    stored = await store.get(run_id)
    assert stored is not None
    assert stored.progress.batches[1].status == BatchStatus.RUNNING


async def _limit_status(js: JetStreamContext, max_msgs: int) -> None:
    """CC_STATUS refuses a message beyond `max_msgs` (-1: no limit) with an error."""
    config = (await js.stream_info(subjects.STREAM_STATUS)).config
    config.max_msgs = max_msgs
    config.discard = DiscardPolicy.NEW
    await js.update_stream(config)


@pytest.mark.integration
@pytest.mark.usefixtures("pipelined_planner")
async def test_no_dispatch_is_sent_before_its_task_queued_is_stored(
    js: JetStreamContext, status_log: StatusLog
) -> None:
    tasks = 100
    before = (await js.stream_info(subjects.STREAM_STATUS)).state.messages
    # room for run.planned, run.started, batch.started and all but the last task.queued
    await _limit_status(js, before + 3 + tasks - 1)
    run_id = await start_run(js, make_request(make_plan(tasks)))
    phase = planner_phase_consumer()

    async def start_failed_and_retried() -> bool:
        info = await js.consumer_info(phase.stream, phase.durable)
        return (info.num_redelivered or 0) >= 1

    await eventually(start_failed_and_retried, within_s=60, what="the last task.queued refused")
    # Chunks of IN_FLIGHT / 2: the dispatches of the chunks before the refused task.queued's
    # went out with the next chunk's task.queued; the refused one's chunk is never dispatched.
    chunk = IN_FLIGHT // 2
    stored = await status_log.wait_for(run_id, "task.queued", count=tasks - 1)
    queued = {e.task_id for e in stored}  # type: ignore[attr-defined]
    sent = {task_decoder.decode(m.data or b"").task_id for m in await _dispatches_stored(js)}
    planned = status_log.of(run_id, "run.planned")[0]
    assert isinstance(planned, RunPlanned)
    in_plan_order = [t.task_id for t in planned.batches[0].tasks]
    assert len(queued) == tasks - 1 and in_plan_order[-1] not in queued
    refused_chunk = (tasks - 1) // chunk * chunk  # where the last task's chunk starts
    assert sent == set(in_plan_order[:refused_chunk])
    assert sent < queued

    await _limit_status(js, -1)
    await eventually(
        lambda: _count_at_least(js, tasks), within_s=60, what="the batch dispatched after all"
    )
    await until_idle(js, phase, within_s=60)
    await status_log.wait_for(run_id, "task.queued", count=tasks)
    status = await _status_stored(js, run_id)
    assert len(set(_msg_ids(status))) == len(status) == 3 + tasks
    assert len(set(_msg_ids(await _dispatches_stored(js)))) == tasks
