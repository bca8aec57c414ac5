"""Isolate, second half: the task's branch starts from the integration branch's tip.

The isolation made a checkout on the task's branch at the base ref. When the run integrates,
the branch moves to the integration tip as it is now, so the task sees all the work integrated
before it. The first task of a run finds no integration branch and creates it at the base
commit (a compare-and-set: a parallel task may have created it first; see `_create`).
"""

from __future__ import annotations

from cc_taskrunner import integration
from cc_taskrunner.attempt import Attempt
from cc_taskrunner.errors import GitError
from cc_taskrunner.integration import IntegrationTarget
from cc_taskrunner.reporting import Outcome


async def start_from_integration(a: Attempt) -> Outcome | None:
    ws = a.workspace
    a.base = ws.base_commit
    target = a.integration
    if target is None:
        await a.report.progress("isolated", f"{ws.branch} from {a.base[:12]}")
        return None
    # Read a moment ago by the isolation, or now; the compare-and-set that lands the task
    # catches a tip that moved meanwhile either way.
    tip = ws.integration_tip
    if tip is None and not ws.integration_read:
        tip = await integration.read_tip(ws, target, timeout_s=a.settings.git_timeout_s)
    if tip is None:
        tip = await _create(a, target)
    if tip != a.base:
        await integration.start_task_branch(ws, ws.branch, tip)
    a.base = a.start_tip = tip
    await a.report.progress("isolated", f"{ws.branch} from {target.branch} at {tip[:12]}")
    return None


async def _create(a: Attempt, target: IntegrationTarget) -> str:
    """Create the branch at the task's base: the run's first tasks, started together, race to.

    A first delivery that loses starts from its base anyway, without reading the tip (a fetch
    for each of a batch's tasks at once): the winner made the branch there a moment ago, and
    the compare-and-set that lands the task catches whatever landed since. A redelivery reads
    the tip: its earlier delivery's work may be on it (`already_done` looks there)."""
    ws, timeout_s = a.workspace, a.settings.git_timeout_s
    if await integration.move(ws, target, a.base, old=None, timeout_s=timeout_s):
        await a.report.line("system", f"created {target.describe()} at {a.base[:12]}")
        return a.base
    if not a.is_redelivery:
        return a.base
    tip = await integration.read_tip(ws, target, timeout_s=timeout_s)
    if tip is None:
        raise GitError(f"could not create the integration branch {target.describe()}")
    return tip
