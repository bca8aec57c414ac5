"""cc_bus against a real nats-server: streams, durable updates, deduplicated publishing."""

from __future__ import annotations

import pytest
from cc_bus import (
    STREAMS,
    connect,
    ensure_consumer,
    ensure_streams,
    executor_dagger_consumer,
    publish_task,
)
from commandcenter.servers import NatsServer
from commandcenter_contracts import TaskDispatched, subjects

pytestmark = pytest.mark.integration


async def test_streams_are_created_once_and_a_changed_durable_is_updated(
    nats_server: NatsServer,
) -> None:
    nc = await connect(nats_server.url, name="test")
    js = nc.jetstream()
    try:
        await ensure_streams(js)
        await ensure_streams(js)  # idempotent
        names = {info.config.name for info in await js.streams_info()}
        assert names == {spec.name for spec in STREAMS}

        spec = executor_dagger_consumer(total_slots=4, ack_wait_s=30, max_deliver=5)
        await ensure_consumer(js, spec)
        info = await js.consumer_info(subjects.STREAM_TASKS, subjects.CONSUMER_EXECUTOR_DAGGER)
        assert info.config.max_ack_pending == 4

        # JetStream would silently keep 4 if we only re-declared it: ensure_consumer updates.
        bigger = executor_dagger_consumer(total_slots=6, ack_wait_s=30, max_deliver=5)
        await ensure_consumer(js, bigger)
        info = await js.consumer_info(subjects.STREAM_TASKS, subjects.CONSUMER_EXECUTOR_DAGGER)
        assert info.config.max_ack_pending == 6
    finally:
        await nc.close()


async def test_a_republished_task_attempt_is_deduplicated(nats_server: NatsServer) -> None:
    nc = await connect(nats_server.url, name="test")
    js = nc.jetstream()
    try:
        await ensure_streams(js)
        task = TaskDispatched(
            run_id="r",
            task_id="t",
            plan_task_id="1.1",
            batch_index=0,
            title="x",
            branch="cc/r/1.1",
            repo="/repo",
            mode="dagger",
        )
        first = await publish_task(js, task)
        again = await publish_task(js, task)
        assert not first.duplicate
        assert again.duplicate and again.seq == first.seq
        retry = await publish_task(js, msgspec_replace(task, attempt=2))
        assert not retry.duplicate
        info = await js.stream_info(subjects.STREAM_TASKS)
        assert info.state.messages == 2
    finally:
        await nc.close()


def msgspec_replace(task: TaskDispatched, **changes: object) -> TaskDispatched:
    import msgspec

    return msgspec.structs.replace(task, **changes)
