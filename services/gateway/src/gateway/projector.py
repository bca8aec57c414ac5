"""The projector: the durable consumer `gateway-projector` on `cc.status.>`, writing every status
event into the PostgreSQL read model.

Delivery rules:
- an event is acked only after its transaction commits, so a crash loses nothing (the server
  redelivers) and a redelivery changes nothing (projection is idempotent by event id);
- PostgreSQL unavailable (any error but bad data): the same event is retried with backoff,
  with in-progress acks so the server does not hand it out again meanwhile; the loop never
  gives up and never dies;
- a message that cannot be decoded, or that the read model cannot hold, goes to the dead
  letters (`BAD_MESSAGE`) and is terminated: it would fail the same way forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import cc_bus
import msgspec
import nats.errors
from commandcenter_contracts import DeadLetter, FailureCode, StatusEvent, status_decoder
from commandcenter_contracts import subjects as s
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from gateway.db.errors import is_bad_data
from gateway.projection import UnprojectableEvent, apply

log = logging.getLogger(__name__)


@dataclass
class ProjectorStats:
    projected: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    db_retries: int = 0


class Projector:
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

    async def run(self) -> None:
        """Consume until `stop()`; every error is logged and retried, never raised."""
        sub: JetStreamContext.PullSubscription | None = None
        backoff = 0.2
        while not self._stopping.is_set():
            try:
                if sub is None:
                    sub = await self._js.pull_subscribe_bind(
                        durable=s.CONSUMER_PROJECTOR, stream=s.STREAM_STATUS
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
                log.warning("projector: %s: %s; retry in %.1fs", type(exc).__name__, exc, backoff)
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
            event: StatusEvent = status_decoder.decode(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            await self._dead_letter(msg, f"undecodable status event: {exc}")
            return
        backoff = 0.2
        while True:
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    applied = await apply(conn, event, msg.metadata.sequence.stream, msg.data)
            except UnprojectableEvent as exc:
                await self._dead_letter(msg, str(exc))
                return
            except Exception as exc:
                if is_bad_data(exc):
                    # The database is up and refuses this event's values: it always will.
                    await self._dead_letter(msg, f"the read model refused the event: {exc}")
                    return
                self.stats.db_retries += 1
                log.warning(
                    "projector: cannot project %s (%s: %s); retrying in %.1fs",
                    event.event_id,
                    type(exc).__name__,
                    exc,
                    backoff,
                    extra={"run_id": event.run_id},
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

    async def _dead_letter(self, msg: Msg, error: str) -> None:
        log.error("projector: dead-lettering message on %s: %s", msg.subject, error)
        seq = msg.metadata.sequence.stream
        digest = hashlib.sha256(msg.data).hexdigest()
        letter = DeadLetter(
            # One letter per stream message, however often it is redelivered.
            event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{s.STREAM_STATUS}/{seq}/{digest}")),
            subject=msg.subject,
            error_code=FailureCode.BAD_MESSAGE,
            error=error[:2000],
            raw=msg.data,
            num_delivered=msg.metadata.num_delivered or 0,
        )
        # Publish first, then terminate: if the publish fails the message comes back and we
        # try again, so the bad message is never lost silently.
        await cc_bus.publish_dead_letter(self._js, letter)
        await msg.term()
        self.stats.dead_lettered += 1
