"""A publish sent while its stream's leader is dead: `cc_bus.publish` sends it again (same
Nats-Msg-Id) until the new leader stores it, instead of failing with the lost request."""

from __future__ import annotations

from pathlib import Path

import pytest
from cc_bus import NatsAuth, connect, publish
from cc_bus.consume import acknowledge
from cc_bus.permissions import OPERATOR
from commandcenter.servers import NatsCluster
from commandcenter_contracts import RunStarted
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, RetentionPolicy
from nats.js.errors import BadRequestError

from tests.support.polling import eventually

pytestmark = pytest.mark.integration


async def test_a_publish_outlives_its_stream_leader_and_is_stored_once(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    password = tmp_path / "operator.password"
    password.write_text(nats_cluster.users[OPERATOR])
    nc = await connect(
        nats_cluster.url, name="test", auth=NatsAuth(user=OPERATOR, password_file=password)
    )
    try:
        js = nc.jetstream()

        async def placed() -> bool | None:
            try:
                await js.add_stream(name="FAILOVER", subjects=["failover.>"], num_replicas=3)
            except BadRequestError as exc:
                if exc.err_code != 10005:  # "no suitable peers": a peer not yet seen current
                    raise
                return None
            return True

        await eventually(placed, what="the R3 stream placed")
        info = await js.stream_info("FAILOVER")
        assert info.cluster is not None and info.cluster.leader
        dead = info.cluster.leader
        nats_cluster.node(dead).kill()

        # No leader yet: the first attempts go unanswered until the survivors elect one.
        event = RunStarted(run_id="00000000-0000-0000-0000-000000000001")
        ack = await publish(js, "failover.one", event, msg_id=event.event_id, timeout=30)
        again = await publish(js, "failover.one", event, msg_id=event.event_id, timeout=30)

        after = await js.stream_info("FAILOVER")
        assert after.cluster is not None and after.cluster.leader not in (None, dead)
        assert (ack.stream, ack.seq, again.duplicate) == ("FAILOVER", 1, True)
        assert after.state.messages == 1
    finally:
        await nc.close()


async def test_an_ack_outlives_its_consumer_leader(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    """One-at-a-time consumer, a minute of ack wait: when the node leading the consumer dies
    as the message is acked, `acknowledge` repeats the ack until the new leader confirms it,
    so the next message comes now, not after the ack wait (a plain ack would be lost)."""
    password = tmp_path / "operator.password"
    password.write_text(nats_cluster.users[OPERATOR])
    nc = await connect(
        nats_cluster.url, name="test", auth=NatsAuth(user=OPERATOR, password_file=password)
    )
    try:
        js = nc.jetstream()
        await js.add_stream(
            name="ACKS", subjects=["acks.>"], num_replicas=3, retention=RetentionPolicy.WORK_QUEUE
        )
        await js.add_consumer(
            "ACKS",
            ConsumerConfig(durable_name="one", ack_wait=60, max_ack_pending=1, num_replicas=0),
        )
        for n in (1, 2):
            await publish(js, "acks.x", RunStarted(run_id=f"run-{n}"), msg_id=f"m{n}")
        sub = await js.pull_subscribe_bind("one", stream="ACKS")
        [first] = await sub.fetch(1, timeout=10)
        leader = (await js.consumer_info("ACKS", "one")).cluster
        assert leader is not None and leader.leader
        nats_cluster.node(leader.leader).kill()

        await acknowledge(first, label="test", within_s=60)

        # Well inside the minute of ack wait a lost ack would cost (asked again while the
        # consumer has no leader yet).
        second = await eventually(
            lambda: _one(sub), within_s=30, what="the next message before the ack wait"
        )
        assert b"run-2" in second.data
        assert second.metadata.num_delivered == 1
        await acknowledge(second, label="test", within_s=60)
        info = await js.consumer_info("ACKS", "one")
        assert info.num_ack_pending == 0 and info.num_redelivered == 0
    finally:
        await nc.close()


async def _one(sub: JetStreamContext.PullSubscription) -> Msg:
    [msg] = await sub.fetch(1, timeout=2)
    return msg
