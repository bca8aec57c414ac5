"""Every git command the task runner uses, through GitPython (argv lists, never a shell).

The functions are synchronous (GitPython blocks): async callers run them with
`asyncio.to_thread`. Failures raise `GitError` with git's own message.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import git

from cc_taskrunner.branches import check_git_argument
from cc_taskrunner.errors import GitError

Repo = git.Repo

ALLOWED_PROTOCOLS = "file:git:http:https:ssh"
"""`GIT_ALLOW_PROTOCOL`: a repository URL from a message must not be `ext::<command>`."""


@dataclass(frozen=True)
class GitIdentity:
    name: str
    email: str

    def env(self) -> dict[str, str]:
        """Environment for every git command (and for agents that commit themselves)."""
        return {
            "GIT_AUTHOR_NAME": self.name,
            "GIT_AUTHOR_EMAIL": self.email,
            "GIT_COMMITTER_NAME": self.name,
            "GIT_COMMITTER_EMAIL": self.email,
            "GIT_TERMINAL_PROMPT": "0",  # a missing credential fails instead of hanging
            "GIT_ALLOW_PROTOCOL": ALLOWED_PROTOCOLS,
        }


@contextmanager
def _git_errors(action: str) -> Iterator[None]:
    try:
        yield
    except git.GitCommandError as exc:
        detail = exc.stderr.strip() if isinstance(exc.stderr, str) else str(exc.stderr)
        detail = detail.removeprefix("stderr:").strip().strip("'").strip()
        raise GitError(f"{action} failed: {detail or exc}") from exc
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise GitError(f"{action} failed: not a git repository: {exc}") from exc


def open_repo(path: Path, identity: GitIdentity) -> git.Repo:
    with _git_errors(f"opening {path}"):
        repo = git.Repo(path)
    repo.git.update_environment(**identity.env())
    return repo


def resolve_commit(repo: git.Repo, ref: str) -> str:
    check_git_argument(ref, "base ref")
    try:
        return str(repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}")).strip()
    except git.GitCommandError as exc:
        raise GitError(f"base ref {ref!r} is not a commit of {repo.working_dir}") from exc


def head_commit(repo: git.Repo) -> str:
    with _git_errors("reading HEAD"):
        return str(repo.git.rev_parse("HEAD")).strip()


# --- worktrees --------------------------------------------------------------------------------
@dataclass(frozen=True)
class WorktreeInfo:
    path: Path
    branch: str | None
    """`refs/heads/…` checked out there; None when detached."""


def list_worktrees(repo: git.Repo) -> list[WorktreeInfo]:
    with _git_errors("listing worktrees"):
        out = str(repo.git.worktree("list", "--porcelain"))
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


def add_worktree(repo: git.Repo, path: Path, branch: str, base: str) -> None:
    """`git worktree add -B branch path base`: (re)creates the branch at `base`."""
    check_git_argument(branch, "branch")
    with _git_errors(f"git worktree add {path}"):
        repo.git.worktree("add", "--quiet", "-B", branch, str(path), base)


def remove_worktree(repo: git.Repo, path: Path) -> None:
    """Remove a worktree even with changes in it; the branch stays."""
    try:
        repo.git.worktree("remove", "--force", "--force", str(path))
    except git.GitCommandError:
        pass  # not registered (any more): the folder is removed below
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)
    prune_worktrees(repo)


def prune_worktrees(repo: git.Repo) -> None:
    with _git_errors("git worktree prune"):
        repo.git.worktree("prune")


# --- clones -----------------------------------------------------------------------------------
def clone(source: str, dest: Path, identity: GitIdentity, *, timeout_s: float) -> git.Repo:
    check_git_argument(source, "repository")
    runner = git.Git()
    runner.update_environment(**identity.env())
    with _git_errors(f"git clone {source}"):
        runner.clone("--quiet", "--", source, str(dest), kill_after_timeout=timeout_s)
    return open_repo(dest, identity)


def checkout_new_branch(repo: git.Repo, branch: str, base: str) -> None:
    check_git_argument(branch, "branch")
    with _git_errors(f"git checkout -B {branch}"):
        repo.git.checkout("--quiet", "-B", branch, base)


# --- remotes ----------------------------------------------------------------------------------
def has_remote(repo: git.Repo, name: str) -> bool:
    return any(remote.name == name for remote in repo.remotes)


def remote_url(repo: git.Repo, name: str) -> str | None:
    if not has_remote(repo, name):
        return None
    with _git_errors(f"reading the URL of remote {name}"):
        return str(repo.git.remote("get-url", name)).strip()


def remote_branch_tip(repo: git.Repo, remote: str, branch: str, *, timeout_s: float) -> str | None:
    """The commit `branch` points to on `remote`, or None if the remote has no such branch."""
    check_git_argument(remote, "remote")
    ref = f"refs/heads/{branch}"
    with _git_errors(f"git ls-remote {remote}"):
        out = str(repo.git.ls_remote(remote, ref, kill_after_timeout=timeout_s))
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        if name == ref:
            return sha
    return None


def fetch_branch(repo: git.Repo, remote: str, branch: str, *, timeout_s: float) -> str:
    """Fetch `branch` from `remote` (objects only, into FETCH_HEAD) and return its commit."""
    check_git_argument(remote, "remote")
    with _git_errors(f"git fetch {remote} {branch}"):
        repo.git.fetch(
            "--quiet", "--no-tags", remote, f"refs/heads/{branch}", kill_after_timeout=timeout_s
        )
        return str(repo.git.rev_parse("FETCH_HEAD")).strip()


def push_branch(
    repo: git.Repo, remote: str, branch: str, *, expected_tip: str | None, timeout_s: float
) -> None:
    """Push HEAD to `branch`, replacing the remote branch only if it is still `expected_tip`.

    The lease lets a later attempt replace an earlier attempt's branch, but never a branch
    that moved since this attempt looked at it.
    """
    check_git_argument(remote, "remote")
    ref = f"refs/heads/{branch}"
    with _git_errors(f"git push {remote} {branch}"):
        repo.git.push(
            "--quiet",
            f"--force-with-lease={ref}:{expected_tip or ''}",
            remote,
            f"HEAD:{ref}",
            kill_after_timeout=timeout_s,
        )


# --- commits ----------------------------------------------------------------------------------
def commit_all(repo: git.Repo, message: str) -> str | None:
    """Stage everything (`git add -A`) and commit it; None when there was nothing to commit."""
    with _git_errors("git add -A"):
        repo.git.add("-A")
        staged = str(repo.git.diff("--cached", "--name-only")).strip()
    if not staged:
        return None
    with _git_errors("git commit"):
        repo.git.commit("--quiet", "-m", message)
    return head_commit(repo)


def amend_message(repo: git.Repo, message: str) -> str:
    with _git_errors("git commit --amend"):
        repo.git.commit("--quiet", "--amend", "--allow-empty", "-m", message)
    return head_commit(repo)


def commit_message(repo: git.Repo, rev: str = "HEAD") -> str:
    with _git_errors(f"reading the message of {rev}"):
        return str(repo.git.log("-1", "--format=%B", rev))


def count_commits(repo: git.Repo, base: str, head: str = "HEAD") -> int:
    with _git_errors(f"counting commits {base}..{head}"):
        return int(str(repo.git.rev_list("--count", f"{base}..{head}")).strip())


def is_dirty(repo: git.Repo) -> bool:
    with _git_errors("git status"):
        return bool(str(repo.git.status("--porcelain", "--untracked-files=all")).strip())
