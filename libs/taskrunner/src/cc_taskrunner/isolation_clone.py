"""Engine-less isolation: a fresh `git clone` of the task's repository per task.

Used where the repository is reached by URL (the dagger executor without an engine). The clone
lives in a temporary folder under `tmp_root` and is deleted afterwards.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from commandcenter_contracts import TaskDispatched

from cc_taskrunner import gitops
from cc_taskrunner.branches import check_branch_name, check_git_argument, workspace_dir_name
from cc_taskrunner.errors import GitError
from cc_taskrunner.gitops import GitIdentity
from cc_taskrunner.ports import Workspace
from cc_taskrunner.workspace import GitWorkspace

if TYPE_CHECKING:
    from git import Repo

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|^[^/]+@[^/]+:")  # scheme:// or scp-like


def is_url(location: str) -> bool:
    return bool(_URL.match(location))


class FreshCloneIsolation:
    def __init__(
        self, tmp_root: Path, identity: GitIdentity, *, git_timeout_s: float = 300.0
    ) -> None:
        self._root = tmp_root.expanduser()
        self._identity = identity
        self._git_timeout_s = git_timeout_s

    async def prepare(self, task: TaskDispatched) -> GitWorkspace:
        return await asyncio.to_thread(self._prepare, task)

    async def push(self, workspace: Workspace, *, expected_tip: str | None) -> None:
        if workspace.remote is None:
            return
        repo = gitops.open_repo(workspace.path, self._identity)
        await asyncio.to_thread(
            gitops.push_branch,
            repo,
            workspace.remote,
            workspace.branch,
            expected_tip=expected_tip,
            timeout_s=self._git_timeout_s,
        )

    def _prepare(self, task: TaskDispatched) -> GitWorkspace:
        branch = check_branch_name(task.branch)
        source = check_git_argument(task.repo, "repository")
        self._root.mkdir(parents=True, exist_ok=True)
        name = workspace_dir_name(branch, task.run_id, task.task_id)
        tmp = Path(tempfile.mkdtemp(prefix=f"{task.run_id[:8]}-{name}-", dir=self._root))
        try:
            repo = gitops.clone(source, tmp / "repo", self._identity, timeout_s=self._git_timeout_s)
            base = self._base_commit(repo, task.base_ref)
            gitops.checkout_new_branch(repo, branch, base)
            remote = self._push_target(task, source)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return GitWorkspace(
            path=tmp / "repo",
            branch=branch,
            base_commit=base,
            remote=remote,
            remove=partial(shutil.rmtree, tmp, ignore_errors=True),
        )

    @staticmethod
    def _base_commit(repo: Repo, base_ref: str) -> str:
        # In a clone only the default branch is local; other branches are `origin/<name>`.
        try:
            return gitops.resolve_commit(repo, base_ref)
        except GitError:
            return gitops.resolve_commit(repo, f"origin/{base_ref}")

    def _push_target(self, task: TaskDispatched, source: str) -> str | None:
        """Where the branch goes, with the same meaning as in local mode.

        `task.remote` as a URL is used as is; as a name it is a remote of the source
        repository. Unset: a URL source is itself the remote; a local source pushes to its
        `origin` when it has one.
        """
        wanted = task.remote
        if wanted and (is_url(wanted) or Path(wanted).is_absolute()):
            return wanted
        if not wanted and is_url(source):
            return source
        if is_url(source):
            raise GitError(f"remote {wanted!r} is a name, but the repository is a URL: {source}")
        source_repo = gitops.open_repo(Path(source).expanduser(), self._identity)
        url = gitops.remote_url(source_repo, wanted or "origin")
        if url is None:
            if wanted:
                raise GitError(f"the repository has no remote named {wanted!r}")
            return None
        if not is_url(url) and not Path(url).is_absolute():
            url = str((Path(source).expanduser() / url).resolve())
        return url
