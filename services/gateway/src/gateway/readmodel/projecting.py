"""Writing a durable's messages into PostgreSQL: what the status projector and the dead-letter
projector share, each consumed by `cc_bus.Consumer` (batches in stream order, in-progress acks
for the whole batch while one message waits).

Delivery rules:
- the messages of one fetch are written in one transaction (`handle_batch`: one commit, one
  fsync, for up to `BATCH` events); when that transaction fails for any reason, each is
  written again in its own (`handle`), so the rules below hold message by message;
- a message is acked only after its transaction commits, so a crash loses nothing (the server
  redelivers) and a redelivery changes nothing (projections are idempotent by id);
- PostgreSQL unavailable (any error but bad data): the same message is tried again in place,
  with backoff, so the order of projection stays the stream's; the loop never gives up;
- a message the read model cannot hold is refused (`refused`): the status projector gives it
  up (a dead letter), the dead-letter projector keeps it in CC_DEAD only (a letter about a
  letter would loop).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Generic, TypeVar

import asyncpg
from cc_bus import Ack, Consumer, ConsumerSpec, Delivery, Settle
from nats.js import JetStreamContext

from gateway.readmodel.db_errors import is_bad_data
from gateway.readmodel.sql import Connection

log = logging.getLogger(__name__)

T = TypeVar("T")

BATCH = 64


class Unprojectable(ValueError):
    """This item can never be projected (values the read model refuses)."""


@dataclass
class ProjectionStats:
    projected: int = 0
    duplicates: int = 0
    db_retries: int = 0


class Projection(Generic[T]):
    """Subclasses name the durable and say how to decode, apply and refuse."""

    def __init__(
        self, js: JetStreamContext, pool: asyncpg.Pool, *, max_backoff_s: float = 5.0
    ) -> None:
        self.js = js
        self.pool = pool
        self.max_backoff_s = max_backoff_s
        self.stats = ProjectionStats()
        self.stopping = asyncio.Event()

    # --- what subclasses provide --------------------------------------------------------------
    spec: ConsumerSpec
    known_types: frozenset[str] | None = None

    def decode(self, delivery: Delivery) -> T:
        raise NotImplementedError

    async def apply(self, conn: Connection, item: T, delivery: Delivery) -> bool:
        """Write `item` in the caller's transaction; False when it was there already."""
        raise NotImplementedError

    def refused(self, delivery: Delivery, error: str) -> Settle:
        raise NotImplementedError

    def context(self, item: T) -> dict[str, object]:  # noqa: ARG002 - subclasses use it
        """What to bind to the log lines about `item` (its run, its task)."""
        return {}

    # --- the consumer ------------------------------------------------------------------------
    def consumer(self, *, heartbeat_s: float = 10.0) -> Consumer[T]:
        return Consumer(
            self.js,
            self.spec,
            decode=self.decode,
            handle=self.handle,
            handle_batch=self.handle_batch,
            batch=BATCH,
            heartbeat_s=heartbeat_s,
            known_types=self.known_types,
        )

    async def handle_batch(self, items: list[tuple[T, Delivery]]) -> list[Settle]:
        """Write every item in one transaction, in stream order. Raises on any failure (the
        transaction rolled back, nothing written): the consumer then hands each to `handle`,
        which refuses the bad one and retries an unavailable database in place."""
        async with self.pool.acquire() as conn, conn.transaction():
            applied = [await self.apply(conn, item, delivery) for item, delivery in items]
        fresh = sum(applied)
        self.stats.projected += fresh
        self.stats.duplicates += len(applied) - fresh
        return [Ack()] * len(items)

    async def handle(self, item: T, delivery: Delivery) -> Settle:
        backoff = 0.2
        while True:
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    applied = await self.apply(conn, item, delivery)
            except Unprojectable as exc:
                return self.refused(delivery, str(exc))
            except Exception as exc:
                if is_bad_data(exc):
                    # The database is up and refuses these values: it always will.
                    return self.refused(delivery, f"the read model refused it: {exc}")
                self.stats.db_retries += 1
                log.warning(
                    "%s: cannot project stream message %s (%s: %s); retrying in %.1fs",
                    self.spec.durable,
                    delivery.sequence,
                    type(exc).__name__,
                    exc,
                    backoff,
                    extra=self.context(item),
                )
                try:
                    await asyncio.wait_for(self.stopping.wait(), backoff)
                except TimeoutError:
                    backoff = min(backoff * 2, self.max_backoff_s)
                    continue
                raise RuntimeError("stopping: the message comes back after ack_wait") from exc
            if applied:
                self.stats.projected += 1
            else:
                self.stats.duplicates += 1
            return Ack()
