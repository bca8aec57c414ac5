"""The git commands of local isolations, through GitPython (argv lists, never a shell).

Worktrees and the source repository's remotes; the steps of a task's flow are `git_steps`.

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


# --- remotes ----------------------------------------------------------------------------------
def has_remote(repo: git.Repo, name: str) -> bool:
    return any(remote.name == name for remote in repo.remotes)


def remote_url(repo: git.Repo, name: str) -> str | None:
    if not has_remote(repo, name):
        return None
    with _git_errors(f"reading the URL of remote {name}"):
        return str(repo.git.remote("get-url", name)).strip()
