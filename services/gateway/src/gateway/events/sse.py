"""What both event streams share: where they are read from, the response headers, keep-alives,
the NATS check."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from litestar.di import NamedDependency
from litestar.response import ServerSentEventMessage
from nats.aio.client import Client
from nats.js import JetStreamContext

from gateway.domain_errors import Unavailable
from gateway.events.hubs import Hubs
from gateway.settings import Settings

SSE_HEADERS = {"X-Accel-Buffering": "no"}  # nginx & co.: do not buffer the stream


@dataclass(frozen=True)
class Streams:
    """JetStream (the events, the log lines), the NATS client (is it connected?), the read
    model (does the run or task exist, is it over?), the settings (how often an idle stream
    says it is alive), the hubs (one subscription per run followed, shared by its clients).
    Its fields are the dependencies of the same names: handlers get one per request
    (`Provide(Streams)`)."""

    js: NamedDependency[JetStreamContext]
    nc: NamedDependency[Client]
    pool: NamedDependency[asyncpg.Pool]
    settings: NamedDependency[Settings]
    hubs: NamedDependency[Hubs]

    @property
    def keepalive_s(self) -> float:
        return self.settings.sse_keepalive_s


def keepalive() -> ServerSentEventMessage:
    return ServerSentEventMessage(data=None, comment="keep-alive")


def require_nats(nc: Client) -> None:
    # Streams are read from JetStream: without it, say so at once instead of timing out.
    if not nc.is_connected:
        raise Unavailable("NATS", "not connected")
