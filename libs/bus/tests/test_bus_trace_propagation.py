"""The trace context crossing a real nats-server: `cc_bus.publish` puts it in the message's
headers, `cc_bus.Consumer` continues it while the handler works; a message without it (an old
writer's, a hand-made one) starts a new trace; a dead letter stays in its message's trace."""

from __future__ import annotations

import asyncio

import pytest
from cc_bus import (
    Ack,
    Consumer,
    Delivery,
    GiveUp,
    Settle,
    connect,
    ensure_consumer,
    ensure_streams,
    executor_local_consumer,
    publish_task,
)
from cc_observe import tracing
from commandcenter.servers import NatsServer
from commandcenter_contracts import FailureCode, TaskDispatched, encode, subjects, task_decoder
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from tests.support.polling import eventually
from tests.support.span_recorder import recorded_spans

pytestmark = pytest.mark.integration


def _task(task_id: str) -> TaskDispatched:
    return TaskDispatched(
        run_id="r",
        task_id=task_id,
        plan_task_id="1.1",
        batch_index=0,
        title="x",
        branch=f"cc/r/{task_id}",
        repo="/repo",
    )


async def test_the_handler_continues_the_publishers_trace(nats_server: NatsServer) -> None:
    spans = recorded_spans()
    nc = await connect(nats_server.url, name="test")
    js = nc.jetstream()
    spec = executor_local_consumer(ack_wait_s=30, max_deliver=5)
    seen: dict[str, str | None] = {}

    async def handle(task: TaskDispatched, _delivery: Delivery) -> Settle:
        seen[task.task_id] = tracing.current_trace_id()
        if task.task_id == "poison":
            return GiveUp(FailureCode.BAD_MESSAGE, "never")
        with tracing.span("task"):
            pass
        return Ack()

    consumer = Consumer(js, spec, decode=lambda d: task_decoder.decode(d.data), handle=handle)
    running = asyncio.create_task(consumer.run())
    try:
        await ensure_streams(js)
        await ensure_consumer(js, spec)
        with tracing.producer_span("dispatch") as dispatch:
            await publish_task(js, _task("traced"))
        # As an old writer (or a person with the nats CLI) would: no trace headers.
        await js.publish(
            subjects.task_dispatch_subject("local"),
            encode(_task("untraced")),
            headers={"Nats-Msg-Id": "untraced:1"},
        )
        with tracing.producer_span("dispatch poison") as poison:
            await publish_task(js, _task("poison"))
        await eventually(lambda: len(seen) == 3, within_s=20, what="three deliveries")

        traced_id = f"{dispatch.get_span_context().trace_id:032x}"
        assert seen["traced"] == traced_id
        assert seen["untraced"] is not None and seen["untraced"] != traced_id  # a new trace

        def finished() -> dict[str, list[ReadableSpan]]:
            by_name: dict[str, list[ReadableSpan]] = {}
            for s in spans.get_finished_spans():
                by_name.setdefault(s.name, []).append(s)
            assert len(by_name.get("executor-local process", [])) == 3, by_name.keys()
            return by_name

        by_name = await eventually(finished, within_s=10, what="the consumer spans")
        handled = {
            str((s.attributes or {})["messaging.message.id"]): s
            for s in by_name["executor-local process"]
        }
        first = handled["traced:1"]
        assert first.kind is SpanKind.CONSUMER
        assert first.parent is not None
        assert first.parent.span_id == dispatch.get_span_context().span_id
        assert first.attributes is not None
        assert first.attributes["messaging.destination.name"] == "cc.task.dispatch.local"
        assert first.attributes["cc.settle"] == "Ack"
        assert handled["untraced:1"].parent is None

        # The dead letter of the poison message carries the handling's trace.
        letters = await js.pull_subscribe(subjects.TASK_DEAD, durable="test-letters")
        [letter] = await letters.fetch(1, timeout=10)
        assert letter.headers is not None
        poison_id = f"{poison.get_span_context().trace_id:032x}"
        assert letter.headers["traceparent"].split("-")[1] == poison_id
        assert (handled["poison:1"].attributes or {})["cc.settle"] == "GiveUp"
    finally:
        consumer.stop_fetching()
        await asyncio.wait_for(running, timeout=10)
        await nc.close()
