"""`cc_sse_clients`: the Server-Sent Event streams the gateway is serving now."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import TypeVar

from prometheus_client import Gauge

T = TypeVar("T")


@functools.cache
def sse_clients() -> Gauge:
    return Gauge("cc_sse_clients", "Server-Sent Event streams open now (events and logs).")


async def counted(stream: AsyncIterator[T]) -> AsyncIterator[T]:
    """`stream`, counted as open from its first read until it ends or the client leaves (the
    response closes the generator, which runs the `finally`)."""
    gauge = sse_clients()
    gauge.inc()
    try:
        async for item in stream:
            yield item
    finally:
        gauge.dec()
