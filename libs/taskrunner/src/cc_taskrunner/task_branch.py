"""Branch hygiene: a task's branches go once its work is safe.

On the remote, the task's branch goes with the push that integrates the task
(`integration.move`), or — when the task was integrated already by an earlier delivery — by a
push of its own (`delete_remote_task_branch`). A failed task's branch stays for inspection until
an attempt of the task (a redelivery, a rework, a replay) integrates it, which deletes it: once
a run succeeded, every task was integrated, so none of its task branches is left. The run's
`keep_task_branches` keeps them all.

In local mode the worktree isolation creates `task.branch` in the user's repository. Once the
task succeeded and its work was pushed or integrated, the local branch is only clutter: it is
deleted, unless the run asked to `keep_task_branches` — with a local integration branch, in the
transaction that moves it (`local_task_branch`), else by an `update-ref -d` of its own. A
failed task's branch stays for inspection; a replay recreates it at the integration tip, and
deletes it when it succeeds.
Sandboxes (fresh clones, containers) are thrown away whole, so nothing is done there.
`commandcenter prune` clears what is left of ended runs.
"""

from __future__ import annotations

import logging

from commandcenter_contracts import TaskDispatched, TaskSucceeded

from cc_taskrunner import git_steps, integration
from cc_taskrunner.attempt import Attempt
from cc_taskrunner.branches import check_branch_name
from cc_taskrunner.errors import GitError
from cc_taskrunner.integration import TaskBranchTip
from cc_taskrunner.ports import Workspace
from cc_taskrunner.reporting import Reporter, context

log = logging.getLogger(__name__)


def remote_task_branch(a: Attempt, tip: str | None) -> TaskBranchTip | None:
    """The task's branch at `tip` on the integration branch's remote, to delete once the task is
    integrated; None: no branch there (`tip` None), or the run keeps its task branches."""
    ws, target = a.workspace, a.integration
    if tip is None or a.task.keep_task_branches or target is None or target.remote is None:
        return None
    return TaskBranchTip(ws.branch, tip) if target.remote == ws.remote else None


async def delete_remote_task_branch(a: Attempt, tip: str | None) -> None:
    """Delete the integrated task's branch from the remote if it is still at `tip` (a branch
    that moved is another delivery's, which deletes it itself). Never fails the task."""
    branch = remote_task_branch(a, tip)
    if branch is None or a.integration is None or a.integration.remote is None:
        return
    remote = a.integration.remote
    try:
        deleted = await integration.delete_task_branch(
            a.workspace, remote, branch, timeout_s=a.settings.git_timeout_s
        )
    except GitError as exc:
        log.warning("kept %s on %s: %s", branch.branch, remote, exc.message, extra=context(a.task))
        return
    if deleted:
        await a.report.line("system", f"deleted {branch.branch} from {remote} (integrated)")


def local_task_branch(a: Attempt) -> str | None:
    """The task's local branch, to delete in the compare-and-set that integrates the task into
    a local integration branch (its work is there then); None: not there, or it is kept."""
    ws, target = a.workspace, a.integration
    if ws.sandboxed or a.task.keep_task_branches or target is None or target.remote is not None:
        return None
    return check_branch_name(ws.branch)


def should_release(ws: Workspace, task: TaskDispatched, outcome: TaskSucceeded) -> bool:
    """Whether the succeeded task's local branch may go: a worktree of the user's repository,
    the run did not ask to keep branches, and the work lives on somewhere else."""
    safe_elsewhere = outcome.pushed or outcome.integrated_commit is not None
    return not ws.sandboxed and not task.keep_task_branches and safe_elsewhere


async def release_task_branch(
    ws: Workspace,
    task: TaskDispatched,
    outcome: TaskSucceeded,
    report: Reporter,
    *,
    released: bool = False,
) -> None:
    """Delete the task's branch from the repository the worktree belongs to (their refs are
    shared), in one `git update-ref -d`: the branch is checked out in this worktree, so in no
    other (git allows a branch one checkout), and the worktree is removed next. `released`:
    the integration deleted it already (`local_task_branch`). Never fails the task."""
    if not should_release(ws, task, outcome):
        return
    branch = check_branch_name(ws.branch)
    if not released:
        try:
            argv = ["git", "update-ref", "-d", f"refs/heads/{branch}"]
            await git_steps.git(ws, argv, what=f"deleting the branch {branch}")
        except GitError as exc:
            log.warning("kept the branch %s: %s", branch, exc.message, extra=context(task))
            return
    where = "pushed" if outcome.pushed else "integrated"
    await report.line("system", f"deleted the local branch {branch} (its work is {where})")
