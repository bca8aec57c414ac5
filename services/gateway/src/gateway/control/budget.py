"""A run's budget: the planner applies a new one (`run.budget_changed`); a run halted by its
budget resumes when the new one is above what it spent."""

from __future__ import annotations

import logging

import asyncpg
import cc_bus
import nats.errors
from commandcenter_contracts import RUN_FINAL, RunBudgetChanged
from nats.aio.client import Client
from nats.js import JetStreamContext

from gateway import links
from gateway.control.schemas import BudgetAccepted
from gateway.domain_errors import Conflict, NotFound, Unavailable, describe
from gateway.runs.queries import parse_run_id, run_status

log = logging.getLogger(__name__)


async def set_budget(
    pool: asyncpg.Pool,
    js: JetStreamContext,
    nc: Client,
    run_id: str,
    *,
    max_cost_usd: float,
    requested_by: str,
) -> BudgetAccepted:
    status = await run_status(pool, run_id)
    if status is None:
        raise NotFound(f"run {run_id[:100]}")
    if status in RUN_FINAL:
        raise Conflict(f"the run is {status}: its budget no longer matters")
    if not nc.is_connected:
        raise Unavailable("NATS", "not connected; the budget was not changed")
    run = str(parse_run_id(run_id))
    event = RunBudgetChanged(run_id=run, max_cost_usd=max_cost_usd, requested_by=requested_by)
    try:
        await cc_bus.publish_status(js, event)
    except (nats.errors.Error, TimeoutError, OSError) as exc:
        raise Unavailable("NATS", f"publishing the budget failed ({describe(exc)})") from exc
    log.info("budget set to $%.2f by %s", max_cost_usd, requested_by, extra={"run_id": run})
    return BudgetAccepted(
        id=run, max_cost_usd=max_cost_usd, previous_status=status, links=links.run_links(run)
    )
