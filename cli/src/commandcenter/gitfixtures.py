"""Real git repositories for the demo and the tests: a working repo with a bare remote."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "CommandCenter",
    "GIT_AUTHOR_EMAIL": "commandcenter@localhost",
    "GIT_COMMITTER_NAME": "CommandCenter",
    "GIT_COMMITTER_EMAIL": "commandcenter@localhost",
}


def git(cwd: Path, *args: str) -> str:
    """Run git with an argv list (never a shell) and return its stdout."""
    env = {**os.environ, **GIT_IDENTITY}
    result = subprocess.run(  # noqa: S603 - argv list
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {result.stderr.strip()}")
    return result.stdout


@dataclass(frozen=True)
class GitSandbox:
    repo: Path
    """The working repository (branch `main`), with `origin` pointing at `remote`."""
    remote: Path
    """A bare repository."""

    def remote_branches(self) -> list[str]:
        out = git(self.remote, "for-each-ref", "--format=%(refname:short)", "refs/heads")
        return sorted(line for line in out.splitlines() if line)

    def commits_between(self, base: str, branch: str) -> list[str]:
        out = git(self.remote, "rev-list", f"{base}..{branch}")
        return [line for line in out.splitlines() if line]

    def file_at(self, branch: str, path: str) -> str:
        return git(self.remote, "show", f"{branch}:{path}")


def make_git_sandbox(root: Path, *, files: dict[str, str] | None = None) -> GitSandbox:
    root.mkdir(parents=True, exist_ok=True)
    remote = root / "remote.git"
    repo = root / "repo"
    git(root, "init", "-q", "--bare", "-b", "main", str(remote))
    git(root, "init", "-q", "-b", "main", str(repo))
    for rel, text in (files or {"README.md": "# sample\n"}).items():
        target = repo / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial commit")
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    return GitSandbox(repo=repo, remote=remote)
