"""Tokens this gateway found recently, so that most requests do not look theirs up again.

A cached token is trusted only while the gateway hears every revocation: PostgreSQL tells it
on the `cc_token_revoked` channel (a trigger on `api_tokens`, migration 0007, whoever revokes),
and `gateway.notifications.ChangeListener` drops the token at once. While the listener is not
connected (at start, after its connection was lost) nothing is served from the cache: every
request asks PostgreSQL, as it did before the cache. Entries also expire after `ttl_s`, so a
notification lost in some way nobody foresaw costs at most that long.

A lookup that raced a revocation (read from PostgreSQL just before it, put here just after its
notification) must not be cached: `generation` moves on every notification, and a lookup is
stored only if it did not move while the lookup ran.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from gateway.auth.store import TokenRecord

CHANNEL = "cc_token_revoked"
TTL_S = 30.0
MAX_ENTRIES = 10_000


class TokenCache:
    channel = CHANNEL

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

    def changed(self, token_id: str) -> None:
        """The token was revoked, deleted or given other scopes."""
        self.generation += 1
        for digest in [d for d, (r, _) in self._entries.items() if r.id == token_id]:
            del self._entries[digest]

    def start_trusting(self) -> None:
        self.generation += 1  # a lookup from before may have missed a revocation
        self.listening = True

    def stop_trusting(self) -> None:
        """Revocations may go unheard from now on: forget everything, cache nothing."""
        self.listening = False
        self.generation += 1
        self._entries.clear()
