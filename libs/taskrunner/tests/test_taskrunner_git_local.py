"""The git commands on a repository of this machine: worktrees, remotes, where branches go."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from cc_taskrunner import ExecEnvironment, GitError, GitIdentity, git_steps
from cc_taskrunner.isolation_clone import push_target
from cc_taskrunner.isolation_local import RUNS_REMEMBERED, per_run
from cc_taskrunner.workspace import LocalWorkspace
from commandcenter.gitfixtures import GitSandbox, git

pytestmark = pytest.mark.integration

IDENTITY = GitIdentity("Commander", "commander@localhost")


def _repo(path: Path) -> LocalWorkspace:
    return LocalWorkspace.plain(path, environment=ExecEnvironment(fixed=IDENTITY.env()))


async def test_a_repository_is_its_top_level_folder(
    git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    await git_steps.check_repository(_repo(git_sandbox.repo))
    await git_steps.check_repository(_repo(git_sandbox.remote))  # bare
    inside = git_sandbox.repo / "src"
    inside.mkdir()
    with pytest.raises(GitError, match="not a git repository"):
        await git_steps.check_repository(_repo(inside))
    (tmp_path / "plain").mkdir()
    with pytest.raises(GitError, match="not a git repository"):
        await git_steps.check_repository(_repo(tmp_path / "plain"))


async def test_resolving_commits(git_sandbox: GitSandbox) -> None:
    head = git(git_sandbox.repo, "rev-parse", "HEAD").strip()
    repo = _repo(git_sandbox.repo)
    assert await git_steps.resolve_commits(repo, "main", "no-such-branch", "HEAD") == [
        head,
        None,
        head,
    ]
    with pytest.raises(GitError, match="invalid ref"):
        await git_steps.resolve_commits(repo, "main", "--all")


async def test_worktrees_are_added_listed_and_removed_keeping_their_branch(
    git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    repo = _repo(git_sandbox.repo)
    head = git(git_sandbox.repo, "rev-parse", "HEAD").strip()
    path = tmp_path / "trees" / "one"
    path.parent.mkdir()

    await git_steps.add_worktree(repo, path, "cc/run/one", head)

    trees = await git_steps.list_worktrees(repo)
    assert [t.path.resolve() for t in trees] == [git_sandbox.repo.resolve(), path.resolve()]
    assert [t.branch for t in trees] == ["refs/heads/main", "refs/heads/cc/run/one"]
    assert git(path, "rev-parse", "HEAD").strip() == head
    ident = await git_steps.git(repo, ["git", "var", "GIT_COMMITTER_IDENT"], what="ident")
    assert ident.startswith("Commander <commander@localhost>")  # the identity on every command

    (path / "dirty.txt").write_text("uncommitted\n")  # changes do not stop the removal
    await git_steps.remove_worktree(repo, path)

    assert not path.exists()
    assert len(await git_steps.list_worktrees(repo)) == 1
    assert git(git_sandbox.repo, "rev-parse", "cc/run/one").strip() == head  # branch kept
    assert git(git_sandbox.repo, "status", "--porcelain") == ""  # the user's checkout


async def test_add_recreates_the_branch_at_the_base(
    git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    repo = _repo(git_sandbox.repo)
    head = git(git_sandbox.repo, "rev-parse", "HEAD").strip()
    git(git_sandbox.repo, "branch", "cc/run/two", head)
    (git_sandbox.repo / "more.txt").write_text("more\n")
    git(git_sandbox.repo, "add", "more.txt")
    git(git_sandbox.repo, "commit", "-q", "-m", "more")
    newer = git(git_sandbox.repo, "rev-parse", "HEAD").strip()

    await git_steps.add_worktree(repo, tmp_path / "two", "cc/run/two", newer)

    assert git(git_sandbox.repo, "rev-parse", "cc/run/two").strip() == newer
    with pytest.raises(GitError, match="invalid branch"):
        await git_steps.add_worktree(repo, tmp_path / "x", "--orphan", newer)


async def test_removing_a_worktree_git_no_longer_knows_removes_its_folder(
    git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    repo = _repo(git_sandbox.repo)
    path = tmp_path / "gone"
    await git_steps.add_worktree(repo, path, "cc/run/gone", "HEAD")
    (path / ".git").unlink()  # half-removed: git cannot remove it any more
    await git_steps.remove_worktree(repo, path)
    assert not path.exists()
    assert len(await git_steps.list_worktrees(repo)) == 1  # pruned

    stray = tmp_path / "stray"
    stray.mkdir()
    await git_steps.remove_worktree(repo, stray)  # never registered
    assert not stray.exists()


async def test_remotes(git_sandbox: GitSandbox, tmp_path: Path) -> None:
    assert await git_steps.has_remote(_repo(git_sandbox.repo), "origin")
    assert not await git_steps.has_remote(_repo(git_sandbox.repo), "upstream")
    git(tmp_path, "init", "-q", "lonely")
    assert not await git_steps.has_remote(_repo(tmp_path / "lonely"), "origin")


def test_where_a_runs_branches_are_pushed(git_sandbox: GitSandbox, tmp_path: Path) -> None:
    repo = str(git_sandbox.repo)
    url = "https://example.com/x.git"
    assert push_target(repo, url, IDENTITY) == url
    assert push_target(repo, "/srv/x.git", IDENTITY) == "/srv/x.git"
    assert push_target(url, None, IDENTITY) == url
    assert push_target(repo, None, IDENTITY) == str(git_sandbox.remote)
    assert push_target(repo, "origin", IDENTITY) == str(git_sandbox.remote)
    git(git_sandbox.repo, "remote", "add", "nearby", "../remote.git")  # relative: made absolute
    assert push_target(repo, "nearby", IDENTITY) == str(git_sandbox.remote.resolve())

    with pytest.raises(GitError, match="no remote named 'upstream'"):
        push_target(repo, "upstream", IDENTITY)
    with pytest.raises(GitError, match="is a name, but the repository is a URL"):
        push_target(url, "origin", IDENTITY)
    git(tmp_path, "init", "-q", "lonely")
    assert push_target(str(tmp_path / "lonely"), None, IDENTITY) is None
    (tmp_path / "plain").mkdir()
    with pytest.raises(GitError, match="not a git repository"):
        push_target(str(tmp_path / "plain"), None, IDENTITY)
    with pytest.raises(GitError):
        push_target(str(tmp_path / "nowhere"), None, IDENTITY)
    with pytest.raises(GitError, match="invalid remote"):
        push_target(repo, "--upload-pack=x", IDENTITY)


async def test_a_per_run_answer_is_asked_once_and_the_oldest_runs_are_forgotten() -> None:
    asked: list[str] = []

    def ask(run: str) -> Callable[[], Awaitable[str]]:
        async def answer() -> str:
            asked.append(run)
            return f"answer of {run}"

        return answer

    cache: dict[str, asyncio.Future[str]] = {}
    assert await per_run(cache, "run-0", ask("run-0")) == "answer of run-0"
    assert await per_run(cache, "run-0", ask("run-0")) == "answer of run-0"
    assert asked == ["run-0"]
    for n in range(1, RUNS_REMEMBERED + 1):
        await per_run(cache, f"run-{n}", ask(f"run-{n}"))
    assert len(cache) == RUNS_REMEMBERED and "run-0" not in cache  # the oldest went first
    await per_run(cache, "run-0", ask("run-0"))
    assert asked.count("run-0") == 2


async def test_a_runs_tasks_starting_together_wait_for_one_question() -> None:
    asked: list[str] = []
    release = asyncio.Event()

    async def slow() -> str:
        asked.append("slow")
        await release.wait()
        return "answer"

    cache: dict[str, asyncio.Future[str]] = {}
    waiting = [asyncio.create_task(per_run(cache, "run-1", slow)) for _ in range(3)]
    await asyncio.sleep(0)
    waiting[0].cancel()  # one task is cancelled meanwhile: the others still get the answer
    release.set()
    assert await asyncio.gather(*waiting[1:]) == ["answer", "answer"]
    assert asked == ["slow"]

    async def failing() -> str:
        asked.append("failing")
        raise GitError("no answer")

    with pytest.raises(GitError):
        await per_run(cache, "run-2", failing)
    assert await per_run(cache, "run-2", slow) == "answer"
    assert asked == ["slow", "failing", "slow"]
