"""Local mode: each task in its own `git worktree` of the user's repository.

The user's checkout (its HEAD, index and files) is never touched: the worktree lives under
`<root>/<run8>/<slug>--<attempt>-<token>` on branch `task.branch`, created from the base
commit. Every delivery gets a path of its own: a process left over from an earlier delivery
(the agent's children outlive a SIGKILLed executor) writes by absolute path into ITS checkout,
never into a later attempt's. Stale worktrees of the same task (earlier deliveries that crashed)
are removed first (`git worktree remove --force`, `prune`) — looked for only when a folder of an
earlier delivery is there or git refuses the new worktree, so a task costs no worktree listing;
cleanup removes the worktree and keeps the branch (a succeeded task's is deleted before,
`cc_taskrunner.task_branch`). Commands
in the worktree inherit the executor's environment (it runs on the user's machine, with the
user's git credentials).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
from functools import cached_property, partial
from pathlib import Path

from commandcenter_contracts import TaskDispatched

from cc_taskrunner import git_steps
from cc_taskrunner.branches import check_branch_name, slugify, workspace_dir_name
from cc_taskrunner.environment import ExecEnvironment
from cc_taskrunner.errors import GitError
from cc_taskrunner.isolation_local import LocalIsolation, per_run
from cc_taskrunner.workspace import LocalWorkspace

log = logging.getLogger(__name__)


class WorktreeIsolation(LocalIsolation):
    """Worktrees under `root` (`LocalIsolation`)."""

    @cached_property
    def _repositories(self) -> set[Path]:
        """Folders found to be a repository's top level (it does not change under a run)."""
        return set()

    @cached_property
    def _origins(self) -> dict[tuple[Path, str], asyncio.Future[bool]]:
        """Per (repository, run): whether the repository has `origin`."""
        return {}

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
        await self._check_repository(repo)
        remote = await self._remote(repo, task)
        refs = [task.base_ref]
        integration_read = bool(task.integration_branch) and remote is None
        if integration_read:
            # The integration branch is a branch of this repository: read with the base, and
            # the checkout starts on its tip (`start_from_integration` need not move it).
            refs.append(f"refs/heads/{check_branch_name(task.integration_branch)}")
        base, *tip = await git_steps.resolve_commits(repo, *refs)
        if base is None:
            raise GitError(f"base ref {task.base_ref!r} is not a commit of the repository")
        integration_tip = tip[0] if tip else None
        start = integration_tip or base
        path = self.workspace_path(task)
        if await asyncio.to_thread(self._discard_unknown_folders, task):
            await self._discard_stale(repo, task, branch)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        try:
            await git_steps.add_worktree(repo, path, branch, start, timeout_s=self._git_timeout_s)
        except GitError:
            # Refused, e.g. the branch is checked out in a worktree an earlier delivery left
            # (whose folder is gone): clear what deliveries left behind, then once more.
            await self._discard_stale(repo, task, branch)
            await git_steps.add_worktree(repo, path, branch, start, timeout_s=self._git_timeout_s)
        return LocalWorkspace(
            path=path,
            branch=branch,
            base_commit=start,
            remote=remote,
            # No remote: the integration branch is a branch of the user's repository, which
            # the worktree shares its refs with.
            integration_remote=remote,
            integration_tip=integration_tip,
            integration_read=integration_read,
            environment=self._environment,
            kill_grace_s=self._kill_grace_s,
            remove=partial(self._remove, repo, path),
        )

    async def _check_repository(self, repo: LocalWorkspace) -> None:
        """`git_steps.check_repository`, once per folder for the executor's life."""
        folder = repo.path.resolve()
        if folder not in self._repositories:
            await git_steps.check_repository(repo)
            self._repositories.add(folder)

    async def _remote(self, repo: LocalWorkspace, task: TaskDispatched) -> str | None:
        """Where the run's branches go: the run's `remote`, else `origin` if the repository has
        one. Asked once per run, so every task of a run pushes to the same place."""
        if task.remote:
            return task.remote
        key = (repo.path.resolve(), task.run_id)
        has_origin = await per_run(self._origins, key, lambda: git_steps.has_remote(repo, "origin"))
        return "origin" if has_origin else None

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
        """Remove what earlier, interrupted deliveries of this task left behind; refuse a branch
        checked out in the user's own checkout."""
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

    def _discard_unknown_folders(self, task: TaskDispatched) -> bool:
        """Remove the folders of earlier deliveries of the task (git may or may not know them:
        a crash before `worktree add`, or before the cleanup); whether there were any."""
        run_dir = self.run_dir(task)
        found = False
        if run_dir.is_dir():
            for folder in run_dir.iterdir():
                if self._is_deliveries_folder(folder, task):
                    log.info("removing stale folder %s", folder)
                    shutil.rmtree(folder, ignore_errors=True)
                    found = True
        return found

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
