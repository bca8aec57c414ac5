"""The projector: the durable `gateway-projector` on `cc.status.>`, writing every status event
into the PostgreSQL read model (delivery rules: `projecting`).

An event type the gateway does not know (a newer writer's, during a rolling upgrade) is
skipped and acked; a message that cannot be decoded, or that the read model cannot hold, goes
to the dead letters (`BAD_MESSAGE`) and is terminated.
"""

from __future__ import annotations

import logging
from typing import get_args

from cc_bus import Delivery, GiveUp, Settle, projector_consumer
from commandcenter_contracts import FailureCode, StatusEvent, status_decoder

from gateway.readmodel.projecting import Projection, Unprojectable
from gateway.readmodel.projection import UnprojectableEvent, apply
from gateway.readmodel.sql import Connection

log = logging.getLogger(__name__)


class Projector(Projection[StatusEvent]):
    spec = projector_consumer()
    known_types = frozenset(str(cls.__struct_config__.tag) for cls in get_args(StatusEvent))

    def decode(self, delivery: Delivery) -> StatusEvent:
        return status_decoder.decode(delivery.data)

    async def apply(self, conn: Connection, item: StatusEvent, delivery: Delivery) -> bool:
        try:
            return await apply(conn, item, delivery.sequence or 0, delivery.data)
        except UnprojectableEvent as exc:
            raise Unprojectable(str(exc)) from exc

    def context(self, item: StatusEvent) -> dict[str, object]:
        return {"run_id": item.run_id}

    def refused(self, delivery: Delivery, error: str) -> Settle:
        log.error("projector: dead-lettering a message on %s: %s", delivery.subject, error)
        return GiveUp(FailureCode.BAD_MESSAGE, error)
