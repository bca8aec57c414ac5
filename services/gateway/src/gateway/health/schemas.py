"""The bodies of readiness and the executor list."""

from __future__ import annotations

import msgspec
from cc_bus.cluster_health import MetaHealth, StreamHealth
from commandcenter_contracts import ExecutorInfo


class JetStreamHealth(msgspec.Struct, frozen=True, kw_only=True):
    meta: MetaHealth
    """The meta leader (it places streams and consumers) and the cluster's size."""
    streams: list[StreamHealth]
    """Each stream's replicas, leader and followers, and whether it can be written."""


class Readiness(msgspec.Struct, frozen=True, kw_only=True):
    nats: str
    postgres: str
    streams: str
    """`ok`, or which streams are missing or have no quorum."""
    jetstream: JetStreamHealth | None = None
    executors: list[ExecutorInfo] = []
    """The executors alive now: their mode, slots, agents (for Claude: the CLI's version and
    the name of the credential it uses), as they announce themselves."""


class ExecutorList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[ExecutorInfo]
    count: int
