"""Branch hygiene in the user's repository: a task's local branch goes once its work is safe.

In local mode the worktree isolation creates `task.branch` in the user's repository. Once the
task succeeded and its work was pushed (the remote has the branch) or integrated (the
integration branch has it), the local branch is only clutter: it is deleted, unless the run
asked to `keep_task_branches`. A failed task's branch stays for inspection; a replay recreates
it at the integration tip, and deletes it when it succeeds. Sandboxes (fresh clones,
containers) are thrown away whole, so nothing is done there. `commandcenter prune` clears what
is left of ended runs.
"""

from __future__ import annotations

import logging

from commandcenter_contracts import TaskDispatched, TaskSucceeded

from cc_taskrunner import git_steps
from cc_taskrunner.branches import check_branch_name
from cc_taskrunner.errors import GitError
from cc_taskrunner.ports import Workspace
from cc_taskrunner.reporting import Reporter, context

log = logging.getLogger(__name__)


def should_release(ws: Workspace, task: TaskDispatched, outcome: TaskSucceeded) -> bool:
    """Whether the succeeded task's local branch may go: a worktree of the user's repository,
    the run did not ask to keep branches, and the work lives on somewhere else."""
    safe_elsewhere = outcome.pushed or outcome.integrated_commit is not None
    return not ws.sandboxed and not task.keep_task_branches and safe_elsewhere


async def release_task_branch(
    ws: Workspace, task: TaskDispatched, outcome: TaskSucceeded, report: Reporter
) -> None:
    """Delete the task's branch from the repository the worktree belongs to (their refs are
    shared). The worktree is detached first, because git keeps a branch checked out anywhere;
    one checked out in another worktree (the user's) stays. Never fails the task."""
    if not should_release(ws, task, outcome):
        return
    branch = check_branch_name(ws.branch)
    try:
        await git_steps.git(ws, ["git", "checkout", "--quiet", "--detach"], what="git checkout")
        argv = ["git", "branch", "--quiet", "-D", "--", branch]
        await git_steps.git(ws, argv, what=f"deleting the branch {branch}")
    except GitError as exc:
        log.warning("kept the branch %s: %s", branch, exc.message, extra=context(task))
        return
    where = "pushed" if outcome.pushed else "integrated"
    await report.line("system", f"deleted the local branch {branch} (its work is {where})")
