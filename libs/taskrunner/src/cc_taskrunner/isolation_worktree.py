"""Local mode: each task in its own `git worktree` of the user's repository.

The user's checkout (its HEAD, index and files) is never touched: the worktree lives under
`<root>/<run8>/<slug>--<attempt>-<token>` on branch `task.branch`, created from the base
commit. Every delivery gets a path of its own: a process left over from an earlier delivery
(the agent's children outlive a SIGKILLed executor) writes by absolute path into ITS checkout,
never into a later attempt's. Stale worktrees of the same task (earlier deliveries that crashed)
are removed first (`git worktree remove --force`, `prune`); cleanup removes the worktree and
keeps the branch (a succeeded task's is deleted before, `cc_taskrunner.task_branch`). Commands
in the worktree inherit the executor's environment (it runs on the user's machine, with the
user's git credentials).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
from functools import partial
from pathlib import Path

from commandcenter_contracts import TaskDispatched

from cc_taskrunner import git_steps
from cc_taskrunner.branches import check_branch_name, slugify, workspace_dir_name
from cc_taskrunner.environment import ExecEnvironment
from cc_taskrunner.errors import GitError
from cc_taskrunner.isolation_local import LocalIsolation
from cc_taskrunner.workspace import LocalWorkspace

log = logging.getLogger(__name__)


class WorktreeIsolation(LocalIsolation):
    """Worktrees under `root` (`LocalIsolation`)."""

    def run_dir(self, task: TaskDispatched) -> Path:
        return self._root / (slugify(task.run_id[:8]) or "run")

    def workspace_name(self, task: TaskDispatched) -> str:
        """The task's folder name; each delivery's folder is `<name>--<attempt>-<token>`."""
        return workspace_dir_name(task.branch, task.run_id, task.task_id)

    def workspace_path(self, task: TaskDispatched) -> Path:
        """A new, unused path for this delivery of the task (slugs never contain `--`)."""
        token = secrets.token_hex(3)
        return self.run_dir(task) / f"{self.workspace_name(task)}--{task.attempt}-{token}"

    async def prepare(self, task: TaskDispatched) -> LocalWorkspace:
        branch = check_branch_name(task.branch)
        repo = self._repository(await asyncio.to_thread(_local_folder, task.repo))
        await git_steps.check_repository(repo)
        base = await git_steps.resolve_commit(repo, task.base_ref)
        path = self.workspace_path(task)
        await self._discard_stale(repo, task, branch)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        await git_steps.add_worktree(repo, path, branch, base, timeout_s=self._git_timeout_s)
        if task.remote:
            remote: str | None = task.remote
        else:
            remote = "origin" if await git_steps.has_remote(repo, "origin") else None
        return LocalWorkspace(
            path=path,
            branch=branch,
            base_commit=base,
            remote=remote,
            # No remote: the integration branch is a branch of the user's repository, which
            # the worktree shares its refs with.
            integration_remote=remote,
            environment=self._environment,
            kill_grace_s=self._kill_grace_s,
            remove=partial(self._remove, repo, path),
        )

    def _repository(self, path: Path) -> LocalWorkspace:
        """The user's repository, for git commands only: its files are never touched. They
        see the executor's environment and the git identity, like the user's own git."""
        return LocalWorkspace.plain(
            path,
            environment=ExecEnvironment(fixed=self._identity.env()),
            kill_grace_s=self._kill_grace_s,
        )

    def _is_deliveries_folder(self, path: Path, task: TaskDispatched) -> bool:
        """Whether `path` is a checkout of some delivery of `task` (or of the older layout)."""
        name = self.workspace_name(task)
        return path.parent.resolve() == self.run_dir(task).resolve() and (
            path.name == name or path.name.startswith(f"{name}--")
        )

    async def _discard_stale(self, repo: LocalWorkspace, task: TaskDispatched, branch: str) -> None:
        """Remove what earlier, interrupted deliveries of this task left behind."""
        await git_steps.prune_worktrees(repo)
        trees = await git_steps.list_worktrees(repo)
        # The repository itself: the main worktree (listed first) and the folder named.
        users = {repo.path.resolve(), *(tree.path.resolve() for tree in trees[:1])}
        for tree in trees:
            same_task = self._is_deliveries_folder(tree.path, task)
            same_branch = tree.branch == f"refs/heads/{branch}"
            if not (same_task or same_branch):
                continue
            if tree.path.resolve() in users:
                raise GitError(
                    f"branch {branch!r} is checked out in the repository itself; "
                    "CommandCenter does not touch the user's checkout"
                )
            log.info("removing stale worktree %s (branch %s)", tree.path, tree.branch)
            await git_steps.remove_worktree(repo, tree.path, timeout_s=self._git_timeout_s)
        await asyncio.to_thread(self._discard_unknown_folders, task)

    def _discard_unknown_folders(self, task: TaskDispatched) -> None:
        """Folders git no longer knows (a crash before `worktree add`)."""
        run_dir = self.run_dir(task)
        if run_dir.is_dir():
            for folder in run_dir.iterdir():
                if self._is_deliveries_folder(folder, task):
                    log.info("removing stale folder %s", folder)
                    shutil.rmtree(folder, ignore_errors=True)

    async def _remove(self, repo: LocalWorkspace, path: Path) -> None:
        try:
            await git_steps.remove_worktree(repo, path, timeout_s=self._git_timeout_s)
        except GitError:
            log.warning("could not remove worktree %s", path, exc_info=True)
            await asyncio.to_thread(shutil.rmtree, path, ignore_errors=True)


def _local_folder(location: str) -> Path:
    path = Path(location).expanduser()
    if not path.is_dir():
        raise GitError(f"repository {location!r} is not a folder on this machine")
    return path
