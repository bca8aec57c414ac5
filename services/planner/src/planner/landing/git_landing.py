"""Land `merge`: move the base branch to the run's integration tip, through git, no shell.

Works in a scratch bare repository of the planner's (`CC_PLANNER_WORK_DIR/land/…`): fetch the
integration branch and the base branch, then
- base already contains the tip: nothing to do (a redelivered request ends here);
- base is an ancestor of the tip: fast-forward it (a push with a lease on the base's tip);
- base moved since the run started: merge the tip into it when that merges cleanly (a merge
  commit), otherwise refuse with the files that clash (LAND_FAILED).
A lease lost to someone pushing at the same moment reads both again and decides again.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cc_taskrunner import GitIdentity, git_steps, integration
from cc_taskrunner.environment import ExecEnvironment
from cc_taskrunner.errors import GitError
from cc_taskrunner.integration import Conflict, IntegrationTarget
from cc_taskrunner.isolation_clone import push_target
from cc_taskrunner.process import run_process
from cc_taskrunner.workspace import LocalWorkspace

MAX_RACES = 5


class LandFailure(Exception):
    """The run's work cannot be landed as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Landed:
    target: str
    """The base branch that now holds the run's work."""
    commit: str
    """Its new tip (the integration tip, or the merge commit on top of the moved base)."""


class GitLanding:
    def __init__(self, work_dir: Path, identity: GitIdentity, *, timeout_s: float = 300.0) -> None:
        self._root = work_dir / "land"
        self._identity = identity
        self._timeout_s = timeout_s

    def remote_of(self, repo: str, remote: str | None) -> str:
        """Where the run's branches live: its remote, else the (local) repository itself."""
        try:
            found = push_target(repo, remote, self._identity)
        except GitError as exc:
            raise LandFailure(exc.message) from exc
        return found or str(Path(repo).expanduser().resolve())

    async def base_branch(self, remote: str, base_ref: str) -> str:
        """The branch `base_ref` names on `remote` (`HEAD`: the remote's default branch)."""
        ws = await self._scratch(remote)
        ref = base_ref.removeprefix("refs/heads/")
        if ref != "HEAD":
            tip = await self._tip(ws, IntegrationTarget(ref, remote))
            if tip is None:
                raise LandFailure(
                    f"base_ref {base_ref!r} is not a branch of {remote}: a run can only land "
                    "on a branch"
                )
            return ref
        out = await git_steps.git(
            ws,
            ["git", "ls-remote", "--symref", remote, "HEAD"],
            what="reading the remote's default branch",
            timeout_s=self._timeout_s,
        )
        for line in out.splitlines():
            if line.startswith("ref: refs/heads/") and line.endswith("\tHEAD"):
                return line.removeprefix("ref: refs/heads/").removesuffix("\tHEAD")
        raise LandFailure(f"{remote} has no default branch to land on; pass a branch as base_ref")

    async def merge(self, *, remote: str, base: str, integration_branch: str) -> Landed:
        ws = await self._scratch(remote)
        for _ in range(MAX_RACES):
            tip = await self._tip(ws, IntegrationTarget(integration_branch, remote))
            if tip is None:
                raise LandFailure(f"the integration branch {integration_branch} is not on {remote}")
            base_target = IntegrationTarget(base, remote)
            old = await self._tip(ws, base_target)
            if old is None:
                raise LandFailure(f"the base branch {base} is not on {remote}")
            if old == tip or await integration.is_ancestor(ws, tip, old):
                return Landed(base, old)
            new = tip
            if not await integration.is_ancestor(ws, old, tip):
                merged = await integration.combine(
                    ws,
                    onto=old,
                    task_commit=tip,
                    message=f"Merge {integration_branch} into {base}\n",
                    merge_commit=True,
                )
                if isinstance(merged, Conflict):
                    files = ", ".join(merged.files[:20])
                    raise LandFailure(
                        f"{base} moved since the run started ({old[:12]}) and does not merge "
                        f"cleanly with {integration_branch}: {files}; the integration branch "
                        "holds the run's work, merge it by hand"
                    )
                new = merged.commit
            try:
                moved = await integration.move(
                    ws, base_target, new, old=old, timeout_s=self._timeout_s
                )
            except GitError as exc:
                raise LandFailure(f"{base} could not be moved: {exc.message}") from exc
            if moved:
                return Landed(base, new)
        raise LandFailure(f"{base} kept moving: gave up after {MAX_RACES} tries")

    async def tip(self, remote: str, branch: str) -> str | None:
        return await self._tip(await self._scratch(remote), IntegrationTarget(branch, remote))

    async def _tip(self, ws: LocalWorkspace, target: IntegrationTarget) -> str | None:
        try:
            return await integration.read_tip(ws, target, timeout_s=self._timeout_s)
        except GitError as exc:
            raise LandFailure(exc.message) from exc

    async def _scratch(self, remote: str) -> LocalWorkspace:
        """A bare repository of ours per remote, made once: objects to merge and push with."""
        path = self._root / hashlib.sha256(remote.encode()).hexdigest()[:16]
        if not (path / "HEAD").exists():
            await asyncio.to_thread(path.mkdir, parents=True, exist_ok=True)
            result = await run_process(
                ["git", "init", "--quiet", "--bare", str(path)], cwd=path, timeout_s=60
            )
            if not result.ok:
                raise LandFailure(f"cannot make a scratch repository: {result.tail()}")
        return LocalWorkspace(
            path=path,
            branch="",
            base_commit="",
            remote=remote,
            environment=ExecEnvironment(fixed=self._identity.env()),
        )
