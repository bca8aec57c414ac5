"""At most `CC_SSE_MAX_PER_TOKEN` event streams open at once per token (per gateway process):
one leaked script cannot hold every connection. The next one is a 429 saying so.

A handler takes a slot before it opens its stream (`async with limiter.slot(key) as slot`)
and hands the stream to `slot.hold`, which gives the slot back when the stream ends, the
client leaves, or the response never started (the slot also goes back when the unstarted
stream is dropped).
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TypeVar

from litestar.exceptions import TooManyRequestsException

T = TypeVar("T")


class Slot:
    def __init__(self, limiter: SseLimiter, key: str) -> None:
        self._limiter = limiter
        self._key = key
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._limiter.give_back(self._key)

    def hold(self, stream: AsyncIterator[T]) -> AsyncIterator[T]:
        """`stream`, holding this slot until it is over."""

        async def held() -> AsyncIterator[T]:
            try:
                async for item in stream:
                    yield item
            finally:
                self.release()

        wrapped = held()
        weakref.finalize(wrapped, self.release)  # an unstarted generator runs no `finally`
        return wrapped


class SseLimiter:
    def __init__(self, max_per_key: int) -> None:
        self.max_per_key = max_per_key
        self._open: dict[str, int] = {}

    def open_streams(self, key: str) -> int:
        return self._open.get(key, 0)

    def take(self, key: str) -> Slot:
        if self.open_streams(key) >= self.max_per_key:
            raise TooManyRequestsException(
                detail=f"{self.max_per_key} event streams are open with this token already "
                "(CC_SSE_MAX_PER_TOKEN): close one first",
                headers={"Retry-After": "5"},
            )
        self._open[key] = self.open_streams(key) + 1
        return Slot(self, key)

    def give_back(self, key: str) -> None:
        left = self.open_streams(key) - 1
        if left > 0:
            self._open[key] = left
        else:
            self._open.pop(key, None)

    @asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[Slot]:
        """A slot for a stream about to open; given back at once if opening it fails."""
        taken = self.take(key)
        try:
            yield taken
        except BaseException:
            taken.release()
            raise


class StreamGate:
    """What an event-stream handler gets (`sse_gate`): the app's limiter and the caller's key
    (the token's id; with CC_AUTH=off, the client's address)."""

    def __init__(self, limiter: SseLimiter, key: str) -> None:
        self.limiter = limiter
        self.key = key

    def slot(self) -> AbstractAsyncContextManager[Slot]:
        return self.limiter.slot(self.key)


def gate_for(limiter: SseLimiter, token_id: str | None, client_host: str | None) -> StreamGate:
    return StreamGate(limiter, token_id or f"client {client_host or 'unknown'}")
