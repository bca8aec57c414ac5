"""Fixtures for the planner's integration tests: a JetStream client, the planner running in
this process, and a test that plays the executor's part through the real consumer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import cc_bus
import pytest
from commandcenter.servers import NatsServer
from commandcenter_contracts import (
    StatusEvent,
    TaskDispatched,
    status_decoder,
    subjects,
    task_decoder,
)
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from planner.app import PlannerService, create_app
from planner.settings import Settings


async def wait_until(
    check: Callable[[], Any], *, within: float = 60.0, what: str = "condition"
) -> Any:
    """Poll `check` (sync or async) until it returns something truthy; fail after `within` s."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)


class StatusLog:
    """Every status event of the server, in stream order (an ordered push consumer)."""

    def __init__(self) -> None:
        self.events: list[StatusEvent] = []

    async def start(self, js: JetStreamContext) -> None:
        async def on_msg(msg: Any) -> None:
            self.events.append(status_decoder.decode(msg.data))

        await js.subscribe(subjects.STATUS_ALL, cb=on_msg, ordered_consumer=True)

    def of(self, run_id: str, type_: str | None = None) -> list[StatusEvent]:
        return [
            e
            for e in self.events
            if e.run_id == run_id and (type_ is None or e.__struct_config__.tag == type_)
        ]

    def types(self, run_id: str) -> list[str]:
        return [str(e.__struct_config__.tag) for e in self.of(run_id)]

    async def wait_for(
        self, run_id: str, type_: str, *, count: int = 1, within: float = 60
    ) -> list[StatusEvent]:
        return await wait_until(  # type: ignore[no-any-return]
            lambda: len(self.of(run_id, type_)) >= count and self.of(run_id, type_),
            within=within,
            what=f"{count} x {type_} of run {run_id}",
        )


class TestExecutor:
    """Plays the local executor: fetches from the real `executor-local` durable, reports an
    outcome as a status event, then acks (the order the executors follow)."""

    __test__ = False

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self.received: list[TaskDispatched] = []
        self._sub: Any = None

    async def start(self) -> None:
        await cc_bus.ensure_consumer(
            self.js, cc_bus.executor_local_consumer(ack_wait_s=60, max_deliver=5)
        )
        self._sub = await self.js.pull_subscribe_bind(
            durable=subjects.CONSUMER_EXECUTOR_LOCAL, stream=subjects.STREAM_TASKS
        )

    async def take(self, within: float = 60) -> tuple[TaskDispatched, Any]:
        """The next dispatch (unacked) and its raw message."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                msgs = await self._sub.fetch(1, timeout=1.0)
            except TimeoutError:
                continue
            task = task_decoder.decode(msgs[0].data)
            self.received.append(task)
            return task, msgs[0]
        raise AssertionError(f"no task dispatched within {within}s")

    async def nothing_more(self, wait: float = 2.0) -> bool:
        try:
            msgs = await self._sub.fetch(1, timeout=wait)
        except TimeoutError:
            return True
        self.received.append(task_decoder.decode(msgs[0].data))
        return False

    async def finish(self, task: TaskDispatched, raw: Any, *, outcome: StatusEvent) -> None:
        await cc_bus.publish_status(self.js, outcome)
        await raw.ack_sync()


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[Client]:
    client = await cc_bus.connect(nats_server.url, name="planner-tests")
    await cc_bus.ensure_streams(client.jetstream())
    yield client
    # close, not drain: nats-py cannot drain a pull subscription whose fetch timed out
    await client.close()


@pytest.fixture
def js(nc: Client) -> JetStreamContext:
    return nc.jetstream()


@pytest.fixture
async def status_log(js: JetStreamContext) -> StatusLog:
    log = StatusLog()
    await log.start(js)
    return log


@pytest.fixture
async def executor(js: JetStreamContext) -> TestExecutor:
    runner = TestExecutor(js)
    await runner.start()
    return runner


@pytest.fixture
def planner_settings(nats_server: NatsServer) -> Settings:
    return Settings(nats_url=nats_server.url, retry_delay_s=0.2, client_name="planner-test")


@pytest.fixture
async def planner_app(planner_settings: Settings) -> AsyncIterator[PlannerService]:
    """The planner, in this process, against the test's nats-server."""
    app = create_app(planner_settings)
    await app.start()
    yield app
    await app.stop()


async def consumer_idle(js: JetStreamContext, stream: str, durable: str) -> bool:
    """True when the durable has delivered and had acked everything in its stream."""
    try:
        info = await js.consumer_info(stream, durable)
    except NotFoundError:
        return False
    return info.num_pending == 0 and info.num_ack_pending == 0
