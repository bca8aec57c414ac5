"""The gateway's hubs, one per followed subject: made by the first client, closed when the
last one leaves (or the gateway stops)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from nats.js import JetStreamContext

from gateway.events.hub import Hub, Tap


class Hubs:
    def __init__(self, js: JetStreamContext, max_behind: int) -> None:
        self.js = js
        self.max_behind = max_behind
        self._hubs: dict[str, Hub] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._hubs)

    def get(self, stream: str, subject: str) -> Hub | None:
        return self._hubs.get(_key(stream, subject))

    @contextlib.asynccontextmanager
    async def tap(
        self, stream: str, subject: str, after_seq: int, *, known_seq: int
    ) -> AsyncIterator[Tap]:
        """A place in the subject's hub for a client that has seen everything up to
        `after_seq`. `known_seq`: a sequence of the subject's newest event (or 0): where a new
        hub starts. Raises what subscribing raised when the hub cannot start."""
        hub = self._hubs.get(_key(stream, subject))
        if hub is None or hub.failed:
            hub = Hub(self.js, stream, subject, known_seq, self.max_behind)
            self._hubs[_key(stream, subject)] = hub
        hub.users += 1
        tap: Tap | None = None
        try:
            await asyncio.shield(hub.started)
            tap = hub.join(after_seq)
            yield tap
        finally:
            if tap is not None:
                hub.taps.discard(tap)
            hub.users -= 1
            if hub.users == 0:
                self._close(hub)

    def _close(self, hub: Hub) -> None:
        """Closed in the background: this runs where a client left, often a cancelled scope."""
        key = _key(hub.stream, hub.subject)
        if self._hubs.get(key) is hub:
            del self._hubs[key]
        task = asyncio.get_running_loop().create_task(hub.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """The gateway stops: every client's stream ends, every subscription goes."""
        for hub in list(self._hubs.values()):
            hub.fail()
            self._close(hub)
        if self._closing:
            await asyncio.wait(set(self._closing), timeout=10)


def _key(stream: str, subject: str) -> str:
    return f"{stream} {subject}"
