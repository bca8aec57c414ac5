"""A write JetStream does not answer is waited for in place (`cc_bus.until_answered`), on a
real nats-server: an executor's claim whose bucket's stream is gone (as when it has no leader),
and a consumer's dead letter whose stream is gone, hold their message instead of handing it
back, so an election neither spends the message's deliveries nor has it handled again."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest
from cc_bus import Consumer, ConsumerSpec, connect, ensure_consumer, ensure_streams
from cc_bus.consume import Delivery, GiveUp, Retry, Settle
from cc_bus.executor import (
    CancelRegistry,
    DispatchClaims,
    NatsEventSink,
    TaskMessageHandler,
    claims_bucket,
    decode_task,
)
from cc_bus.executor.claims import BUCKET
from cc_bus.publish import publish_task
from cc_bus.topology import executor_local_consumer, kv_stream
from commandcenter.servers import NatsServer
from commandcenter_contracts import (
    FailureCode,
    TaskDispatched,
    TaskSucceeded,
    dead_letter_decoder,
    new_id,
    status_decoder,
    subjects,
)
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StreamConfig

from tests.support.executors import task_for
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

MAX_DELIVER = 2
"""Few deliveries and a short redelivery delay: handing the message back on every unanswered
claim would spend them all within a second."""


async def _connected(nats_server: NatsServer) -> tuple[Client, JetStreamContext]:
    nc = await connect(nats_server.url, name="waiting")
    js = nc.jetstream()
    await ensure_streams(js)
    return nc, js


async def test_an_unanswered_claim_holds_the_task_until_jetstream_answers(
    nats_server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cc_bus.publish")
    nc, js = await _connected(nats_server)
    spec = executor_local_consumer(ack_wait_s=10, max_deliver=MAX_DELIVER)
    await ensure_consumer(js, spec)
    claims = await DispatchClaims.open(js)
    await js.delete_stream(kv_stream(BUCKET))  # the claims' writes now reach no stream
    ran: list[tuple[int, int]] = []

    async def run(
        task: TaskDispatched, _sink: NatsEventSink, _cancel: asyncio.Event, *, base_attempt: int
    ) -> TaskSucceeded:
        ran.append((task.attempt, base_attempt))
        return TaskSucceeded(
            run_id=task.run_id,
            task_id=task.task_id,
            attempt=task.attempt,
            branch=task.branch,
            commit="0" * 40,
        )

    handler = TaskMessageHandler(js, run, CancelRegistry(), claims, retry_delay_s=0.1)
    consumer = Consumer(
        js,
        spec,
        decode=decode_task,
        handle=handler.handle,
        heartbeat_s=1.0,
        retry_delay=lambda _: 0.1,
    )
    task = task_for("/repos/app", new_id())
    await publish_task(js, task)
    running = asyncio.create_task(consumer.run())
    try:

        def waits() -> bool:
            return sum("did not answer the claim" in r.getMessage() for r in caplog.records) >= 3

        await eventually(waits, within_s=30, what="the claim tried again in place")
        assert ran == []
        await claims_bucket(js)  # the bucket answers again

        async def settled() -> bool:
            info = await js.consumer_info(subjects.STREAM_TASKS, spec.durable)
            return info.num_ack_pending == 0 and info.num_pending == 0

        await eventually(settled, within_s=30, what="the task message acked")
    finally:
        consumer.stop_fetching()
        await asyncio.wait_for(running, timeout=10)

    assert ran == [(1, 1)]  # run once, as its first attempt
    info = await js.consumer_info(subjects.STREAM_TASKS, spec.durable)
    assert info.num_redelivered == 0  # held, never handed back
    assert consumer.stats.acked == 1
    last = await js.get_last_msg(subjects.STREAM_STATUS, subjects.status_subject(task.run_id))
    outcome = status_decoder.decode(last.data)
    assert isinstance(outcome, TaskSucceeded) and outcome.task_id == task.task_id
    assert await claims.take(task, 1)  # claimed for the message it came in (sequence 1)
    await nc.close()


async def test_a_claim_jetstream_refuses_is_handed_back_at_once(
    nats_server: NatsServer,
) -> None:
    """What JetStream did answer is not waited out: the message goes back as before."""
    nc, js = await _connected(nats_server)
    claims = await DispatchClaims.open(js)
    info = await js.stream_info(kv_stream(BUCKET))
    await js.update_stream(dataclasses.replace(info.config, sealed=True))  # refuses writes

    async def run(*_args: object, **_kw: object) -> TaskSucceeded:
        raise AssertionError("an unclaimed task ran")

    handler = TaskMessageHandler(js, run, CancelRegistry(), claims, retry_delay_s=0.1)
    task = task_for("/repos/app", new_id())
    await publish_task(js, task)
    sub = await js.pull_subscribe(subjects.task_dispatch_subject(task.mode), durable="t")
    (msg,) = await sub.fetch(1, timeout=10)
    assert await handler.handle(task, Delivery(msg)) == Retry(0.1)
    await nc.close()


async def test_an_unanswered_dead_letter_holds_its_message_until_jetstream_answers(
    nats_server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cc_bus.publish")
    nc, js = await _connected(nats_server)
    await js.add_stream(StreamConfig(name="WORK", subjects=["work.>"]))
    spec = ConsumerSpec(stream="WORK", durable="worker", filter_subject="work.>", max_deliver=2)
    await ensure_consumer(js, spec)
    await js.delete_stream(subjects.STREAM_DEAD)  # dead letters now reach no stream
    handled: list[int] = []

    async def refuse(_item: bytes, delivery: Delivery) -> Settle:
        handled.append(delivery.num_delivered)
        return GiveUp(FailureCode.BAD_MESSAGE, "refused")

    consumer = Consumer(js, spec, decode=lambda d: d.data, handle=refuse, heartbeat_s=1.0)
    await js.publish("work.one", b"payload")
    running = asyncio.create_task(consumer.run())
    try:

        def waits() -> bool:
            # One try is a whole `publish` (it asks again for 10 s itself): one is enough.
            return any("did not answer a dead letter" in r.getMessage() for r in caplog.records)

        await eventually(waits, within_s=30, what="the dead letter tried again in place")
        await ensure_streams(js)  # the dead letters' stream is back

        async def settled() -> bool:
            info = await js.consumer_info("WORK", spec.durable)
            return info.num_ack_pending == 0 and info.num_pending == 0

        await eventually(settled, within_s=30, what="the message terminated")
    finally:
        consumer.stop_fetching()
        await asyncio.wait_for(running, timeout=10)

    assert handled == [1]  # handled once: never handed back
    assert consumer.stats.given_up == 1
    info = await js.consumer_info("WORK", spec.durable)
    assert info.num_redelivered == 0
    dead = await js.get_last_msg(subjects.STREAM_DEAD, subjects.TASK_DEAD)
    letter = dead_letter_decoder.decode(dead.data)
    assert (letter.error, letter.raw) == ("refused", b"payload")
    await nc.close()
