"""The caches PostgreSQL keeps honest: one connection of the gateway's own LISTENs on their
channels (reconnecting when it is lost) and tells each cache what changed.

A cache may trust what it holds only while that connection listens: a change made while
nobody listened was never heard. So each cache is told when listening starts and when it
stops (at start, after the connection was lost, at shutdown), and does the rest itself
(`TokenCache`, `ViewCache`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol

import asyncpg

log = logging.getLogger(__name__)

LISTENER_NAME = "cc-gateway-notifications"
"""The listener connection's `application_name` (what operators see in pg_stat_activity)."""
PING_S = 10.0
"""How often the idle connection is asked a `SELECT 1`: a connection lost without a word (a
half-open TCP connection) is not reported by asyncpg, and would be trusted for hours."""


class NotifiedCache(Protocol):
    @property
    def channel(self) -> str:
        """The channel its changes are told on (a trigger's `pg_notify`)."""
        ...

    def changed(self, key: str) -> None:
        """What the notification named changed: drop it."""

    def start_trusting(self) -> None:
        """Every change from now on is heard."""

    def stop_trusting(self) -> None:
        """Changes may go unheard from now on."""


class ChangeListener:
    """Keeps a connection LISTENing on every cache's channel and tells the caches."""

    def __init__(self, database_url: str, caches: Sequence[NotifiedCache]) -> None:
        self._database_url = database_url
        self._caches = {cache.channel: cache for cache in caches}
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="gateway-notifications")

    async def close(self) -> None:
        self._stop_trusting()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    async def _listen(self) -> None:
        delay = 0.5
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    self._database_url,
                    timeout=5.0,
                    server_settings={"application_name": LISTENER_NAME},
                )
                self._lost.clear()
                conn.add_termination_listener(lambda _conn: self._lost.set())
                for channel in self._caches:
                    await conn.add_listener(channel, self._notified)
                for cache in self._caches.values():
                    cache.start_trusting()
                delay = 0.5
                await self._until_lost(conn)
                log.warning("notifications: connection lost; the caches trust nothing meanwhile")
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("notifications: cannot listen (%s); retrying", exc)
            finally:
                self._stop_trusting()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=2)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _until_lost(self, conn: asyncpg.Connection) -> None:
        while True:
            try:
                await asyncio.wait_for(self._lost.wait(), timeout=PING_S)
                return
            except TimeoutError:
                await conn.fetchval("SELECT 1", timeout=5.0)  # raises when it is gone

    def _stop_trusting(self) -> None:
        for cache in self._caches.values():
            cache.stop_trusting()

    def _notified(self, _conn: object, _pid: int, channel: str, payload: object) -> None:
        cache = self._caches.get(channel)
        if cache is not None:
            cache.changed(str(payload))
