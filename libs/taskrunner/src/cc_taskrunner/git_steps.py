"""The git commands of CommandCenter, run through `Workspace.exec`: argv lists, no shell.

Because they go through the workspace, the same commands run in a local folder and inside a
container. The `*_argv` builders are also what the Dagger pipeline description is made of.
The worktree and remote commands at the end run in a repository of this machine (a workspace
on the user's repository, with the git identity in its environment). Failures raise
`GitError` with git's own message.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from commandcenter_contracts import FailureCode, TaskDispatched

from cc_taskrunner.branches import check_git_argument
from cc_taskrunner.errors import GitError, TaskRunnerError
from cc_taskrunner.ports import ExecRequest, Workspace
from cc_taskrunner.process import CommandNotFound, ProcessResult

LOCAL_TIMEOUT_S = 120.0
"""Limit for git commands that do not touch the network (add, commit, rev-parse)."""


def clone_argv(source: str) -> list[str]:
    """Clone into the (empty) current folder. The clone lives for one task: git's automatic
    maintenance (a `git maintenance run --auto` after each commit and fetch) is wasted on it."""
    source = check_git_argument(source, "repository")
    return ["git", "clone", "--quiet", "-c", "maintenance.auto=false", "--", source, "."]


def checkout_argv(branch: str, base: str) -> list[str]:
    """(Re)create `branch` at `base` and check it out."""
    return ["git", "checkout", "--quiet", "-B", check_git_argument(branch, "branch"), base]


def add_all_argv() -> list[str]:
    return ["git", "add", "-A"]


def commit_argv(message: str) -> list[str]:
    """Commit what is staged; the summary line names the new commit in full."""
    return ["git", "-c", "core.abbrev=no", "commit", "-m", message]


def push_argv(remote: str, branch: str, expected_tip: str | None) -> list[str]:
    """Push HEAD to `branch`, replacing the remote branch only if it is still `expected_tip`.

    The lease lets a later attempt replace an earlier attempt's branch, but never a branch
    that moved since this attempt looked at it.
    """
    ref = f"refs/heads/{branch}"
    return [
        "git",
        "push",
        "--quiet",
        f"--force-with-lease={ref}:{expected_tip or ''}",
        check_git_argument(remote, "remote"),
        f"HEAD:{ref}",
    ]


def git_request(argv: Sequence[str], timeout_s: float, *, stdin: str | None = None) -> ExecRequest:
    """A git command: git's credentials, its stdout kept (the answer)."""
    return ExecRequest(
        argv,
        kind="git",
        timeout_s=timeout_s,
        capture_stdout=True,
        stdin=stdin,
        dies_with_executor=not is_plumbing(argv),
    )


PLUMBING = frozenset(
    {"add", "cat-file", "commit-tree", "diff", "log", "merge-tree", "rev-list", "rev-parse"}
)
"""Git commands that run no hook, spawn nothing that lasts and touch no ref: a leftover one
(its executor died) is over in milliseconds and changes nothing a later delivery sees."""


def is_plumbing(argv: Sequence[str]) -> bool:
    """Whether `argv` is `git <PLUMBING command> …` (no `-c` or other option before it)."""
    return len(argv) > 1 and argv[0] == "git" and argv[1] in PLUMBING


async def git(
    ws: Workspace, argv: Sequence[str], *, what: str, timeout_s: float = LOCAL_TIMEOUT_S
) -> str:
    """Run a git argv in the workspace and return its stdout; `GitError` if it fails."""
    try:
        result = await ws.exec(git_request(argv, timeout_s))
    except CommandNotFound as exc:
        raise GitError(f"{what} failed: {exc}") from exc
    return checked(result, what=what, timeout_s=timeout_s)


def checked(result: ProcessResult, *, what: str, timeout_s: float = LOCAL_TIMEOUT_S) -> str:
    """A git command's stdout if it succeeded; `GitError` (or cancelled) with git's message."""
    if result.cancelled:
        raise TaskRunnerError(FailureCode.CANCELLED, f"{what} was cancelled")
    if result.timed_out:
        raise GitError(f"{what} did not finish within {timeout_s:g}s")
    if result.returncode != 0:
        detail = result.tail() or f"exit status {result.returncode}"
        raise GitError(f"{what} failed: {detail}")
    return result.stdout


# --- setting a checkout up ---------------------------------------------------------------------
async def clone(ws: Workspace, source: str, *, timeout_s: float) -> None:
    await git(ws, clone_argv(source), what=f"git clone {source}", timeout_s=timeout_s)


async def resolve_commits(ws: Workspace, *refs: str) -> list[str | None]:
    """The commits `refs` name, in one process (`git cat-file --batch-check`); None for one
    that names no commit (a branch that does not exist yet)."""
    for ref in refs:
        if any(c.isspace() for c in check_git_argument(ref, "ref")):
            raise GitError(f"invalid ref {ref!r}")
    argv = ["git", "cat-file", "--batch-check=%(objectname)"]
    query = "".join(f"{ref}^{{commit}}\n" for ref in refs)
    request = git_request(argv, LOCAL_TIMEOUT_S, stdin=query)
    out = checked(await ws.exec(request), what="resolving " + ", ".join(refs))
    lines = out.splitlines()
    if len(lines) != len(refs):
        raise GitError(f"resolving {', '.join(refs)}: unexpected answer {out!r}")
    return [line if _OBJECT_ID.fullmatch(line) else None for line in lines]


_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass(frozen=True)
class StartingPoint:
    """Where a fresh clone's task branch starts."""

    base: str
    """The commit the run's base ref names."""
    integration_tip: str | None
    """The run's integration branch as the clone found it on its source; None when it was not
    asked for or did not exist yet."""
    integration_read: bool = False
    """The clone's source is where the branch lives, so it was asked for: None above means
    the branch did not exist when the clone was made."""

    @property
    def commit(self) -> str:
        return self.integration_tip or self.base


async def start_branch(
    ws: Workspace, branch: str, base_ref: str, *, integration_branch: str | None = None
) -> StartingPoint:
    """In a fresh clone: check out a new `branch` at the integration branch's tip when the
    clone has it, else at `base_ref`. `integration_branch`: the run integrates on the clone's
    source, so the clone holds the branch as it is now and no fetch is needed to read it.

    Only the default branch is local in a clone; other branches are `origin/<name>`. One
    process reads every ref, one checks the branch out.
    """
    refs = [check_git_argument(base_ref, "base ref"), f"origin/{base_ref}"]
    if integration_branch:
        refs.append(f"refs/remotes/origin/{check_git_argument(integration_branch, 'branch')}")
    try:
        local, remote, *tip = await resolve_commits(ws, *refs)
    except GitError as exc:
        raise GitError(f"base ref {base_ref!r} is not a commit of the repository") from exc
    base = local or remote
    if base is None:
        raise GitError(f"base ref {base_ref!r} is not a commit of the repository")
    start = StartingPoint(base, tip[0] if tip else None, integration_read=bool(integration_branch))
    await git(ws, checkout_argv(branch, start.commit), what=f"git checkout -B {branch}")
    return start


async def clone_for_task(
    ws: Workspace, source: str, task: TaskDispatched, *, on_source: bool, timeout_s: float
) -> StartingPoint:
    """Clone `source` and check the task's branch out where the task starts. `on_source`: the
    run integrates on `source` itself, so the clone brings the integration branch along (as
    `origin/<branch>`) and the task starts on its tip; otherwise the integrate step reads the
    tip from where it lives. The workspace should start at `.commit` (as a worktree does)."""
    await clone(ws, source, timeout_s=timeout_s)
    integration_branch = task.integration_branch if on_source else None
    return await start_branch(ws, ws.branch, task.base_ref, integration_branch=integration_branch)


# --- the remote --------------------------------------------------------------------------------
async def remote_branch_tip(
    ws: Workspace, remote: str, branch: str, *, timeout_s: float
) -> str | None:
    """The commit `branch` points to on `remote`, or None if the remote has no such branch."""
    ref = f"refs/heads/{branch}"
    argv = ["git", "ls-remote", check_git_argument(remote, "remote"), ref]
    out = await git(ws, argv, what=f"git ls-remote {remote}", timeout_s=timeout_s)
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        if name == ref:
            return sha
    return None


async def fetch_branch(ws: Workspace, remote: str, branch: str, *, timeout_s: float) -> str:
    """Fetch `branch` from `remote` (objects only, into FETCH_HEAD) and return its commit."""
    argv = [
        "git",
        "fetch",
        "--quiet",
        "--no-tags",
        check_git_argument(remote, "remote"),
        f"refs/heads/{branch}",
    ]
    await git(ws, argv, what=f"git fetch {remote} {branch}", timeout_s=timeout_s)
    return (await git(ws, ["git", "rev-parse", "FETCH_HEAD"], what="reading FETCH_HEAD")).strip()


async def push_branch(
    ws: Workspace, remote: str, branch: str, *, expected_tip: str | None, timeout_s: float
) -> None:
    argv = push_argv(remote, branch, expected_tip)
    await git(ws, argv, what=f"git push {remote} {branch}", timeout_s=timeout_s)


# --- commits -----------------------------------------------------------------------------------
async def head_commit(ws: Workspace) -> str:
    return (await git(ws, ["git", "rev-parse", "HEAD"], what="reading HEAD")).strip()


async def commit_all(ws: Workspace, message: str) -> str | None:
    """Stage everything (`git add -A`) and commit it; None when there was nothing to commit.

    Two processes, as a bare `git add -A && git commit`: the commit's summary line names the
    new commit in full (`core.abbrev=no`), so HEAD is not read again."""
    await git(ws, add_all_argv(), what="git add -A")
    result = await ws.exec(git_request(commit_argv(message), LOCAL_TIMEOUT_S))
    if not result.ok:
        # Nothing staged (`git commit` refuses to make an empty commit), or a real failure.
        staged = await ws.exec(git_request(["git", "diff", "--cached", "--quiet"], LOCAL_TIMEOUT_S))
        if staged.ok:
            return None
    named = _COMMITTED.match(checked(result, what="git commit"))
    return named.group(1) if named else await head_commit(ws)


_COMMITTED = re.compile(r"^\[[^\n]*? ([0-9a-f]{40}|[0-9a-f]{64})\] ")
"""`git commit`'s summary: `[<branch> <commit>] <subject>` (a branch has no spaces)."""


async def amend_message(ws: Workspace, message: str) -> str:
    argv = ["git", "commit", "--quiet", "--amend", "--allow-empty", "-m", message]
    await git(ws, argv, what="git commit --amend")
    return await head_commit(ws)


async def commit_message(ws: Workspace, rev: str = "HEAD") -> str:
    return await git(ws, ["git", "log", "-1", "--format=%B", rev], what=f"reading {rev}")


async def count_commits(ws: Workspace, base: str, head: str = "HEAD") -> int:
    argv = ["git", "rev-list", "--count", f"{base}..{head}"]
    return int((await git(ws, argv, what=f"counting commits {base}..{head}")).strip())


# --- a repository of this machine: its worktrees and remotes ----------------------------------
async def check_repository(ws: Workspace) -> None:
    """Refuse a workspace folder that is not a repository's top level (or a bare repository):
    a folder inside a checkout would silently stand for the repository around it."""
    what = f"opening {ws.path}"
    prefix = await git(ws, ["git", "rev-parse", "--show-prefix"], what=what)
    if prefix.strip():
        raise GitError(f"{what} failed: not a git repository (a folder inside one)")


@dataclass(frozen=True)
class WorktreeInfo:
    path: Path
    branch: str | None
    """`refs/heads/…` checked out there; None when detached."""


async def list_worktrees(ws: Workspace) -> list[WorktreeInfo]:
    """The repository's worktrees, its main one (the repository itself) first."""
    out = await git(ws, ["git", "worktree", "list", "--porcelain"], what="listing worktrees")
    found: list[WorktreeInfo] = []
    path: Path | None = None
    branch: str | None = None
    for line in [*out.splitlines(), ""]:
        if line.startswith("worktree "):
            path = Path(line.removeprefix("worktree "))
        elif line.startswith("branch "):
            branch = line.removeprefix("branch ")
        elif not line and path is not None:
            found.append(WorktreeInfo(path, branch))
            path, branch = None, None
    return found


async def add_worktree(
    ws: Workspace, path: Path, branch: str, base: str, *, timeout_s: float = LOCAL_TIMEOUT_S
) -> None:
    """`git worktree add -B branch path base`: (re)creates the branch at `base`."""
    argv = ["git", "worktree", "add", "--quiet", "-B", check_git_argument(branch, "branch")]
    argv += ["--", str(path), base]
    await git(ws, argv, what=f"git worktree add {path}", timeout_s=timeout_s)


async def remove_worktree(ws: Workspace, path: Path, *, timeout_s: float = LOCAL_TIMEOUT_S) -> None:
    """Remove a worktree even with changes in it; the branch stays."""
    argv = ["git", "worktree", "remove", "--force", "--force", "--", str(path)]
    try:
        await git(ws, argv, what=f"git worktree remove {path}", timeout_s=timeout_s)
    except GitError:  # not registered (any more), or half removed: the folder goes, git forgets
        await asyncio.to_thread(shutil.rmtree, path, ignore_errors=True)
        await prune_worktrees(ws)
        return
    if await asyncio.to_thread(path.exists):  # written into meanwhile (a process left over)
        await asyncio.to_thread(shutil.rmtree, path, ignore_errors=True)


async def prune_worktrees(ws: Workspace) -> None:
    await git(ws, ["git", "worktree", "prune"], what="git worktree prune")


async def has_remote(ws: Workspace, name: str) -> bool:
    out = await git(ws, ["git", "remote"], what="listing remotes")
    return name in out.split()
