"""How healthy the JetStream under CommandCenter is: its meta leader, and each stream's
replicas and leader. `/ready` and `commandcenter preflight` show it.

Each stream's view comes from JetStream's own answer (`STREAM.INFO`): its leader and how
current each follower is. A stream with no leader has lost its quorum (more than half of its
replicas are gone): nothing can be written to it until enough nodes come back. The meta
leader is not in any client API answer; it comes from a node's monitoring endpoint (`/jsz`,
`CC_NATS_MONITOR_URL`) when one is configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.request
from typing import Any

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError, ServiceUnavailableError

from cc_bus.topology import STREAMS

CHECK_TIMEOUT_S = 3.0


class ReplicaHealth(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    """The node (its `server_name`)."""
    current: bool
    """Caught up with the leader."""
    lag: int = 0
    """Operations behind the leader."""


class StreamHealth(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    state: str
    """`ok`; `degraded: …` (writable, a follower is behind or gone); `no quorum: …` (not
    writable until nodes come back); `missing`; `error: …`."""
    replicas: int = 0
    """The replicas the stream is configured with."""
    leader: str | None = None
    followers: list[ReplicaHealth] = []

    @property
    def writable(self) -> bool:
        return self.state == "ok" or self.state.startswith("degraded")


class MetaHealth(msgspec.Struct, frozen=True, kw_only=True):
    leader: str | None = None
    """The JetStream meta leader (None: none elected, or not known)."""
    cluster_size: int = 1
    state: str = "ok"
    """`ok`, `standalone` (one server, no cluster), `no quorum: …`, `unknown: …`."""


def judge_stream(
    name: str, replicas: int, leader: str | None, followers: list[ReplicaHealth]
) -> StreamHealth:
    """A stream's state from what JetStream said of it (pure: the rules, tested alone)."""
    if replicas > 1 and leader is None:
        return StreamHealth(
            name=name,
            state=f"no quorum: no leader among its {replicas} replicas; writes wait until "
            f"{replicas // 2 + 1} of them are up",
            replicas=replicas,
            followers=followers,
        )
    behind = [f.name for f in followers if not f.current]
    missing = max(0, replicas - 1 - len(followers))
    if behind or missing:
        what = [f"{', '.join(behind)} not current" if behind else ""]
        what += [f"{missing} replica(s) not placed" if missing else ""]
        state = "degraded: " + "; ".join(w for w in what if w)
    else:
        state = "ok"
    return StreamHealth(
        name=name, state=state, replicas=replicas, leader=leader, followers=followers
    )


async def stream_health(js: JetStreamContext, name: str) -> StreamHealth:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            info = await js.stream_info(name)
    except NotFoundError:
        return StreamHealth(name=name, state="missing")
    except (TimeoutError, ServiceUnavailableError):
        return StreamHealth(
            name=name,
            state="no quorum: JetStream did not answer for it (the cluster has lost a "
            "majority of its nodes, or is electing a leader)",
        )
    except Exception as exc:
        return StreamHealth(name=name, state=f"error: {type(exc).__name__}: {exc}"[:300])
    replicas = info.config.num_replicas or 1
    cluster = info.cluster
    leader = cluster.leader if cluster is not None else None
    followers = [
        ReplicaHealth(
            name=peer.name or "?",
            current=bool(peer.current) and not peer.offline,
            lag=peer.lag or 0,
        )
        for peer in (cluster.replicas or [] if cluster is not None else [])
    ]
    if cluster is None or (replicas == 1 and leader is None):
        leader = leader or "(standalone)"
    return judge_stream(name, replicas, leader, followers)


async def streams_health(js: JetStreamContext) -> list[StreamHealth]:
    return list(await asyncio.gather(*(stream_health(js, spec.name) for spec in STREAMS)))


def _jsz(base_url: str) -> dict[str, Any]:
    url = f"{base_url.rstrip('/')}/jsz"
    with urllib.request.urlopen(url, timeout=CHECK_TIMEOUT_S) as response:
        page: dict[str, Any] = json.loads(response.read())
    return page


def meta_from_jsz(page: dict[str, Any]) -> MetaHealth:
    meta = page.get("meta_cluster")
    if not meta:
        return MetaHealth(state="standalone")
    size = int(meta.get("cluster_size") or 1)
    leader = meta.get("leader") or None
    if leader is None:
        needed = int(meta.get("quorum_needed") or size // 2 + 1)
        return MetaHealth(
            cluster_size=size,
            state=f"no quorum: no meta leader; JetStream needs {needed} of its {size} nodes",
        )
    return MetaHealth(leader=str(leader), cluster_size=size)


async def meta_health(monitor_urls: tuple[str, ...]) -> MetaHealth:
    """From the first node whose monitoring endpoint answers (nodes that are down do not)."""
    if not monitor_urls:
        return MetaHealth(state="unknown: CC_NATS_MONITOR_URL is not set")
    for url in monitor_urls:
        with contextlib.suppress(OSError, ValueError):
            return meta_from_jsz(await asyncio.to_thread(_jsz, url))
    return MetaHealth(state=f"unknown: no monitoring endpoint answered ({', '.join(monitor_urls)})")
