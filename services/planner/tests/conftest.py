"""Fixtures for the planner's integration tests: a JetStream client, the planner running in
this process, and a test that plays the executor's part through the real consumer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import cc_bus
import pytest
from commandcenter.servers import NatsServer
from nats.aio.client import Client
from nats.js import JetStreamContext
from planner.app import PlannerService, create_app
from planner.settings import Settings
from planner_support import StatusLog, TestExecutor


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
