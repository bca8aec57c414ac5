"""Isolate, second half: the task's branch starts from the integration branch's tip.

The isolation made a checkout on the task's branch at the base ref. When the run integrates,
the branch moves to the integration tip as it is now, so the task sees all the work integrated
before it. The first task of a run finds no integration branch and creates it at the base
commit (a compare-and-set: when a parallel task created it first, that one is read).
"""

from __future__ import annotations

from cc_taskrunner import integration
from cc_taskrunner.attempt import Attempt
from cc_taskrunner.errors import GitError
from cc_taskrunner.reporting import Outcome


async def start_from_integration(a: Attempt) -> Outcome | None:
    ws = a.workspace
    a.base = ws.base_commit
    target = a.integration
    if target is None:
        await a.report.progress("isolated", f"{ws.branch} from {a.base[:12]}")
        return None
    timeout_s = a.settings.git_timeout_s
    # Read a moment ago by the isolation, or now; the compare-and-set that lands the task
    # catches a tip that moved meanwhile either way.
    tip = ws.integration_tip or await integration.read_tip(ws, target, timeout_s=timeout_s)
    if tip is None:
        if await integration.move(ws, target, a.base, old=None, timeout_s=timeout_s):
            tip = a.base
            await a.report.line("system", f"created {target.describe()} at {tip[:12]}")
        else:
            tip = await integration.read_tip(ws, target, timeout_s=timeout_s)
            if tip is None:
                raise GitError(f"could not create the integration branch {target.describe()}")
    if tip != a.base:
        await integration.start_task_branch(ws, ws.branch, tip)
    a.base = a.start_tip = tip
    await a.report.progress("isolated", f"{ws.branch} from {target.branch} at {tip[:12]}")
    return None
