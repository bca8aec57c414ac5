"""A one-at-a-time durable read through one standing pull request, against a real
nats-server: every message in stream order with far fewer requests than messages, and a
consumer that stops leaves no message in an inbox nobody reads."""

from __future__ import annotations

import asyncio

import pytest
from cc_bus import Ack, Consumer, ConsumerSpec, Delivery, Settle, connect, ensure_consumer
from commandcenter.servers import NatsServer
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import StreamConfig

from tests.support.polling import eventually

pytestmark = pytest.mark.integration

STREAM = "PULLS"
SPEC = ConsumerSpec(
    stream=STREAM, durable="one-at-a-time", filter_subject="pulls.>", max_ack_pending=1
)
NEXT = f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{SPEC.durable}"


def _consumer(js: JetStreamContext, seen: list[bytes]) -> Consumer[bytes]:
    async def handle(data: bytes, _delivery: Delivery) -> Settle:
        seen.append(data)
        return Ack()

    return Consumer(js, SPEC, decode=lambda d: d.data, handle=handle)


async def test_messages_come_in_order_without_a_request_each(nats_server: NatsServer) -> None:
    nc = await connect(nats_server.url, name="test")
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=STREAM, subjects=["pulls.>"]))
    await ensure_consumer(js, SPEC)
    requests: list[bytes] = []

    # A plain subscriber sees each pull request JetStream gets.
    async def on_request(msg: Msg) -> None:
        requests.append(msg.data)

    await nc.subscribe(NEXT, cb=on_request)
    for i in range(300):
        await js.publish("pulls.x", str(i).encode())
    seen: list[bytes] = []
    consumer = _consumer(js, seen)
    running = asyncio.create_task(consumer.run())
    try:
        await eventually(lambda: len(seen) == 300, within_s=30, what="every message handled")
        assert seen == [str(i).encode() for i in range(300)]
        # `fetch` would have sent one request per message; a standing one serves hundreds
        # (and is renewed about once per second while idle).
        assert 1 <= len(requests) < 30, requests

        async def settled() -> bool:  # the handler records a message before it is acked
            info = await js.consumer_info(STREAM, SPEC.durable)
            return info.num_ack_pending == 0 and info.num_pending == 0

        await eventually(settled, within_s=30, what="every message acked")
    finally:
        consumer.stop_fetching()
        await running
        await nc.close()


async def test_a_stopped_consumer_leaves_nothing_behind(nats_server: NatsServer) -> None:
    """Stopped while it handles a message, the consumer's request is still open: the ack
    lets JetStream send the next message into it at once. That message must reach the next
    consumer at once, not after the ack wait (30 s)."""
    nc = await connect(nats_server.url, name="test")
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=STREAM, subjects=["pulls.>"]))
    await ensure_consumer(js, SPEC)
    handling, release = asyncio.Event(), asyncio.Event()
    first: list[bytes] = []

    async def slow(data: bytes, _delivery: Delivery) -> Settle:
        first.append(data)
        handling.set()
        await release.wait()
        return Ack()

    consumer = Consumer(js, SPEC, decode=lambda d: d.data, handle=slow)
    running = asyncio.create_task(consumer.run())
    await js.publish("pulls.x", b"one")
    await js.publish("pulls.x", b"two")
    await asyncio.wait_for(handling.wait(), timeout=10)
    consumer.stop_fetching()
    release.set()
    await running
    assert first == [b"one"]

    second: list[bytes] = []
    consumer = _consumer(js, second)
    running = asyncio.create_task(consumer.run())
    try:
        await eventually(lambda: second == [b"two"], within_s=10, what="the message after")
    finally:
        consumer.stop_fetching()
        await running
        await nc.close()
