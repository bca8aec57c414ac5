"""Engine-less isolation: a fresh `git clone` of the task's repository per task.

Used where the repository is reached by URL (the dagger executor without an engine). Each
delivery of a task gets a new temporary folder under the isolation's root
(`<run8>-<slug>--<attempt>-<random>`) holding the clone (`repo/`), a private `HOME` (`home/`)
and the agent's input files (`scratch/`); all of it is deleted afterwards. The folders of
earlier deliveries of the task (a crashed executor's) are deleted first: whatever those left
running writes into its own, discarded folder, never into this delivery's clone. The clone and
the branch are made with the same git steps a container runs (`git_steps`), and the commands'
environment is the isolation's `ExecEnvironment` (scrubbed in the dagger executor).
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
import re
import shutil
import subprocess
import tempfile
from functools import cached_property, partial
from pathlib import Path

from commandcenter_contracts import TaskDispatched

from cc_taskrunner import git_steps
from cc_taskrunner.branches import check_branch_name, check_git_argument, workspace_dir_name
from cc_taskrunner.errors import GitError
from cc_taskrunner.identity import GitIdentity
from cc_taskrunner.isolation_local import LocalIsolation, per_run
from cc_taskrunner.workspace import LocalWorkspace

log = logging.getLogger(__name__)

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|^[^/]+@[^/]+:")  # scheme:// or scp-like


def is_url(location: str) -> bool:
    return bool(_URL.match(location))


def _local_source(source: str) -> str | None:
    """A local repository without a remote keeps the integration branch itself."""
    return None if is_url(source) else str(Path(source).expanduser().resolve())


def _same_repository(remote: str | None, source: str) -> bool:
    """Whether `remote` (a URL or an absolute path) is the repository cloned from `source`."""
    if remote is None:
        return False
    if is_url(remote) or is_url(source):
        return remote == source
    return Path(remote) == Path(source).expanduser().resolve()


class FreshCloneIsolation(LocalIsolation):
    """A folder per delivery under `root` (`LocalIsolation`)."""

    async def prepare(self, task: TaskDispatched) -> LocalWorkspace:
        branch = check_branch_name(task.branch)
        source = check_git_argument(task.repo, "repository")
        tmp = await asyncio.to_thread(self._make_folders, task, branch)
        environment = self._environment
        if environment.scrubbed:
            environment = environment.with_home(tmp / "home")
        workspace = LocalWorkspace(
            path=tmp / "repo",
            branch=branch,
            base_commit="",
            remote=None,
            sandboxed=True,
            environment=environment,
            scratch_root=tmp / "scratch",
            kill_grace_s=self._kill_grace_s,
            remove=partial(_remove_tree, tmp),
        )
        try:
            workspace.remote = await self._push_target(source, task)
            workspace.integration_remote = workspace.remote or _local_source(source)
            start = await git_steps.clone_for_task(
                workspace,
                source,
                task,
                on_source=_same_repository(workspace.integration_remote, source),
                timeout_s=self._git_timeout_s,
            )
            workspace.base_commit = start.commit
            workspace.integration_tip = start.integration_tip
            workspace.integration_read = start.integration_read
        except BaseException:
            await workspace.cleanup()
            raise
        return workspace

    async def _push_target(self, source: str, task: TaskDispatched) -> str | None:
        """`push_target`, asked once per run: every task of a run pushes to the same place
        (and a local source's `origin` costs a git process to read)."""
        return await per_run(
            self._push_targets,
            (source, task.remote, task.run_id),
            lambda: asyncio.to_thread(push_target, source, task.remote, self._identity),
        )

    @cached_property
    def _push_targets(self) -> dict[tuple[str, str | None, str], asyncio.Future[str | None]]:
        return {}

    def _make_folders(self, task: TaskDispatched, branch: str) -> Path:
        self._root.mkdir(parents=True, exist_ok=True)
        # Slugs never contain `--`: the prefix matches this task's deliveries only.
        task_prefix = f"{task.run_id[:8]}-{workspace_dir_name(branch, task.run_id, task.task_id)}--"
        for stale in self._root.glob(f"{glob.escape(task_prefix)}*"):
            log.info("removing the folder of an earlier delivery: %s", stale)
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{task_prefix}{task.attempt}-", dir=self._root))
        for folder in ("repo", "home", "scratch"):
            (tmp / folder).mkdir()
        return tmp


async def _remove_tree(path: Path) -> None:
    await asyncio.to_thread(shutil.rmtree, path, ignore_errors=True)


def push_target(source: str, wanted: str | None, identity: GitIdentity) -> str | None:
    """Where a run's branches go, as a URL or path usable from anywhere on this machine.

    `wanted` (the run's `remote`) as a URL or absolute path is used as is; as a name it is a
    remote of the source repository. Unset: a URL source is itself the remote; a local source
    pushes to its `origin` when it has one, else nowhere (None).

    Blocking (one local `git remote get-url`): the planner's lander asks outside any workspace.
    """
    if wanted and (is_url(wanted) or Path(wanted).is_absolute()):
        return wanted
    if not wanted and is_url(source):
        return source
    if is_url(source):
        raise GitError(f"remote {wanted!r} is a name, but the repository is a URL: {source}")
    url = _remote_url(Path(source).expanduser(), wanted or "origin", identity)
    if url is None:
        if wanted:
            raise GitError(f"the repository has no remote named {wanted!r}")
        return None
    if not is_url(url) and not Path(url).is_absolute():
        url = str((Path(source).expanduser() / url).resolve())
    return url


_NO_SUCH_REMOTE = 2
"""`git remote get-url`'s exit status for a remote the repository does not have."""


def _remote_url(repo: Path, name: str, identity: GitIdentity) -> str | None:
    """The URL of `repo`'s remote `name`; None when it has no such remote."""
    what = f"reading the URL of remote {name}"
    argv = ["git", "remote", "get-url", "--", check_git_argument(name, "remote")]
    try:
        done = subprocess.run(  # noqa: S603 - argv list, the name is one argument
            argv,
            cwd=repo,
            env={**os.environ, **identity.env()},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=git_steps.LOCAL_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"{what} in {repo} failed: {exc}") from exc
    if done.returncode == _NO_SUCH_REMOTE:
        return None
    if done.returncode != 0:
        detail = done.stderr.strip() or f"exit status {done.returncode}"
        raise GitError(f"{what} in {repo} failed: {detail}")
    return done.stdout.strip()
