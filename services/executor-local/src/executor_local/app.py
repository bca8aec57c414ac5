"""Wiring: one FastStream app with a pull subscriber on `cc.task.dispatch.local`."""

from __future__ import annotations

import logging

from cc_taskrunner.ports import Agent
from commandcenter_contracts import subjects
from faststream import AckPolicy, FastStream
from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub

from executor_local.service import LocalExecutor
from executor_local.settings import Settings


def create_app(settings: Settings, *, agents: dict[str, Agent] | None = None) -> FastStream:
    executor = LocalExecutor(settings, agents=agents)
    broker = NatsBroker(
        settings.nats_url,
        name=settings.executor_id,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        graceful_timeout=settings.shutdown_grace_s,
        logger=logging.getLogger("executor_local.broker"),  # through our formatter (JSON)
    )

    @broker.subscriber(
        subjects.TASK_DISPATCH_LOCAL,
        stream=JStream(subjects.STREAM_TASKS, declare=False),
        durable=subjects.CONSUMER_EXECUTOR_LOCAL,
        config=executor.consumer_spec().config(),
        pull_sub=PullSub(batch_size=1, timeout=1.0),
        ack_policy=AckPolicy.MANUAL,
        description="one task at a time, each in its own git worktree",
    )
    async def on_task(msg: NatsMessage) -> None:
        await executor.on_task(msg)

    # Core NATS, no queue group: every executor hears every cancel request.
    @broker.subscriber(subjects.CONTROL_CANCEL_ALL, ack_policy=AckPolicy.MANUAL)
    async def on_cancel(msg: NatsMessage) -> None:
        await executor.on_cancel(msg)

    return FastStream(
        broker,
        logger=logging.getLogger("executor_local.app"),
        on_startup=[executor.start],
        on_shutdown=[executor.begin_shutdown],
        after_shutdown=[executor.close],
    )
