"""What `/ready` and `preflight` say of JetStream: the rules alone, then a real three-node
cluster losing one node (degraded, still writable) and then two (no quorum, said so)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cc_bus import NatsAuth, connect, ensure_streams, why_not_stored
from cc_bus.cluster_health import (
    ReplicaHealth,
    StreamHealth,
    judge_stream,
    meta_from_jsz,
    meta_health,
    stream_health,
)
from cc_bus.connect import redact_url, server_urls
from cc_bus.permissions import OPERATOR
from commandcenter.servers import NatsCluster, NatsServer
from commandcenter_contracts import SettingsError, subjects
from nats.js.errors import NoStreamResponseError

from tests.support.polling import eventually

# --- the rules --------------------------------------------------------------------------------


def test_a_replicated_stream_without_a_leader_has_no_quorum() -> None:
    health = judge_stream("CC_TASKS", 3, None, [ReplicaHealth(name="n3", current=True)])
    assert health.state.startswith("no quorum")
    assert "2 of them" in health.state
    assert not health.writable


def test_a_follower_behind_or_missing_is_degraded_but_writable() -> None:
    behind = judge_stream(
        "CC_TASKS",
        3,
        "n1",
        [ReplicaHealth(name="n2", current=False, lag=4), ReplicaHealth(name="n3", current=True)],
    )
    assert behind.state == "degraded: n2 not current"
    assert behind.writable
    unplaced = judge_stream("CC_TASKS", 3, "n1", [ReplicaHealth(name="n2", current=True)])
    assert unplaced.state == "degraded: 1 replica(s) not placed"
    healthy = judge_stream(
        "CC_TASKS",
        3,
        "n1",
        [ReplicaHealth(name="n2", current=True), ReplicaHealth(name="n3", current=True)],
    )
    assert healthy.state == "ok"
    assert judge_stream("CC_TASKS", 1, "(standalone)", []).state == "ok"


def test_the_meta_leader_comes_from_jsz() -> None:
    assert meta_from_jsz({"server_id": "x"}).state == "standalone"
    led = meta_from_jsz({"meta_cluster": {"leader": "n2", "cluster_size": 3}})
    assert (led.leader, led.cluster_size, led.state) == ("n2", 3, "ok")
    lost = meta_from_jsz({"meta_cluster": {"cluster_size": 3, "quorum_needed": 2}})
    assert lost.leader is None
    assert lost.state == "no quorum: no meta leader; JetStream needs 2 of its 3 nodes"


def test_a_url_list_is_split_and_each_password_redacted() -> None:
    urls = "nats://u:secret@a:4222, nats://u:secret@b:4222,"
    assert server_urls(urls) == ["nats://u:secret@a:4222", "nats://u:secret@b:4222"]
    assert redact_url(urls) == "nats://u:***@a:4222,nats://u:***@b:4222"
    with pytest.raises(SettingsError, match="CC_NATS_URL is empty"):
        server_urls(" , ")


def test_a_publish_nothing_stored_is_said_as_a_quorum_problem() -> None:
    assert "no quorum" in why_not_stored(NoStreamResponseError())
    assert why_not_stored(OSError("refused")) == "OSError: refused"


# --- against nats-server -----------------------------------------------------------------------


@pytest.mark.integration
async def test_a_standalone_server_reports_standalone(nats_server: NatsServer) -> None:
    nc = await connect(nats_server.url, name="test")
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        health = await stream_health(js, subjects.STREAM_TASKS)
        assert (health.state, health.replicas, health.followers) == ("ok", 1, [])
        assert health.leader  # the server's name (its id when it has none)
        meta = await meta_health((f"http://127.0.0.1:{nats_server.monitor_port}",))
        assert meta.state == "standalone"
        assert (await meta_health(())).state == "unknown: CC_NATS_MONITOR_URL is not set"
    finally:
        await nc.close()


@pytest.mark.integration
async def test_losing_one_node_degrades_and_losing_two_loses_quorum(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    password = tmp_path / "operator.password"
    password.write_text(nats_cluster.users[OPERATOR])
    nc = await connect(
        nats_cluster.url, name="test", auth=NatsAuth(user=OPERATOR, password_file=password)
    )
    monitors = tuple(nats_cluster.monitor_urls)
    try:
        js = nc.jetstream(timeout=2)
        await ensure_streams(js, replicas=3)

        async def tasks_health() -> StreamHealth:
            return await stream_health(js, subjects.STREAM_TASKS)

        healthy = await eventually(
            lambda: _state_is(tasks_health, "ok"), within_s=30, what="CC_TASKS at R3, ok"
        )
        assert healthy.replicas == 3
        meta = await meta_health(monitors)
        assert meta.leader in nats_cluster.names and meta.cluster_size == 3

        # One node down: a follower is gone, the stream is still writable.
        follower = nats_cluster.node(healthy.followers[0].name)
        follower.kill()
        degraded = await eventually(
            lambda: _state_is(tasks_health, "degraded"), within_s=30, what="CC_TASKS degraded"
        )
        assert degraded.writable and follower.name in degraded.state

        # Two down: no quorum, and the answer says so instead of "ok".
        nats_cluster.node(str(healthy.leader)).kill()
        lost = await eventually(
            lambda: _state_is(tasks_health, "no quorum"), within_s=60, what="CC_TASKS no quorum"
        )
        assert not lost.writable
        meta_lost = await eventually(
            lambda: _meta_state_is(monitors, "no quorum"), within_s=30, what="no meta leader"
        )
        assert meta_lost.leader is None

        # One back: a quorum again, a leader again.
        follower.start()
        await eventually(
            lambda: _writable(tasks_health), within_s=60, what="CC_TASKS writable again"
        )
    finally:
        await nc.close()


async def _state_is(health: object, prefix: str) -> StreamHealth | None:
    found: StreamHealth = await health()  # type: ignore[operator]
    return found if found.state.startswith(prefix) else None


async def _writable(health: object) -> StreamHealth | None:
    found: StreamHealth = await health()  # type: ignore[operator]
    return found if found.writable else None


async def _meta_state_is(monitors: tuple[str, ...], prefix: str) -> object:
    meta = await meta_health(monitors)
    return meta if meta.state.startswith(prefix) else None


def test_credentials_in_the_url_become_options_for_every_server() -> None:
    from cc_bus.connect import url_credentials

    assert url_credentials("nats://u%40x:p%3Aw@a:4222,nats://b:4222") == {
        "user": "u@x",
        "password": "p:w",
    }
    assert url_credentials("nats://s3cret@a:4222") == {"token": "s3cret"}
    assert url_credentials("nats://a:4222") == {}
