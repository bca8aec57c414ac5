"""Cancel: a `run.cancelled` status event (the planner stops dispatching and takes the run's
waiting tasks back; the read model marks the run and its unfinished tasks cancelled) and a
core-NATS `CancelRequested` on `cc.control.cancel.<run>`, which every executor hears and which
kills a running agent's whole process tree.
"""

from __future__ import annotations

import logging
import uuid

import asyncpg
import cc_bus
import nats.errors
from commandcenter_contracts import RUN_FINAL, CancelRequested, RunCancelled, encode, subjects
from nats.aio.client import Client
from nats.js import JetStreamContext

from gateway import links
from gateway.control import NAMESPACE
from gateway.control.schemas import CancelAccepted
from gateway.domain_errors import Conflict, NotFound, Unavailable, describe
from gateway.runs.queries import parse_run_id, run_status

log = logging.getLogger(__name__)


def cancel_refusal(status: str) -> str | None:
    """Why a run in `status` cannot be cancelled, or None (a halted run can: it could still be
    resumed)."""
    if status in RUN_FINAL:
        return f"the run is {status} already: there is nothing to cancel"
    return None


async def cancel_run(
    pool: asyncpg.Pool,
    js: JetStreamContext,
    nc: Client,
    run_id: str,
    *,
    reason: str,
    requested_by: str,
    timeout_s: float,
) -> CancelAccepted:
    status = await run_status(pool, run_id)
    if status is None:
        raise NotFound(f"run {run_id[:100]}")
    refusal = cancel_refusal(status)
    if refusal is not None:
        raise Conflict(refusal)
    if not nc.is_connected:
        raise Unavailable("NATS", "not connected; the run was not cancelled")
    run = str(parse_run_id(run_id))
    why = reason or f"cancelled by {requested_by}"
    event = RunCancelled(
        # one cancel per run: a doubled request is deduplicated by JetStream
        event_id=str(uuid.uuid5(NAMESPACE, f"{run}/run.cancelled")),
        run_id=run,
        reason=why,
    )
    try:
        await cc_bus.publish_status(js, event)
        # Core NATS, to every executor at once: the running agent dies within seconds.
        await nc.publish(
            subjects.cancel_subject(run), encode(CancelRequested(run_id=run, reason=why))
        )
        await nc.flush(timeout=max(1, int(timeout_s)))
    except (nats.errors.Error, TimeoutError, OSError) as exc:
        raise Unavailable("NATS", f"publishing the cancel failed ({describe(exc)})") from exc
    log.info("run cancelled by %s (was %s)", requested_by, status, extra={"run_id": run})
    return CancelAccepted(id=run, previous_status=status, links=links.run_links(run))
