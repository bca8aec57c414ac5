"""The integration step against real git repositories: tasks build on each other's work, the
merge queue re-checks combined trees, clashes come back as a `Rework`, and a task lands on the
integration branch exactly once whatever is redelivered."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest
from cc_taskrunner import FreshCloneIsolation, GitIdentity, build_prompt, parse_trailers
from cc_taskrunner.integration import IntegrationTarget, TaskBranchTip, move, read_tip
from cc_taskrunner.workspace import LocalWorkspace
from commandcenter.gitfixtures import GitSandbox, git
from commandcenter_contracts import FailureCode, Rework, TaskDispatched, TaskProgress, TaskSucceeded
from taskrunner_support import (
    counting_harness,
    create_body,
    make_harness,
    make_task,
    sandbox_without_remote,
)

from tests.support.executors import failed_with, python_agent

pytestmark = pytest.mark.integration

INTEGRATION = "cc/run12345/integration"


def _task(
    sandbox: GitSandbox, plan_id: str, path: str, content: str, **extra: object
) -> TaskDispatched:
    fields: dict[str, object] = {
        "run_id": "run12345-0000-0000-0000-000000000000",
        "plan_task_id": plan_id,
        "title": f"Create {path}",
        "body": create_body(path, content),
        "branch": f"cc/run12345/{plan_id.replace('.', '-')}-{Path(path).stem}",
        "integration_branch": INTEGRATION,
        "base_ref": "main",
    }
    fields.update(extra)
    return make_task(sandbox, **fields)


def _succeeded(outcome: object) -> TaskSucceeded:
    assert isinstance(outcome, TaskSucceeded), outcome
    return outcome


def _first_parent_log(where: Path, ref: str) -> list[str]:
    return git(where, "log", "--first-parent", "--format=%H", ref).split()


async def test_each_task_starts_from_the_work_before_it_and_lands_as_one_commit(
    git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    harness = make_harness(tmp_path)
    base = git(git_sandbox.repo, "rev-parse", "main").strip()
    first = _task(git_sandbox, "1.1", "src/alpha.txt", "alpha")
    # The second task's check needs the first task's file: it passes only on top of it.
    second = _task(
        git_sandbox, "2.1", "src/beta.txt", "beta", verification=["test -s src/alpha.txt"]
    )

    one = _succeeded(await harness.runner.run(first))
    two = _succeeded(await harness.runner.run(second))

    remote = git_sandbox.remote
    line = _first_parent_log(remote, INTEGRATION)
    assert line[2:] == _first_parent_log(remote, base)  # exactly two commits over the base
    assert line[:2] == [two.integrated_commit, one.integrated_commit]
    assert two.integration_depth == one.integration_depth + 1
    assert git_sandbox.file_at(INTEGRATION, "src/alpha.txt").strip() == "alpha"
    assert git_sandbox.file_at(INTEGRATION, "src/beta.txt").strip() == "beta"
    # Each integrated commit carries its task's trailers; the base branch did not move.
    message = git(remote, "log", "-1", "--format=%B", INTEGRATION)
    assert parse_trailers(message)["CommandCenter-Task"] == second.task_id
    assert git(remote, "rev-parse", "main").strip() == base
    # The second task's own branch starts from the first task's integration.
    assert git(remote, "merge-base", "--is-ancestor", one.integrated_commit or "", two.commit) == ""
    assert "integrated" in harness.sink.steps()
    assert any(e for e in harness.sink.events if getattr(e, "step", "") == "isolated")


async def test_a_clash_with_the_integration_tip_asks_for_a_rework_naming_the_files(
    git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    harness = make_harness(tmp_path)
    write = "import pathlib; pathlib.Path('shared.txt').write_text('{}\\n')"
    first = _task(git_sandbox, "1.1", "a.txt", "a", agent=python_agent(write.format("one")))
    second = _task(git_sandbox, "1.2", "b.txt", "b", agent=python_agent(write.format("two")))
    # Both start from the same tip, as parallel tasks of a batch do: the second is prepared
    # before the first lands, by running it with the first's integration held back.
    one = _succeeded(await harness.runner.run(first))
    tip_before = git(git_sandbox.remote, "rev-parse", f"{one.integrated_commit}^").strip()
    assert tip_before == git(git_sandbox.repo, "rev-parse", "main").strip()
    # Rewind the integration branch's view of the second task by making it start at the base:
    second_from_base = msgspec.structs.replace(second, integration_branch="")
    alone = _succeeded(await harness.runner.run(second_from_base))
    assert alone.integrated_commit is None  # no integration: its branch is pushed only

    redo = msgspec.structs.replace(second, attempt=2)
    outcome = await harness.runner.run(redo, base_attempt=1)  # its pushed work is recovered
    failed = failed_with(outcome, FailureCode.MERGE_CONFLICT)
    assert failed.rework is not None
    assert failed.rework.reason == "conflict"
    assert failed.rework.files == ["shared.txt"]
    assert failed.rework.round == 1 and failed.rework.after_attempt == 2
    assert failed.rework.onto == one.integrated_commit
    assert "shared.txt" in failed.message
    # The integration branch did not move.
    assert git(git_sandbox.remote, "rev-parse", INTEGRATION).strip() == one.integrated_commit


async def test_checks_that_fail_only_on_the_combined_tree_never_reach_the_branch(
    git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    harness = make_harness(tmp_path)
    first = _task(git_sandbox, "1.1", "src/alpha.txt", "alpha")
    one = _succeeded(await harness.runner.run(first))
    # Made from the base (no integration), it passes alone: alpha.txt is not there.
    second = _task(
        git_sandbox,
        "1.2",
        "src/beta.txt",
        "beta",
        verification=["test ! -e src/alpha.txt"],
        fix_rounds=0,
    )
    _succeeded(await harness.runner.run(msgspec.structs.replace(second, integration_branch="")))
    redo = msgspec.structs.replace(second, attempt=2)
    failed = failed_with(
        await harness.runner.run(redo, base_attempt=1), FailureCode.VERIFICATION_FAILED
    )
    assert failed.rework is not None and failed.rework.reason == "combined_checks"
    assert failed.rework.command == "test ! -e src/alpha.txt"
    assert "fails on the integration branch" in failed.message
    assert git(git_sandbox.remote, "rev-parse", INTEGRATION).strip() == one.integrated_commit


async def test_a_redelivered_task_that_was_integrated_is_not_integrated_again(
    git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    harness, counting = counting_harness(tmp_path)
    task = _task(git_sandbox, "1.1", "src/alpha.txt", "alpha")
    one = _succeeded(await harness.runner.run(task))
    # The executor died after integrating, before the ack: the message comes back as attempt
    # 2. The push that integrated it deleted the task's branch; the trailers tell.
    assert not git(git_sandbox.remote, "for-each-ref", f"refs/heads/{task.branch}").strip()
    again = _succeeded(
        await harness.runner.run(msgspec.structs.replace(task, attempt=2), base_attempt=1)
    )
    assert again.integrated_commit == one.integrated_commit
    assert counting.runs == 1
    assert git(git_sandbox.remote, "rev-parse", INTEGRATION).strip() == one.integrated_commit
    assert "already_integrated" in harness.sink.steps()


async def test_a_redelivery_deletes_the_branch_of_a_task_integrated_already(
    git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    harness, counting = counting_harness(tmp_path)
    task = _task(git_sandbox, "1.1", "src/alpha.txt", "alpha")
    one = _succeeded(await harness.runner.run(task))
    # Its branch is back on the remote (left by an executor from before branches were deleted
    # on integration): the redelivery recognises the work, finds it integrated, deletes it.
    git(git_sandbox.remote, "update-ref", f"refs/heads/{task.branch}", one.commit)
    again = _succeeded(
        await harness.runner.run(msgspec.structs.replace(task, attempt=2), base_attempt=1)
    )
    assert again.integrated_commit == one.integrated_commit
    assert counting.runs == 1
    assert "already_done" in harness.sink.steps() and "already_integrated" in harness.sink.steps()
    assert not git(git_sandbox.remote, "for-each-ref", f"refs/heads/{task.branch}").strip()


async def test_merge_style_lands_a_merge_commit_with_the_task_branch_as_second_parent(
    git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    harness = make_harness(tmp_path)
    task = _task(git_sandbox, "1.1", "src/alpha.txt", "alpha", merge_style="merge")
    done = _succeeded(await harness.runner.run(task))
    parents = git(git_sandbox.remote, "log", "-1", "--format=%P", INTEGRATION).split()
    assert parents[1] == done.commit
    assert git(git_sandbox.remote, "log", "-1", "--format=%s", INTEGRATION).startswith("Merge ")


async def test_a_repository_without_a_remote_keeps_the_integration_branch_locally(
    tmp_path: Path,
) -> None:
    sandbox = sandbox_without_remote(tmp_path / "git")
    harness = make_harness(tmp_path)
    one = _succeeded(await harness.runner.run(_task(sandbox, "1.1", "a.txt", "a")))
    two = _succeeded(
        await harness.runner.run(
            _task(sandbox, "1.2", "b.txt", "b", verification=["test -s a.txt"])
        )
    )
    assert git(sandbox.repo, "rev-parse", INTEGRATION).strip() == two.integrated_commit
    assert git(sandbox.repo, "rev-parse", f"{INTEGRATION}^").strip() == one.integrated_commit
    assert git(sandbox.repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"


async def test_a_fresh_clone_of_a_local_repository_without_a_remote_integrates_into_it(
    tmp_path: Path,
) -> None:
    sandbox = sandbox_without_remote(tmp_path / "git")
    isolation = FreshCloneIsolation(tmp_path / "clones", GitIdentity("CC", "cc@localhost"))
    runner = make_harness(tmp_path).runner_on(isolation)
    one = _succeeded(await runner.run(_task(sandbox, "1.1", "a.txt", "a")))
    assert git(sandbox.repo, "rev-parse", INTEGRATION).strip() == one.integrated_commit

    # The next task's clone brings the integration branch along: it starts on its tip, read
    # with the base ref by the isolation (no fetch), and lands on top of the first task.
    second = _task(sandbox, "1.2", "b.txt", "b", verification=["test -s a.txt"])
    workspace = await isolation.prepare(second)
    try:
        assert workspace.integration_tip == one.integrated_commit
        assert workspace.base_commit == one.integrated_commit
        assert git(workspace.path, "rev-parse", "HEAD").strip() == one.integrated_commit
        assert git(workspace.path, "config", "maintenance.auto").strip() == "false"
    finally:
        await workspace.cleanup()
    two = _succeeded(await runner.run(second))
    assert git(sandbox.repo, "rev-parse", f"{INTEGRATION}^").strip() == one.integrated_commit
    assert git(sandbox.repo, "rev-parse", INTEGRATION).strip() == two.integrated_commit


class _BranchMadeAfterTheClone(FreshCloneIsolation):
    """A parallel task creates the run's integration branch, at `tip`, between this task's
    clone (which found none) and its start step."""

    def __init__(self, root: Path, source: Path, tip: str) -> None:
        super().__init__(root, GitIdentity("CC", "cc@localhost"))
        self.source, self.tip = source, tip

    async def prepare(self, task: TaskDispatched) -> LocalWorkspace:
        workspace = await super().prepare(task)
        git(self.source, "branch", INTEGRATION, self.tip)
        return workspace


def _started_at(events: list[object]) -> str:
    isolated = [e for e in events if isinstance(e, TaskProgress) and e.step == "isolated"]
    return isolated[-1].message.rpartition(" at ")[2]


@pytest.mark.parametrize("redelivery", [False, True])
async def test_a_task_that_loses_the_race_to_create_the_integration_branch(
    tmp_path: Path, redelivery: bool
) -> None:
    """A first delivery starts from its base without reading the branch (the compare-and-set
    that lands it finds the branch moved, and it lands on top); a redelivery reads the branch
    first (its earlier delivery's work may be there) and starts on its tip."""
    sandbox = sandbox_without_remote(tmp_path / "git")
    base = git(sandbox.repo, "rev-parse", "main").strip()
    git(sandbox.repo, "checkout", "-q", "-b", "parallel")
    (sandbox.repo / "other.txt").write_text("landed by a parallel task\n")
    git(sandbox.repo, "add", "other.txt")
    git(sandbox.repo, "commit", "-q", "-m", "a parallel task")
    git(sandbox.repo, "checkout", "-q", "main")
    tip = git(sandbox.repo, "rev-parse", "parallel").strip()
    harness = make_harness(tmp_path)
    runner = harness.runner_on(_BranchMadeAfterTheClone(tmp_path / "clones", sandbox.repo, tip))
    # Checked on the task's own tree, before integrating: passes only if it started on the tip.
    checks = ["test -s other.txt"] if redelivery else []
    task = _task(sandbox, "1.1", "a.txt", "a", verification=checks)
    if redelivery:
        task = msgspec.structs.replace(task, attempt=2)

    outcome = _succeeded(await runner.run(task, base_attempt=1))

    assert _started_at(harness.sink.events) == (tip if redelivery else base)[:12]
    assert git(sandbox.repo, "rev-parse", f"{INTEGRATION}^").strip() == tip
    assert git(sandbox.repo, "rev-parse", INTEGRATION).strip() == outcome.integrated_commit
    for path in ("other.txt", "a.txt"):
        assert git(sandbox.repo, "show", f"{INTEGRATION}:{path}")


async def test_a_fresh_clone_reads_the_integration_branch_from_the_remote_it_lives_on(
    git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    """The source has an `origin`: the run integrates there, not on the source, so the clone's
    copy of the source's branches says nothing about the integration tip."""
    isolation = FreshCloneIsolation(tmp_path / "clones", GitIdentity("CC", "cc@localhost"))
    runner = make_harness(tmp_path).runner_on(isolation)
    one = _succeeded(await runner.run(_task(git_sandbox, "1.1", "a.txt", "a")))
    # A stale branch of that name on the source must not be taken for the integration tip.
    git(git_sandbox.repo, "branch", "-f", INTEGRATION, "main")
    second = _task(git_sandbox, "1.2", "b.txt", "b", verification=["test -s a.txt"])
    workspace = await isolation.prepare(second)
    try:
        assert workspace.integration_tip is None
        assert workspace.integration_remote == str(git_sandbox.remote)
    finally:
        await workspace.cleanup()
    two = _succeeded(await runner.run(second))
    line = _first_parent_log(git_sandbox.remote, INTEGRATION)
    assert line[:2] == [two.integrated_commit, one.integrated_commit]


async def test_moving_the_branch_is_a_compare_and_set(git_sandbox: GitSandbox) -> None:
    ws = LocalWorkspace(path=git_sandbox.repo, branch="main", base_commit="", remote="origin")
    target = IntegrationTarget("cc/x/integration", "origin")
    base = git(git_sandbox.repo, "rev-parse", "main").strip()
    git(git_sandbox.repo, "commit", "-q", "--allow-empty", "-m", "next")
    nxt = git(git_sandbox.repo, "rev-parse", "main").strip()
    assert await read_tip(ws, target, timeout_s=30) is None
    assert await move(ws, target, base, old=None, timeout_s=30)
    assert not await move(ws, target, nxt, old=None, timeout_s=30)  # exists already
    assert not await move(ws, target, nxt, old=nxt, timeout_s=30)  # stale lease
    assert await move(ws, target, nxt, old=base, timeout_s=30)
    assert await read_tip(ws, target, timeout_s=30) == nxt


async def test_the_push_that_moves_the_branch_deletes_the_task_branch_only_at_its_tip(
    git_sandbox: GitSandbox,
) -> None:
    ws = LocalWorkspace(path=git_sandbox.repo, branch="main", base_commit="", remote="origin")
    target = IntegrationTarget("cc/x/integration", "origin")
    base = git(git_sandbox.repo, "rev-parse", "main").strip()
    git(git_sandbox.repo, "commit", "-q", "--allow-empty", "-m", "next")
    nxt = git(git_sandbox.repo, "rev-parse", "main").strip()
    git(
        git_sandbox.repo,
        "push",
        "-q",
        "origin",
        f"{base}:refs/heads/cc/x/a",
        f"{nxt}:refs/heads/cc/x/b",
    )
    assert await move(ws, target, base, old=None, timeout_s=30)
    # At its tip: deleted in the same push.
    a = TaskBranchTip("cc/x/a", base)
    assert await move(ws, target, nxt, old=base, timeout_s=30, delete=a)
    assert not git(git_sandbox.remote, "for-each-ref", "refs/heads/cc/x/a").strip()
    # Moved on (another delivery's push): the integration branch moves, that branch stays.
    b = TaskBranchTip("cc/x/b", base)
    assert await move(ws, target, base, old=nxt, timeout_s=30, delete=b)
    assert git(git_sandbox.remote, "rev-parse", "cc/x/b").strip() == nxt
    assert git(git_sandbox.remote, "rev-parse", "cc/x/integration").strip() == base
    # A stale lease on the integration branch: nothing moves, nothing is deleted.
    b = TaskBranchTip("cc/x/b", nxt)
    assert not await move(ws, target, nxt, old=nxt, timeout_s=30, delete=b)
    assert git(git_sandbox.remote, "rev-parse", "cc/x/b").strip() == nxt


def test_a_rework_tells_the_agent_what_clashed(git_sandbox: GitSandbox) -> None:
    task = _task(
        git_sandbox,
        "1.2",
        "b.txt",
        "b",
        rework=Rework(after_attempt=1, reason="conflict", files=["shared.txt"], onto="abc"),
    )
    prompt = build_prompt(task)
    assert "attempt 1 could not be integrated" in prompt
    assert "- shared.txt" in prompt
    assert INTEGRATION in prompt


FIXER = """
import pathlib, sys
prompt = sys.stdin.read()
if "Fix round" in prompt:
    pathlib.Path("src/ack.txt").write_text("alpha seen\\n")
else:
    pathlib.Path("src").mkdir(exist_ok=True)
    pathlib.Path("src/beta.txt").write_text("beta\\n")
"""


async def test_a_check_failing_on_the_combined_tree_is_fixed_there_in_a_fix_round(
    git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    harness = make_harness(tmp_path)
    one = _succeeded(await harness.runner.run(_task(git_sandbox, "1.1", "src/alpha.txt", "alpha")))
    check = "test ! -e src/alpha.txt -o -e src/ack.txt"  # alone it passes; combined it needs ack
    second = _task(
        git_sandbox, "1.2", "src/beta.txt", "beta", verification=[check], agent=python_agent(FIXER)
    )
    _succeeded(await harness.runner.run(msgspec.structs.replace(second, integration_branch="")))
    done = _succeeded(
        await harness.runner.run(msgspec.structs.replace(second, attempt=2), base_attempt=1)
    )
    assert done.fix_rounds == 1 and done.attempt == 2  # fixed within the attempt
    tip = git(git_sandbox.remote, "rev-parse", INTEGRATION).strip()
    assert done.integrated_commit == tip
    assert git(git_sandbox.remote, "rev-parse", f"{tip}^").strip() == one.integrated_commit
    for path in ("src/alpha.txt", "src/beta.txt", "src/ack.txt"):
        git_sandbox.file_at(INTEGRATION, path)  # all three on the branch, in one commit
    rounds = [e for e in harness.sink.events if getattr(e, "step", "") == "fix_round"]
    assert [getattr(e, "fix_round", None) for e in rounds] == [1]
    assert "on the integration branch" in getattr(rounds[0], "message", "")


async def test_integrators_in_one_process_take_turns_instead_of_racing(
    git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    """Four tasks of one batch finishing together in one executor (fresh clones, as the
    dagger executor's slots): each lands once, one after the other, and none loses a
    compare-and-set to another (they would only make each other combine again)."""
    isolation = FreshCloneIsolation(tmp_path / "clones", GitIdentity("CC", "cc@localhost"))
    harness = make_harness(tmp_path)
    runner = harness.runner_on(isolation)
    first = _succeeded(await runner.run(_task(git_sandbox, "1.1", "src/first.txt", "first")))
    tasks = [_task(git_sandbox, f"2.{i}", f"src/t{i}.txt", str(i)) for i in range(1, 5)]

    outcomes = [_succeeded(o) for o in await asyncio.gather(*(runner.run(t) for t in tasks))]

    line = _first_parent_log(git_sandbox.remote, INTEGRATION)
    assert sorted(line[:4]) == sorted(o.integrated_commit for o in outcomes)
    depth = first.integration_depth
    assert sorted(o.integration_depth for o in outcomes) == [depth + i for i in range(1, 5)]
    for i in range(1, 5):
        assert git_sandbox.file_at(INTEGRATION, f"src/t{i}.txt").strip() == str(i)
    assert "moved meanwhile" not in harness.sink.text()
