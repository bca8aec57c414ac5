"""The bodies of readiness and the executor list."""

from __future__ import annotations

import msgspec
from commandcenter_contracts import ExecutorInfo


class Readiness(msgspec.Struct, frozen=True, kw_only=True):
    nats: str
    postgres: str
    streams: str
    executors: list[ExecutorInfo] = []
    """The executors alive now: their mode, slots, agents (for Claude: the CLI's version and
    the name of the credential it uses), as they announce themselves."""


class ExecutorList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[ExecutorInfo]
    count: int
