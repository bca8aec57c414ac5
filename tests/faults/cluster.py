"""The JetStream cluster under a fault stack (`FaultStack.start(nats_cluster=3)`): which node
leads a stream or the meta layer, bringing a node back, and waiting until it has caught up.

Leaders come from JetStream's own answers: a stream's from `STREAM.INFO` (`cluster.leader`),
the meta leader from a live node's `/jsz`. A node that came back has caught up once, for every
replicated stream, the leader lists it as current with no lag and the node's own store
(its `/jsz`) holds the leader's last sequence.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from commandcenter.servers import NatsCluster, NatsServer
from nats.js import JetStreamContext

from tests.faults.harness import FaultStack
from tests.support.polling import eventually

CLUSTER_SIZE = 3


def cluster_of(fs: FaultStack) -> NatsCluster:
    nats = fs.stack.nats
    assert isinstance(nats, NatsCluster), f"not a cluster: {nats!r}"
    return nats


@dataclass(frozen=True)
class Election:
    """A leader, and how long the wait for it took (from the call, or from `since`)."""

    leader: str
    seconds: float


async def stream_leader(
    cluster: NatsCluster,
    stream: str,
    *,
    other_than: str | None = None,
    since: float | None = None,
    within_s: float = 60,
) -> Election:
    """Until a live node says `stream` has a leader (one that is not `other_than`: a new one
    after a kill). Asked of the nodes' monitoring endpoints, not by a JetStream request: a
    request routed to a dead leader would wait out its timeout and blur the election time.
    `since`: a `time.monotonic()` the election time is measured from (the kill)."""
    start = since if since is not None else time.monotonic()

    def elected() -> str | None:
        leader = _stream_leader_seen(cluster, stream)
        return leader if leader and leader != other_than else None

    leader: str = await eventually(
        lambda: asyncio.to_thread(elected),
        within_s=within_s,
        what=f"a leader of {stream}" + (f" other than {other_than}" if other_than else ""),
        interval_s=0.1,
    )
    return Election(leader, time.monotonic() - start)


def _stream_leader_seen(cluster: NatsCluster, stream: str) -> str | None:
    """The leader of `stream` as the first running node that knows one says."""
    for node in cluster.nodes:
        if not node.running:
            continue
        with contextlib.suppress(OSError, ValueError):
            for account in node.monitor("jsz?streams=true").get("account_details") or []:
                for detail in account.get("stream_detail") or []:
                    leader = (detail.get("cluster") or {}).get("leader")
                    if detail.get("name") == stream and leader:
                        return str(leader)
    return None


async def move_stream_leader(
    js: JetStreamContext, stream: str, to: str, *, within_s: float = 60
) -> None:
    """Until `to` leads `stream`: the leader steps down with `to` as the preferred successor
    (JetStream's placement preference), again if the election went elsewhere."""
    nc = js._nc  # the JetStream context's connection (nats-py has no public accessor)
    request = json.dumps({"placement": {"preferred": to}}).encode()

    async def leader() -> str | None:
        info = await js.stream_info(stream)
        return info.cluster.leader if info.cluster is not None else None

    async def moved() -> bool:
        if await leader() == to:
            return True
        await nc.request(f"$JS.API.STREAM.LEADER.STEPDOWN.{stream}", request, timeout=5)
        return await leader() == to

    await eventually(moved, within_s=within_s, what=f"{to} leading {stream}", interval_s=0.5)


def known_meta_leader(cluster: NatsCluster) -> str | None:
    """The meta leader as the first running node that answers knows it."""
    for node in cluster.nodes:
        if node.running:
            with contextlib.suppress(OSError, ValueError):
                leader = node.meta_leader()
                if leader:
                    return leader
    return None


async def meta_leader(
    cluster: NatsCluster,
    *,
    other_than: str | None = None,
    since: float | None = None,
    within_s: float = 60,
) -> Election:
    """Until the live nodes know a meta leader (not `other_than`)."""
    start = since if since is not None else time.monotonic()

    def elected() -> str | None:
        leader = known_meta_leader(cluster)
        return leader if leader != other_than else None

    leader: str = await eventually(
        lambda: asyncio.to_thread(elected),
        within_s=within_s,
        what="a meta leader" + (f" other than {other_than}" if other_than else ""),
        interval_s=0.1,
    )
    return Election(leader, time.monotonic() - start)


def clients_of(node: NatsServer) -> list[str]:
    """The names of the client connections a node holds (`cc-gateway`, …)."""
    connections = node.monitor("connz?limit=1024").get("connections") or []
    return sorted(str(c.get("name") or "?") for c in connections)


async def restart(node: NatsServer, *, within_s: float = 60) -> None:
    """Start a stopped or killed node again on its ports and store, and wait until it is up and
    knows the meta leader. Launched on this (the main) thread: nats-server dies with the thread
    that started it."""
    node.launch()
    await asyncio.to_thread(node.wait_healthy, within_s)


async def replicated_streams(js: JetStreamContext) -> list[str]:
    return sorted(
        info.config.name
        for info in await js.streams_info()
        if info.config.name and (info.config.num_replicas or 1) > 1
    )


async def wait_caught_up(
    js: JetStreamContext, node: NatsServer, *, within_s: float = 90
) -> list[str]:
    """Until `node` holds a current replica of every replicated stream: the stream's leader
    lists it as current with no lag (or it leads), and its own store has the leader's last
    sequence. The streams it was checked on."""

    async def lagging() -> list[str]:
        streams = await replicated_streams(js)
        assert streams, "no replicated stream: is CC_STREAM_REPLICAS set?"
        infos = [await js.stream_info(name) for name in streams]
        # Read after the leaders answered: the node must hold at least what they had then.
        local = await asyncio.to_thread(_local_last_seqs, node)
        behind = []
        for name, info in zip(streams, infos, strict=True):
            assert info.cluster is not None, f"{name}: no cluster information"
            peer = {p.name: p for p in info.cluster.replicas or []}.get(node.name)
            if info.cluster.leader != node.name and (
                peer is None or not peer.current or peer.offline or peer.lag
            ):
                behind.append(f"{name}: {peer!r}")
            elif local.get(name, 0) < info.state.last_seq:
                behind.append(f"{name}: holds seq {local.get(name)} of {info.state.last_seq}")
        assert not behind, f"{node.name} is behind on " + "; ".join(behind)
        return streams

    streams: list[str] = await eventually(
        lagging, within_s=within_s, what=f"{node.name} caught up", interval_s=0.3
    )
    return streams


def _local_last_seqs(node: NatsServer) -> dict[str, int]:
    """Each stream's last sequence in the node's own store."""
    page: dict[str, Any] = node.monitor("jsz?streams=true")
    found: dict[str, int] = {}
    for account in page.get("account_details") or []:
        for stream in account.get("stream_detail") or []:
            found[str(stream["name"])] = int(stream.get("state", {}).get("last_seq") or 0)
    return found


def other_nodes(cluster: NatsCluster, *names: str) -> list[NatsServer]:
    return [node for node in cluster.nodes if node.name not in names]


def names(nodes: Iterable[NatsServer]) -> str:
    return ", ".join(node.name for node in nodes)
