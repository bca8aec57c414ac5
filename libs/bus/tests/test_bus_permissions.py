"""Each service's NATS user against a real nats-server configured by `NatsServer(users=…)`, the
configuration `commandcenter up` writes: what it may do works, what it may not is refused by
the server (a permissions violation, and no answer to a JetStream API request)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path

import nats
import pytest
from cc_bus import (
    NatsAuth,
    connect,
    ensure_consumer,
    ensure_streams,
    executor_dagger_consumer,
    executor_local_consumer,
    projector_consumer,
)
from cc_bus.executor import IntegrationTurns, Presence, executors_bucket, live_executors
from cc_bus.permissions import OPERATOR, SERVICE_USERS
from cc_bus.topology import STREAMS
from commandcenter.servers import NatsServer, write_private
from commandcenter_contracts import ExecutionMode, ExecutorInfo, subjects
from nats.aio.client import Client
from nats.js.api import StreamConfig
from planner.store import ProgressStore

from tests.support.polling import eventually

pytestmark = pytest.mark.integration

DENIED_WITHIN_S = 1.0
"""How long a JetStream API request waits for the answer a denied request never gets."""


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[NatsServer]:
    users = {user: f"pw-{user}-{i}" for i, user in enumerate((*SERVICE_USERS, OPERATOR))}
    server = NatsServer(tmp_path / "nats", users=users).start()
    for user, password in users.items():
        write_private(tmp_path / f"{user}.password", password)
    yield server
    server.stop()


def auth(server: NatsServer, user: str) -> NatsAuth:
    return NatsAuth(user=user, password_file=server.data_dir.parent / f"{user}.password")


@pytest.fixture
async def operator(secured: NatsServer) -> AsyncIterator[Client]:
    """The topology in place, as the control plane leaves it."""
    nc = await connect(secured.url, name="test-operator", auth=auth(secured, OPERATOR))
    await ensure_streams(nc.jetstream())
    yield nc
    await nc.close()


async def refused(
    caplog: pytest.LogCaptureFixture, subject: str, request: Awaitable[object] | None = None
) -> None:
    """`request` gets no answer and the server reports publishing to `subject` as denied."""
    if request is not None:
        with pytest.raises((nats.errors.TimeoutError, TimeoutError)):
            await request
    violation = f'permissions violation for publish to "{subject}"'.lower()
    await eventually(lambda: violation in caplog.text.lower(), within_s=10, what=violation)


async def test_the_config_file_is_private_and_has_no_anonymous_user(secured: NatsServer) -> None:
    config = secured.data_dir / "nats-server.conf"
    assert config.stat().st_mode & 0o777 == 0o600
    assert "no_auth_user" not in config.read_text()


async def test_anonymous_and_wrong_passwords_are_refused(secured: NatsServer) -> None:
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(secured.url, allow_reconnect=False, connect_timeout=2)
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(
            secured.url, user="gateway", password="guess", allow_reconnect=False, connect_timeout=2
        )


async def test_an_executor_takes_its_own_tasks_and_nothing_else(
    secured: NatsServer, operator: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cc_bus.connect")
    ojs = operator.jetstream()
    await ensure_consumer(
        ojs, executor_dagger_consumer(total_slots=1, ack_wait_s=30, max_deliver=5)
    )
    await ojs.publish(subjects.TASK_DISPATCH_LOCAL, b"task", headers={"Nats-Msg-Id": "t1"})

    nc = await connect(secured.url, name="test-exec", auth=auth(secured, "executor-local"))
    try:
        js = nc.jetstream(timeout=DENIED_WITHIN_S)
        # Its start-up: streams looked up (never updated), its durable, its presence bucket.
        await ensure_streams(js, update=False)
        spec = executor_local_consumer(ack_wait_s=30, max_deliver=5)
        await ensure_consumer(js, spec)
        sub = await js.pull_subscribe_bind(spec.durable, stream=spec.stream)
        [msg] = await sub.fetch(1, timeout=5)
        await msg.in_progress()
        await msg.ack_sync()
        assert msg.data == b"task"
        await js.publish(subjects.status_subject("run1"), b"{}")
        await js.publish(subjects.log_subject("run1", "task1"), b"line")
        await js.publish(subjects.TASK_DEAD, b"{}")
        kv = await js.create_key_value(bucket=subjects.KV_EXECUTORS)
        await kv.put("exec-1", b"{}")

        await refused(
            caplog, subjects.PHASE_START, js.publish(subjects.PHASE_START, b"{}", timeout=1)
        )
        await refused(
            caplog,
            subjects.TASK_DISPATCH_DAGGER,
            js.publish(subjects.TASK_DISPATCH_DAGGER, b"{}", timeout=1),
        )
        next_dagger = f"$JS.API.CONSUMER.MSG.NEXT.{subjects.STREAM_TASKS}.executor-dagger"
        other = await js.pull_subscribe_bind("executor-dagger", stream=subjects.STREAM_TASKS)
        await refused(caplog, next_dagger, other.fetch(1, timeout=DENIED_WITHIN_S))
        phases = next(spec.config() for spec in STREAMS if spec.name == subjects.STREAM_PHASES)
        wiped = StreamConfig(**{**phases.as_dict(), "max_age": 1.0})  # type: ignore[arg-type]
        await refused(caplog, f"$JS.API.STREAM.UPDATE.{phases.name}", js.update_stream(wiped))
        await refused(caplog, f"$JS.API.STREAM.PURGE.{phases.name}", js.purge_stream(phases.name))
        await nc.publish(subjects.cancel_subject("run1"), b"{}")  # core: only a violation
        await refused(caplog, subjects.cancel_subject("run1"))
        await nc.subscribe("_INBOX.planner.>")  # another service's replies
        await eventually(
            lambda: 'violation for subscription to "_inbox.planner.>"' in caplog.text.lower(),
            within_s=10,
            what="the subscription refused",
        )
    finally:
        await nc.close()


async def test_dagger_replicas_take_integration_turns_and_a_local_executor_cannot(
    secured: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cc_bus.connect")
    dagger = [
        await connect(secured.url, name=f"test-dagger-{i}", auth=auth(secured, "executor-dagger"))
        for i in range(2)
    ]
    local = await connect(secured.url, name="test-local", auth=auth(secured, "executor-local"))
    try:
        first, second = [
            await IntegrationTurns.open(nc, f"dagger-{i}") for i, nc in enumerate(dagger)
        ]
        async with first.hold("branch", asyncio.Event()) as turn:
            turn.tip = "abc"
            # The second waits (it hears the entry change: its subscription is allowed).
            waiting = asyncio.create_task(_tip_seen(second))
            await asyncio.sleep(0.2)
            assert not waiting.done()
        async with asyncio.timeout(10):
            assert await waiting == "abc"

        bucket = f"KV_{subjects.KV_INTEGRATION_TURNS}"
        js = local.jetstream(timeout=DENIED_WITHIN_S)
        await refused(
            caplog, f"$JS.API.STREAM.INFO.{bucket}", js.key_value(subjects.KV_INTEGRATION_TURNS)
        )
    finally:
        for nc in (*dagger, local):
            await nc.close()


async def _tip_seen(turns: IntegrationTurns) -> str | None:
    async with turns.hold("branch", asyncio.Event()) as turn:
        return turn.tip


async def test_the_gateway_starts_runs_but_cannot_take_an_executors_tasks(
    secured: NatsServer, operator: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cc_bus.connect")
    await ensure_consumer(
        operator.jetstream(), executor_local_consumer(ack_wait_s=30, max_deliver=5)
    )
    await executors_bucket(operator.jetstream())
    info = ExecutorInfo(executor_id="host:1", mode=ExecutionMode.LOCAL)
    presence = Presence(operator.jetstream(), info)
    await presence.start()
    nc = await connect(secured.url, name="test-gateway", auth=auth(secured, "gateway"))
    try:
        js = nc.jetstream(timeout=DENIED_WITHIN_S)
        await ensure_streams(js)
        # /ready and GET /api/v1/executors: list the executors' bucket, read each entry
        assert [e.executor_id for e in await live_executors(js)] == ["host:1"]
        await ensure_consumer(js, projector_consumer())
        await js.publish(subjects.PHASE_START, b"{}", headers={"Nats-Msg-Id": "run1"})
        await js.publish(subjects.status_subject("run1"), b"{}")
        await nc.publish(subjects.cancel_subject("run1"), b"{}")
        await js.consumer_info(subjects.STREAM_TASKS, subjects.CONSUMER_EXECUTOR_LOCAL)

        local = await js.pull_subscribe_bind(
            subjects.CONSUMER_EXECUTOR_LOCAL, stream=subjects.STREAM_TASKS
        )
        next_local = f"$JS.API.CONSUMER.MSG.NEXT.{subjects.STREAM_TASKS}.executor-local"
        await refused(caplog, next_local, local.fetch(1, timeout=DENIED_WITHIN_S))
        await refused(
            caplog,
            subjects.TASK_DISPATCH_LOCAL,
            js.publish(subjects.TASK_DISPATCH_LOCAL, b"{}", timeout=1),
        )
        await refused(
            caplog, subjects.CONTROL_LAND, js.publish(subjects.CONTROL_LAND, b"{}", timeout=1)
        )
    finally:
        await presence.stop()
        await nc.close()


async def test_the_planner_dispatches_but_cannot_start_runs(
    secured: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cc_bus.connect")
    nc = await connect(secured.url, name="test-planner", auth=auth(secured, "planner"))
    try:
        js = nc.jetstream(timeout=DENIED_WITHIN_S)
        await ensure_streams(js)
        ack = await js.publish(subjects.TASK_DISPATCH_DAGGER, b"{}")
        await js.get_msg(subjects.STREAM_TASKS, ack.seq)
        await js.delete_msg(subjects.STREAM_TASKS, ack.seq)
        await refused(
            caplog, subjects.PHASE_START, js.publish(subjects.PHASE_START, b"{}", timeout=1)
        )
        await nc.publish(subjects.cancel_subject("run1"), b"{}")
        await refused(caplog, subjects.cancel_subject("run1"))
    finally:
        await nc.close()


async def test_the_planner_may_sweep_its_own_bucket_and_purge_nothing_else(
    secured: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The retention sweep (`planner.retention`): list the ended runs' keys (the bucket
    stream's subjects), purge a run's keys; purging a stream is refused everywhere else."""
    caplog.set_level(logging.WARNING, logger="cc_bus.connect")
    nc = await connect(secured.url, name="test-planner", auth=auth(secured, "planner"))
    try:
        js = nc.jetstream(timeout=DENIED_WITHIN_S * 5)
        await ensure_streams(js)
        store = await ProgressStore.open(js, subjects.KV_PLANNER_RUNS)
        await store.mark_ended("run1", 1.0)
        await store.mark_ended("run2", 2.0)
        assert sorted(await store.ended_runs()) == [("run1", 1.0), ("run2", 2.0)]
        await store.forget_run("run1")
        assert await store.ended_runs() == [("run2", 2.0)]
        assert await store.run_ids() == []  # keys only: the backfill's listing
        js = nc.jetstream(timeout=DENIED_WITHIN_S)
        purge = f"$JS.API.STREAM.PURGE.{subjects.STREAM_STATUS}"
        await refused(caplog, purge, js.purge_stream(subjects.STREAM_STATUS))
    finally:
        await nc.close()
