"""The commit step: what the agent left becomes the task's commit, with the attempt's trailers.

Called again after each fix round: the tip moves on to the fix's commit (a fix round that
changed nothing leaves it where it was, and the checks decide).
"""

from __future__ import annotations

from commandcenter_contracts import FailureCode

from cc_taskrunner import git_steps
from cc_taskrunner.attempt import Attempt
from cc_taskrunner.commits import is_commit_of, task_commit_message, with_trailers
from cc_taskrunner.reporting import Outcome


async def commit(a: Attempt) -> Outcome | None:
    if a.recovered:
        return None
    ws, task = a.workspace, a.task
    committed = await git_steps.commit_all(ws, task_commit_message(task))
    if committed is not None:
        a.tip = committed
        await a.report.progress("committed", f"tip {a.tip[:12]}")
        return None
    count = await git_steps.count_commits(ws, a.base)
    if count == 0:
        return a.report.failed(
            FailureCode.NO_CHANGES, "the agent changed nothing: no commit to push"
        )
    # The agent committed everything itself: its tip gets this attempt's trailers, so a
    # redelivery can recognise the work on the remote.
    message = await git_steps.commit_message(ws)
    if is_commit_of(message, task):
        a.tip = await git_steps.head_commit(ws)
    else:
        a.tip = await git_steps.amend_message(ws, with_trailers(message, task))
    await a.report.progress("committed", f"{count} commit(s) of the agent's, tip {a.tip[:12]}")
    return None
