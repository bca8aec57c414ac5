"""The push step: the task's own branch to the remote, replacing only the tip seen before.

The lease (`--force-with-lease` on the tip read before the agent ran) lets a later attempt
replace an earlier attempt's branch, but never a branch that moved meanwhile. The pushed
branch is what a redelivery recognises as done work.
"""

from __future__ import annotations

from commandcenter_contracts import FailureCode

from cc_taskrunner import git_steps
from cc_taskrunner.attempt import Attempt
from cc_taskrunner.errors import GitError
from cc_taskrunner.reporting import Outcome


async def push(a: Attempt) -> Outcome | None:
    ws = a.workspace
    if a.cancel.is_set():
        return a.report.failed(FailureCode.CANCELLED, "cancelled before the push")
    if a.recovered or ws.remote is None:
        return None
    try:
        await git_steps.push_branch(
            ws,
            ws.remote,
            ws.branch,
            expected_tip=a.remote_tip,
            timeout_s=a.settings.git_timeout_s,
        )
    except GitError as exc:
        return a.report.failed(FailureCode.PUSH_FAILED, exc.message)
    a.pushed = True
    await a.report.progress("pushed", f"{ws.branch} to {ws.remote}")
    return None
