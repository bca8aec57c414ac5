"""Remote hygiene against a real bare remote: the push that integrates a task deletes its
branch; a failed task's branch stays until an attempt of it lands (a replay); a run that asks
to `keep_task_branches` keeps them all; and a repository used for many runs keeps no more refs
than a fresh one, plus one integration branch per run (each push and fetch scans them all)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from commandcenter.gitfixtures import GitSandbox, git
from commandcenter_contracts import FailureCode, TaskDispatched, TaskSucceeded
from taskrunner_support import make_harness, make_task

from tests.support.executors import failed_with, python_agent

pytestmark = pytest.mark.integration

WRITE = "import pathlib; pathlib.Path({path!r}).write_text({text!r})"


def _task(
    sandbox: GitSandbox, run: int, plan_id: str, path: str, text: str, **extra: object
) -> TaskDispatched:
    run8 = f"{run:08d}"
    fields: dict[str, object] = {
        "run_id": f"{run8}-0000-0000-0000-000000000000",
        "plan_task_id": plan_id,
        "title": f"Write {path}",
        "branch": f"cc/{run8}/{plan_id.replace('.', '-')}",
        "integration_branch": f"cc/{run8}/integration",
        "base_ref": "main",
        "agent": python_agent(WRITE.format(path=path, text=text)),
    }
    fields.update(extra)
    return make_task(sandbox, **fields)


def _succeeded(outcome: object) -> TaskSucceeded:
    assert isinstance(outcome, TaskSucceeded), outcome
    return outcome


def refs(where: Path) -> list[str]:
    return git(where, "for-each-ref", "--format=%(refname)").split()


def task_branches(where: Path) -> set[str]:
    """The `cc/` branches there but the integration branches."""
    return {
        ref.removeprefix("refs/heads/")
        for ref in refs(where)
        if ref.startswith("refs/heads/cc/") and not ref.endswith("/integration")
    }


async def test_integrated_branches_leave_the_remote_a_failed_one_stays_until_its_replay_lands(
    git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    harness = make_harness(tmp_path)
    remote = git_sandbox.remote
    first = _task(git_sandbox, 1, "1.1", "shared.txt", "one\n")
    one = _succeeded(await harness.runner.run(first))
    assert one.pushed and one.integrated_commit is not None
    assert task_branches(remote) == set()  # the push that integrated it deleted its branch
    assert task_branches(git_sandbox.repo) == set()  # and its local branch went too

    # A task of the same batch, made from the base: pushed, then it clashes with the first.
    second = _task(git_sandbox, 1, "1.2", "shared.txt", "two\n")
    _succeeded(await harness.runner.run(msgspec.structs.replace(second, integration_branch="")))
    pushed = git(remote, "rev-parse", second.branch).strip()
    outcome = await harness.runner.run(msgspec.structs.replace(second, attempt=2), base_attempt=1)
    failed_with(outcome, FailureCode.MERGE_CONFLICT)
    # Failed: its branch stays for inspection, on the remote and in the repository.
    assert task_branches(remote) == {second.branch}
    assert git(remote, "rev-parse", second.branch).strip() == pushed
    assert task_branches(git_sandbox.repo) == {second.branch}

    # The replay redoes it from the integration tip; the push that lands it deletes the branch.
    replay = msgspec.structs.replace(
        second, attempt=3, agent=python_agent(WRITE.format(path="shared.txt", text="one, two\n"))
    )
    _succeeded(await harness.runner.run(replay, base_attempt=3))
    assert task_branches(remote) == set()
    assert task_branches(git_sandbox.repo) == set()
    assert git_sandbox.file_at(first.integration_branch, "shared.txt") == "one, two\n"


async def test_keep_task_branches_keeps_them_on_the_remote_and_in_the_repository(
    git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    harness = make_harness(tmp_path)
    kept = [
        _task(git_sandbox, 2, f"1.{n}", f"f{n}.txt", f"{n}\n", keep_task_branches=True)
        for n in (1, 2)
    ]
    done = [_succeeded(await harness.runner.run(task)) for task in kept]
    assert all(outcome.integrated_commit for outcome in done)
    branches = {task.branch for task in kept}
    assert task_branches(git_sandbox.remote) == branches
    assert task_branches(git_sandbox.repo) == branches
    for task, outcome in zip(kept, done, strict=True):
        assert git(git_sandbox.remote, "rev-parse", task.branch).strip() == outcome.commit


async def test_a_repository_used_for_twenty_runs_keeps_one_integration_branch_per_run(
    git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    """As fast as a fresh one: pushes, fetches and `ls-remote` scan the refs, and there are no
    more of them than the runs' results (the loose objects are git's own `gc`'s business)."""
    harness = make_harness(tmp_path)
    fresh_remote, fresh_repo = refs(git_sandbox.remote), refs(git_sandbox.repo)
    runs = range(100, 120)
    for run in runs:
        for n in (1, 2):
            task = _task(git_sandbox, run, f"1.{n}", f"r{run}-{n}.txt", f"{run}.{n}\n")
            _succeeded(await harness.runner.run(task))
    integration = {f"refs/heads/cc/{run:08d}/integration" for run in runs}
    assert sorted(refs(git_sandbox.remote)) == sorted([*fresh_remote, *integration])
    # The repository: its own refs, and the remote's integration branches as seen by fetch.
    tracked = {ref.replace("refs/heads/", "refs/remotes/origin/") for ref in integration}
    assert set(refs(git_sandbox.repo)) - set(fresh_repo) <= tracked
    assert task_branches(git_sandbox.repo) == set()
    # No worktree is left: the repository's own checkout is the only one git knows.
    listed = git(git_sandbox.repo, "worktree", "list", "--porcelain")
    assert listed.count("worktree ") == 1
    assert not any(harness.worktree_root.rglob("*.txt"))
