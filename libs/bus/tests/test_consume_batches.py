"""`Consumer(handle_batch=...)` against a real nats-server: a backlog is handed over a fetch at
a time in stream order, what cannot be decoded never reaches the batch, each message is
settled as the batch's answer says (a dead letter in its own trace), and a batch that raises
is handled again one message at a time, each once."""

from __future__ import annotations

import asyncio
from typing import Literal

import msgspec
import pytest
from cc_bus import (
    Ack,
    Consumer,
    ConsumerSpec,
    Delivery,
    GiveUp,
    Settle,
    connect,
    ensure_consumer,
    ensure_streams,
)
from cc_observe import tracing
from commandcenter.servers import NatsServer
from commandcenter_contracts import FailureCode, dead_letter_decoder, subjects
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StreamConfig

from tests.support.polling import eventually
from tests.support.span_recorder import recorded_spans

pytestmark = pytest.mark.integration

STREAM = "BATCHES"
SPEC = ConsumerSpec(stream=STREAM, durable="batched", filter_subject="batches.>")
GARBAGE_AT, NEWER_AT, REFUSED_AT = 50, 120, 77
COUNT = 200


class Numbered(msgspec.Struct):
    type: Literal["n"]
    n: int


decoder = msgspec.json.Decoder(Numbered)


def decode(delivery: Delivery) -> Numbered:
    return decoder.decode(delivery.data)


async def _stream(nats_server: NatsServer) -> tuple[Client, JetStreamContext]:
    nc = await connect(nats_server.url, name="test")
    js = nc.jetstream()
    await ensure_streams(js)  # the dead letters' stream
    await js.add_stream(StreamConfig(name=STREAM, subjects=["batches.>"]))
    await ensure_consumer(js, SPEC)
    return nc, js


async def _publish_backlog(js: JetStreamContext) -> str:
    """COUNT messages, one of them garbage and one of a newer type; the trace id of the one
    the batch will refuse."""
    refused_trace = ""
    for i in range(COUNT):
        if i == GARBAGE_AT:
            await js.publish("batches.x", b"\x00 not json")
        elif i == NEWER_AT:
            await js.publish("batches.x", b'{"type": "newer", "n": 0}')
        elif i == REFUSED_AT:
            with tracing.producer_span("refused") as span:
                await js.publish(
                    "batches.x", msgspec.json.encode(Numbered("n", i)), headers=tracing.inject({})
                )
            refused_trace = f"{span.get_span_context().trace_id:032x}"
        else:
            await js.publish("batches.x", msgspec.json.encode(Numbered("n", i)))
    return refused_trace


async def _settled(js: JetStreamContext) -> bool:
    info = await js.consumer_info(STREAM, SPEC.durable)
    return info.num_ack_pending == 0 and info.num_pending == 0


async def _run_until_settled(consumer: Consumer[Numbered], js: JetStreamContext) -> None:
    running = asyncio.create_task(consumer.run())
    try:
        await eventually(lambda: _settled(js), within_s=30, what="every message settled")
    finally:
        consumer.stop_fetching()
        await asyncio.wait_for(running, timeout=10)


async def test_a_backlog_is_handed_over_a_fetch_at_a_time(nats_server: NatsServer) -> None:
    spans = recorded_spans()
    nc, js = await _stream(nats_server)
    refused_trace = await _publish_backlog(js)
    batches: list[list[int]] = []
    alone: list[int] = []

    async def handle(item: Numbered, _delivery: Delivery) -> Settle:
        alone.append(item.n)
        return Ack()

    async def handle_batch(items: list[tuple[Numbered, Delivery]]) -> list[Settle]:
        batches.append([item.n for item, _ in items])
        return [
            GiveUp(FailureCode.BAD_MESSAGE, "refused") if item.n == REFUSED_AT else Ack()
            for item, _ in items
        ]

    consumer = Consumer(
        js,
        SPEC,
        decode=decode,
        handle=handle,
        handle_batch=handle_batch,
        batch=64,
        known_types={"n"},
    )
    await _run_until_settled(consumer, js)

    handed = [n for batch in batches for n in batch] + alone
    assert handed == [n for n in range(COUNT) if n not in (GARBAGE_AT, NEWER_AT)]
    assert len(batches) <= COUNT // 32, [len(b) for b in batches]  # fetches of up to 64
    assert (consumer.stats.acked, consumer.stats.given_up) == (COUNT - 2, 2)  # skipped: acked
    assert consumer.stats.skipped == 1
    info = await js.consumer_info(STREAM, SPEC.durable)
    assert info.num_redelivered == 0

    dead = await js.pull_subscribe(subjects.TASK_DEAD, durable="test-dead")
    letters = await dead.fetch(2, timeout=10)
    decoded = sorted(
        ((dead_letter_decoder.decode(m.data).error, m) for m in letters), key=lambda x: x[0]
    )
    (refused_error, refused_letter), (garbage_error, _) = decoded
    assert refused_error == "refused"
    assert "undecodable" in garbage_error
    # The refusal's dead letter is in the trace of the message refused.
    headers = refused_letter.headers or {}
    assert headers["traceparent"].split("-")[1] == refused_trace
    batched_spans = [
        s
        for s in spans.get_finished_spans()
        if (s.attributes or {}).get("messaging.batch.message_count", 1) > 1
    ]
    assert len(batched_spans) >= COUNT // 2
    await nc.close()


async def test_a_batch_that_raises_is_handled_one_message_at_a_time(
    nats_server: NatsServer,
) -> None:
    nc, js = await _stream(nats_server)
    for i in range(COUNT):
        await js.publish("batches.x", msgspec.json.encode(Numbered("n", i)))
    tried: list[int] = []
    alone: list[int] = []

    async def handle(item: Numbered, _delivery: Delivery) -> Settle:
        alone.append(item.n)
        return Ack()

    async def handle_batch(items: list[tuple[Numbered, Delivery]]) -> list[Settle]:
        tried.append(len(items))
        raise RuntimeError("the database said no")

    consumer = Consumer(js, SPEC, decode=decode, handle=handle, handle_batch=handle_batch, batch=64)
    await _run_until_settled(consumer, js)
    assert tried and max(tried) > 1
    assert alone == list(range(COUNT))  # each once, in stream order
    assert consumer.stats.acked == COUNT
    info = await js.consumer_info(STREAM, SPEC.durable)
    assert info.num_redelivered == 0
    await nc.close()


async def test_a_batch_needs_one_slot(nats_server: NatsServer) -> None:
    nc, js = await _stream(nats_server)

    async def handle(_item: Numbered, _delivery: Delivery) -> Settle:
        return Ack()

    async def handle_batch(items: list[tuple[Numbered, Delivery]]) -> list[Settle]:
        return [Ack()] * len(items)

    with pytest.raises(ValueError, match="one slot"):
        Consumer(js, SPEC, decode=decode, handle=handle, handle_batch=handle_batch, slots=2)
    await nc.close()
