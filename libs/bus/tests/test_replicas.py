"""`CC_STREAM_REPLICAS` against real nats-server: three nodes clustered on loopback (the
`nats_cluster` fixture, users and permissions on), and one standalone server that cannot hold
replicas. Streams and buckets are created with the replicas asked for, existing ones are raised
in place by the control plane (their messages and consumers kept), an executor leaves that to
the control plane, and a deployment too small for the count is refused in one clear sentence."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from cc_bus import (
    STREAMS,
    NatsAuth,
    ReplicasError,
    connect,
    ensure_consumer,
    ensure_streams,
    executor_local_consumer,
    planner_progress_consumer,
    projector_consumer,
)
from cc_bus.cluster_health import stream_health
from cc_bus.executor import executors_bucket
from cc_bus.permissions import EXECUTOR_LOCAL, PLANNER
from cc_bus.topology import kv_stream
from commandcenter.servers import NatsCluster, NatsServer
from commandcenter_contracts import subjects
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from tests.support.polling import eventually

pytestmark = pytest.mark.integration

NAMES = [spec.name for spec in STREAMS]


async def connect_as(cluster: NatsCluster, user: str, tmp_path: Path) -> Client:
    """Connect to every node as one of the services' NATS users, as the services do."""
    password_file = tmp_path / f"{user}.password"
    password_file.write_text(cluster.users[user])
    auth = NatsAuth(user=user, password_file=password_file)
    return await connect(cluster.url, name=f"test-{user}", auth=auth)


async def followers_of_consumer(js: JetStreamContext, stream: str, durable: str) -> int:
    info = await js.consumer_info(stream, durable)
    return len(info.cluster.replicas or []) if info.cluster is not None else 0


async def test_every_stream_and_bucket_gets_three_replicas_on_the_cluster(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    nc = await connect_as(nats_cluster, PLANNER, tmp_path)
    try:
        js = nc.jetstream()
        await ensure_streams(js, replicas=3)
        await ensure_consumer(js, planner_progress_consumer())
        await executors_bucket(js, replicas=3, update=True)
        for name in NAMES:
            health = await eventually(
                lambda n=name: _when_ok(js, n), within_s=30, what=f"{name} led, 2 followers"
            )
            assert health.replicas == 3
            assert health.leader in nats_cluster.names
            assert sorted([health.leader, *(f.name for f in health.followers)]) == [
                "n1",
                "n2",
                "n3",
            ]
        bucket = await js.stream_info(kv_stream(subjects.KV_EXECUTORS))
        assert bucket.config.num_replicas == 3
        # The durable follows its stream: two followers beside its leader.
        assert (
            await followers_of_consumer(
                js, subjects.STREAM_STATUS, subjects.CONSUMER_PLANNER_PROGRESS
            )
            == 2
        )
    finally:
        await nc.close()


async def _when_ok(js: JetStreamContext, name: str) -> object:
    health = await stream_health(js, name)
    return health if health.state == "ok" and len(health.followers) == 2 else None


async def test_existing_streams_are_raised_in_place_keeping_messages_and_consumers(
    nats_cluster: NatsCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    nc = await connect_as(nats_cluster, PLANNER, tmp_path)
    gateway = await connect_as(nats_cluster, "gateway", tmp_path)
    try:
        js = nc.jetstream()
        # A stack that ran with one replica: streams, a durable, a message in CC_STATUS.
        await ensure_streams(js, replicas=1)
        await ensure_consumer(js, planner_progress_consumer())
        await js.publish(subjects.status_subject("r1"), b"{}", headers={"Nats-Msg-Id": "m1"})
        before = await js.stream_info(subjects.STREAM_STATUS)
        assert before.config.num_replicas == 1

        caplog.set_level(logging.WARNING, logger="cc_bus.topology")
        await ensure_streams(js, replicas=3)  # the planner starting with CC_STREAM_REPLICAS=3
        said = [r.getMessage() for r in caplog.records]
        assert f"stream {subjects.STREAM_STATUS}: replicas 1 -> 3" in " ".join(said), said

        after = await eventually(
            lambda: _when_ok(js, subjects.STREAM_STATUS), within_s=30, what="CC_STATUS at R3"
        )
        assert after is not None
        info = await js.stream_info(subjects.STREAM_STATUS)
        assert info.state.messages == before.state.messages == 1
        await eventually(
            lambda: _consumer_followers(
                js, subjects.STREAM_STATUS, subjects.CONSUMER_PLANNER_PROGRESS, 2
            ),
            within_s=30,
            what="the planner's durable scaled with its stream",
        )
        # The gateway's durable, created after the change, is replicated from the start.
        gateway_js = gateway.jetstream()
        await ensure_consumer(gateway_js, projector_consumer())
        await eventually(
            lambda: _consumer_followers(
                gateway_js, subjects.STREAM_STATUS, subjects.CONSUMER_PROJECTOR, 2
            ),
            within_s=30,
            what="the projector's durable replicated",
        )
    finally:
        await nc.close()
        await gateway.close()


async def _consumer_followers(js: JetStreamContext, stream: str, durable: str, n: int) -> bool:
    return await followers_of_consumer(js, stream, durable) == n


async def test_an_executor_leaves_the_replica_count_to_the_control_plane(
    nats_cluster: NatsCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    planner = await connect_as(nats_cluster, PLANNER, tmp_path)
    executor = await connect_as(nats_cluster, EXECUTOR_LOCAL, tmp_path)
    try:
        await ensure_streams(planner.jetstream(), replicas=1)
        caplog.set_level(logging.INFO, logger="cc_bus.topology")
        js = executor.jetstream()
        # Its NATS user may not update a stream: it says so and goes on.
        await ensure_streams(js, update=False, replicas=3)
        await ensure_consumer(js, executor_local_consumer(ack_wait_s=30, max_deliver=5))
        tasks = await js.stream_info(subjects.STREAM_TASKS)
        assert tasks.config.num_replicas == 1
        assert "the control plane (gateway, planner) changes that" in caplog.text
        # And were it to try, the server would refuse: permissions hold on the cluster.
        with pytest.raises(NatsError):
            await js.update_stream(tasks.config.evolve(num_replicas=3))
    finally:
        await planner.close()
        await executor.close()


async def test_more_replicas_than_nodes_is_refused_in_one_clear_sentence(
    nats_server: NatsServer,
) -> None:
    nc = await connect(nats_server.url, name="test")
    try:
        with pytest.raises(ReplicasError) as refused:
            await ensure_streams(nc.jetstream(), replicas=3)
        message = str(refused.value)
        assert message.startswith("CC_STREAM_REPLICAS=3: JetStream cannot keep 3 replicas of")
        assert "at least 3 JetStream nodes" in message
        assert "--nats-cluster 3" in message
    finally:
        await nc.close()


async def test_raising_an_existing_stream_beyond_the_nodes_is_refused_too(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    nc = await connect_as(nats_cluster, PLANNER, tmp_path)
    try:
        js = nc.jetstream()
        await ensure_streams(js, replicas=3)
        with pytest.raises(ReplicasError, match="CC_STREAM_REPLICAS=5"):
            await ensure_streams(js, replicas=5)
        info = await js.stream_info(subjects.STREAM_TASKS)
        assert info.config.num_replicas == 3  # nothing half-changed
    finally:
        await nc.close()
