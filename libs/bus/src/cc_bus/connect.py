"""One way to connect to NATS for every service (reconnect forever, with a name), to close
the connection, and to run a service until it is signalled to stop."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import Protocol

import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError

log = logging.getLogger(__name__)


async def connect(url: str, *, name: str) -> Client:
    async def on_disconnect() -> None:
        log.warning("nats: disconnected from %s", url)

    async def on_reconnect() -> None:
        log.info("nats: reconnected to %s", url)

    async def on_error(exc: Exception) -> None:
        log.warning("nats: %s", exc)

    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        allow_reconnect=True,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
        error_cb=on_error,
    )


async def close(nc: Client | None) -> None:
    """Drain (what was published gets flushed), or just close when NATS is unreachable."""
    if nc is None or nc.is_closed:
        return
    try:
        await nc.drain()
    except NatsError as exc:  # NATS unreachable right now: nothing left to flush
        log.warning("closing the NATS connection: %s", exc)
        await nc.close()


class Service(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def run_until_signalled(
    service: Service, work: Callable[[], asyncio.Task[None] | None] = lambda: None
) -> None:
    """Start the service, serve until SIGTERM/SIGINT, stop it. `work` (asked after start) is
    the service's main loop, if it has one: when it ends by itself, its error is raised."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await service.start()
        stopping = asyncio.create_task(stop.wait())
        main = work()
        await asyncio.wait({stopping} | ({main} if main else set()), return_when="FIRST_COMPLETED")
        stopping.cancel()
        if main is not None and main.done() and not stop.is_set():
            main.result()  # the main loop died: raise its error
            raise RuntimeError("the service's main loop ended by itself")
    finally:
        await service.stop()
