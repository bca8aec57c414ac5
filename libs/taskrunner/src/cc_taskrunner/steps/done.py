"""Already done? A redelivered task message (its executor died) may find its work finished.

Two places tell: the integration branch (a commit with the task's trailers: the task was
integrated, only its outcome was not published) and the task's own branch on the remote (a tip
whose trailers name an attempt of this message: it was verified and pushed, but maybe not
integrated). The first ends the attempt as a success; the second skips the agent and goes on to
integrate that commit (the push that integrates it deletes the branch; an integrated task's
branch found still there is deleted here). A replay's messages start above every earlier
attempt, so they never take an earlier attempt's branch: they redo the work and replace it.
"""

from __future__ import annotations

import logging

from commandcenter_contracts import FailureCode

from cc_taskrunner import git_steps, integration
from cc_taskrunner.attempt import Attempt
from cc_taskrunner.commits import is_commit_of
from cc_taskrunner.errors import GitError
from cc_taskrunner.reporting import Outcome, context
from cc_taskrunner.task_branch import delete_remote_task_branch

log = logging.getLogger(__name__)


async def already_done(a: Attempt) -> Outcome | None:
    ws = a.workspace
    timeout_s = a.settings.git_timeout_s
    if ws.remote is not None:
        try:
            a.remote_tip = await git_steps.remote_branch_tip(
                ws, ws.remote, ws.branch, timeout_s=timeout_s
            )
        except GitError as exc:
            return a.report.failed(FailureCode.PUSH_FAILED, exc.message)
        if a.remote_tip is not None:
            found = await _pushed_work(a, ws.remote)
            if found is not None:
                a.tip, a.recovered, a.pushed = found, True, True
                await a.report.progress("already_done", f"the remote has {found[:12]}")
    if a.integration is not None and a.start_tip is not None and (a.recovered or a.is_redelivery):
        landed = await integration.find_integrated(ws, a.task.task_id, a.start_tip)
        if landed is not None:
            a.integrated = landed
            a.depth = await integration.depth(ws, landed)
            await a.report.progress(
                "already_integrated", f"{a.integration.branch} has {landed[:12]}"
            )
            # Its branch, if an earlier delivery left it (it crashed before integrating, or
            # the branch moved), is of no use any more.
            await delete_remote_task_branch(a, a.remote_tip)
            commit = a.tip or landed
            return a.report.succeeded(
                ws.branch, commit, pushed=a.pushed, integrated=landed, depth=a.depth
            )
    return None


async def _pushed_work(a: Attempt, remote: str) -> str | None:
    """The remote branch's tip when it is the work of this task message (attempt `since` on)."""
    ws = a.workspace
    try:
        fetched = await git_steps.fetch_branch(
            ws, remote, ws.branch, timeout_s=a.settings.git_timeout_s
        )
        message = await git_steps.commit_message(ws, fetched)
    except GitError:
        log.warning("could not inspect the remote branch", exc_info=True, extra=context(a.task))
        return None
    return fetched if is_commit_of(message, a.task, since_attempt=a.since) else None
