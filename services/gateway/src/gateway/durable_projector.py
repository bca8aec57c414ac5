"""A durable JetStream consumer that writes each message into PostgreSQL: the loop shared by
the status projector (`projector.Projector`) and the dead-letter projector
(`dead_letters.DeadLetterProjector`).

Delivery rules:
- a message is acked only after its transaction commits, so a crash loses nothing (the server
  redelivers) and a redelivery changes nothing (projections are idempotent by id);
- PostgreSQL unavailable (any error but bad data): the same message is retried with backoff,
  with in-progress acks so the server does not hand it out again meanwhile; the loop never
  gives up and never dies;
- a message that cannot be decoded, or that the read model cannot hold, is handed to
  `_reject` (which dead-letters it, or drops it when it already is a dead letter) and
  terminated: it would fail the same way forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import asyncpg
import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from gateway.db.errors import is_bad_data

log = logging.getLogger(__name__)

T = TypeVar("T")


class Unprojectable(ValueError):
    """This message can never be projected (undecodable, or values the read model refuses)."""


@dataclass
class ProjectorStats:
    projected: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    db_retries: int = 0


class DurableProjector(Generic[T]):
    """Subclasses name the stream and durable and say how to decode, apply and reject."""

    stream: str
    durable: str

    def __init__(
        self,
        js: JetStreamContext,
        pool: asyncpg.Pool,
        *,
        batch_size: int = 64,
        fetch_timeout_s: float = 1.0,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._js = js
        self._pool = pool
        self._batch_size = batch_size
        self._fetch_timeout_s = fetch_timeout_s
        self._max_backoff_s = max_backoff_s
        self._stopping = asyncio.Event()
        self.stats = ProjectorStats()

    # --- what subclasses provide --------------------------------------------------------------
    def _decode(self, msg: Msg) -> T:
        """The message as what `_apply` takes; `Unprojectable` when it can never be."""
        raise NotImplementedError

    async def _apply(self, conn: asyncpg.Connection, item: T, msg: Msg) -> bool:
        """Write `item` in the caller's transaction; False when it was there already."""
        raise NotImplementedError

    async def _reject(self, msg: Msg, error: str) -> None:
        """Deal with a message that can never be projected (then it is terminated)."""
        raise NotImplementedError

    def _context(self, item: T) -> dict[str, object]:
        """Log context of an item (e.g. its run id)."""
        return {}

    # --- the loop ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Consume until `stop()`; every error is logged and retried, never raised."""
        sub: JetStreamContext.PullSubscription | None = None
        backoff = 0.2
        while not self._stopping.is_set():
            try:
                if sub is None:
                    sub = await self._js.pull_subscribe_bind(
                        durable=self.durable, stream=self.stream
                    )
                try:
                    messages = await sub.fetch(self._batch_size, timeout=self._fetch_timeout_s)
                except nats.errors.TimeoutError:
                    continue
                for i, msg in enumerate(messages):
                    if self._stopping.is_set():
                        break  # unacked: redelivered to whoever runs next
                    await self._handle(msg, waiting=messages[i + 1 :])
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "%s: %s: %s; retry in %.1fs", self.durable, type(exc).__name__, exc, backoff
                )
                await self._sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff_s)
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    def stop(self) -> None:
        self._stopping.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _handle(self, msg: Msg, waiting: Sequence[Msg] = ()) -> None:
        """Project one message; `waiting` are the rest of its batch, kept from redelivery while
        this one waits for the database (so the order of projection stays the stream's)."""
        try:
            item = self._decode(msg)
        except Unprojectable as exc:
            await self._give_up(msg, str(exc))
            return
        backoff = 0.2
        while True:
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    applied = await self._apply(conn, item, msg)
            except Unprojectable as exc:
                await self._give_up(msg, str(exc))
                return
            except Exception as exc:
                if is_bad_data(exc):
                    # The database is up and refuses these values: it always will.
                    await self._give_up(msg, f"the read model refused it: {exc}")
                    return
                self.stats.db_retries += 1
                log.warning(
                    "%s: cannot project stream message %s (%s: %s); retrying in %.1fs",
                    self.durable,
                    msg.metadata.sequence.stream,
                    type(exc).__name__,
                    exc,
                    backoff,
                    extra=self._context(item),
                )
                with contextlib.suppress(Exception):
                    for held in (msg, *waiting):
                        await held.in_progress()
                await self._sleep(backoff)
                if self._stopping.is_set():
                    return  # not acked: redelivered after ack_wait
                backoff = min(backoff * 2, self._max_backoff_s)
                continue
            break
        if applied:
            self.stats.projected += 1
        else:
            self.stats.duplicates += 1
        await msg.ack()

    async def _give_up(self, msg: Msg, error: str) -> None:
        # `_reject` first, then terminate: if it fails the message comes back and is tried
        # again, so a bad message is never lost silently.
        await self._reject(msg, error)
        await msg.term()
        self.stats.dead_lettered += 1
