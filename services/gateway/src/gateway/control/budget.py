"""A run's budget: the planner applies a new one (`run.budget_changed`); a run halted by its
budget resumes when the new one is above what it spent."""

from __future__ import annotations

import logging

import cc_bus
import nats.errors
from commandcenter_contracts import RunBudgetChanged

from gateway import links
from gateway.control.context import Control
from gateway.control.schemas import BudgetAccepted
from gateway.domain_errors import Unavailable, describe

log = logging.getLogger(__name__)


async def set_budget(
    control: Control, run_id: str, max_cost_usd: float, requested_by: str
) -> BudgetAccepted:
    run, status = await control.unended_run(
        run_id,
        refused="the run is {status}: its budget no longer matters",
        undone="the budget was not changed",
    )
    await control.require_kept(run)
    event = RunBudgetChanged(run_id=run, max_cost_usd=max_cost_usd, requested_by=requested_by)
    try:
        await cc_bus.publish_status(control.js, event)
    except (nats.errors.Error, TimeoutError, OSError) as exc:
        raise Unavailable("NATS", f"publishing the budget failed ({describe(exc)})") from exc
    log.info("budget set to $%.2f by %s", max_cost_usd, requested_by, extra={"run_id": run})
    return BudgetAccepted(
        id=run, max_cost_usd=max_cost_usd, previous_status=status, links=links.run_links(run)
    )
