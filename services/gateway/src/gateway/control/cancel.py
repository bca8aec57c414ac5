"""Cancel: a `run.cancelled` status event (the planner stops dispatching and takes the run's
waiting tasks back; the read model marks the run and its unfinished tasks cancelled) and a
core-NATS `CancelRequested` on `cc.control.cancel.<run>`, which every executor hears and which
kills a running agent's whole process tree.
"""

from __future__ import annotations

import logging
import uuid

import cc_bus
import nats.errors
from commandcenter_contracts import CancelRequested, RunCancelled, encode, subjects

from gateway import links
from gateway.control import NAMESPACE
from gateway.control.context import Control
from gateway.control.schemas import CancelAccepted
from gateway.domain_errors import Unavailable, describe

log = logging.getLogger(__name__)


async def cancel_run(
    control: Control, run_id: str, reason: str, requested_by: str
) -> CancelAccepted:
    # A halted run can be cancelled: it could still be resumed.
    run, status = await control.unended_run(
        run_id,
        refused="the run is {status} already: there is nothing to cancel",
        undone="the run was not cancelled",
    )
    why = reason or f"cancelled by {requested_by}"
    event = RunCancelled(
        # one cancel per run: a doubled request is deduplicated by JetStream
        event_id=str(uuid.uuid5(NAMESPACE, f"{run}/run.cancelled")),
        run_id=run,
        reason=why,
    )
    try:
        await cc_bus.publish_status(control.js, event)
        # Core NATS, to every executor at once: the running agent dies within seconds.
        await control.nc.publish(
            subjects.cancel_subject(run), encode(CancelRequested(run_id=run, reason=why))
        )
        await control.nc.flush(timeout=max(1, int(control.timeout_s)))
    except (nats.errors.Error, TimeoutError, OSError) as exc:
        raise Unavailable("NATS", f"publishing the cancel failed ({describe(exc)})") from exc
    log.info("run cancelled by %s (was %s)", requested_by, status, extra={"run_id": run})
    return CancelAccepted(id=run, previous_status=status, links=links.run_links(run))
