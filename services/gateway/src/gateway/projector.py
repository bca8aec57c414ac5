"""The projector: the durable consumer `gateway-projector` on `cc.status.>`, writing every status
event into the PostgreSQL read model (delivery rules: `durable_projector`).

A message that cannot be decoded, or that the read model cannot hold, goes to the dead letters
(`BAD_MESSAGE`) and is terminated.
"""

from __future__ import annotations

import hashlib
import logging
import uuid

import asyncpg
import cc_bus
import msgspec
from commandcenter_contracts import DeadLetter, FailureCode, StatusEvent, status_decoder
from commandcenter_contracts import subjects as s
from nats.aio.msg import Msg

from gateway.durable_projector import DurableProjector, ProjectorStats, Unprojectable
from gateway.projection import UnprojectableEvent, apply

__all__ = ["Projector", "ProjectorStats"]

log = logging.getLogger(__name__)


class Projector(DurableProjector[StatusEvent]):
    stream = s.STREAM_STATUS
    durable = s.CONSUMER_PROJECTOR

    def _decode(self, msg: Msg) -> StatusEvent:
        try:
            return status_decoder.decode(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise Unprojectable(f"undecodable status event: {exc}") from exc

    async def _apply(self, conn: asyncpg.Connection, item: StatusEvent, msg: Msg) -> bool:
        try:
            return await apply(conn, item, msg.metadata.sequence.stream, msg.data)
        except UnprojectableEvent as exc:
            raise Unprojectable(str(exc)) from exc

    def _context(self, item: StatusEvent) -> dict[str, object]:
        return {"run_id": item.run_id}

    async def _reject(self, msg: Msg, error: str) -> None:
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
        await cc_bus.publish_dead_letter(self._js, letter)
