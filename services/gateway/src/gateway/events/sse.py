"""What both event streams share: the response headers, keep-alives, the NATS check."""

from __future__ import annotations

from litestar.response import ServerSentEventMessage
from nats.aio.client import Client

from gateway.domain_errors import Unavailable

SSE_HEADERS = {"X-Accel-Buffering": "no"}  # nginx & co.: do not buffer the stream


def keepalive() -> ServerSentEventMessage:
    return ServerSentEventMessage(data=None, comment="keep-alive")


def require_nats(nc: Client) -> None:
    # Streams are read from JetStream: without it, say so at once instead of timing out.
    if not nc.is_connected:
        raise Unavailable("NATS", "not connected")
