"""Tokens this gateway found recently, so that most requests do not look theirs up again.

A cached token is trusted only while the gateway hears every revocation: PostgreSQL tells it
on the `cc_token_revoked` channel (a trigger on `api_tokens`, migration 0007, whoever revokes),
and `RevocationListener` drops the token at once. While the listener is not connected (at
start, after its connection was lost) nothing is served from the cache: every request asks
PostgreSQL, as it did before the cache. Entries also expire after `ttl_s`, so a notification
lost in some way nobody foresaw costs at most that long.

A lookup that raced a revocation (read from PostgreSQL just before it, put here just after its
notification) must not be cached: `generation` moves on every notification, and a lookup is
stored only if it did not move while the lookup ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict

import asyncpg

from gateway.auth.store import TokenRecord

log = logging.getLogger(__name__)

CHANNEL = "cc_token_revoked"
LISTENER_NAME = "cc-gateway-token-revocations"
"""The listener connection's `application_name` (what operators see in pg_stat_activity)."""
TTL_S = 30.0
MAX_ENTRIES = 10_000


class TokenCache:
    def __init__(self, *, ttl_s: float = TTL_S, max_entries: int = MAX_ENTRIES) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._entries: OrderedDict[bytes, tuple[TokenRecord, float]] = OrderedDict()
        self.generation = 0
        self.listening = False

    def get(self, digest: bytes) -> TokenRecord | None:
        if not self.listening:
            return None
        found = self._entries.get(digest)
        if found is None:
            return None
        record, expires = found
        if time.monotonic() >= expires:
            del self._entries[digest]
            return None
        return record

    def put(self, digest: bytes, record: TokenRecord, generation: int) -> None:
        """Keep what a lookup that started at `generation` found (not if a revocation came
        in meanwhile, or nobody listens for them)."""
        if not self.listening or generation != self.generation:
            return
        self._entries[digest] = (record, time.monotonic() + self._ttl_s)
        self._entries.move_to_end(digest)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def revoked(self, token_id: str) -> None:
        self.generation += 1
        for digest in [d for d, (r, _) in self._entries.items() if r.id == token_id]:
            del self._entries[digest]

    def stop_trusting(self) -> None:
        """Revocations may go unheard from now on: forget everything, cache nothing."""
        self.listening = False
        self.generation += 1
        self._entries.clear()


class RevocationListener:
    """Keeps a connection of its own LISTENing on `CHANNEL` (reconnecting when it is lost) and
    tells the cache; the cache is used only while it listens."""

    def __init__(self, database_url: str, cache: TokenCache) -> None:
        self._database_url = database_url
        self._cache = cache
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="gateway-token-revocations")

    async def close(self) -> None:
        self._cache.stop_trusting()
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
                await conn.add_listener(CHANNEL, self._notified)
                self._cache.listening = True
                delay = 0.5
                await self._lost.wait()
                log.warning("token revocations: connection lost; checking every token again")
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("token revocations: cannot listen (%s); retrying", exc)
            finally:
                self._cache.stop_trusting()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=2)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _notified(self, _conn: object, _pid: int, _channel: str, token_id: object) -> None:
        self._cache.revoked(str(token_id))
