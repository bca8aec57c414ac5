"""Task branches in the user's repository (local mode, a repository without a remote, so every
branch of a run is local): a succeeded task's branch goes once it is integrated, the
integration branch stays; a failed task's branch stays for inspection; `keep_task_branches`
keeps them all. Then `commandcenter prune` asks the gateway which runs ended and deletes what
is safe — and nothing else — while a run is still going."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from commandcenter.gitfixtures import GitSandbox, git, make_git_sandbox
from commandcenter.main import main
from commandcenter.stack import Stack

from tests.e2e.helpers import (
    api_client,
    create_task,
    noop_task,
    plan_text,
    running_stack,
    start_run,
    tasks_of,
    wait_for_run,
)
from tests.support.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

# The agent waits for a file the test creates (so its run is certainly going while prune
# looks), then makes a change.
WAITING_AGENT = """
import pathlib, sys, time
release = pathlib.Path(sys.argv[1])
for _ in range(2400):
    if release.exists():
        break
    time.sleep(0.05)
pathlib.Path("waited.txt").write_text("done\\n")
"""


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(
        tmp_path_factory.mktemp("stack"), local_executors=1, dagger_executors=0, say=lambda _: None
    ) as running:
        yield running


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> GitSandbox:
    """A repository without a remote, with three plans committed."""
    sandbox = make_git_sandbox(tmp_path_factory.mktemp("git"))
    git(sandbox.repo, "remote", "remove", "origin")
    two = plan_text([create_task("1.1", "a.txt", "a"), create_task("1.2", "b.txt", "b")])
    failing = plan_text([create_task("1.1", "c.txt", "c"), noop_task("1.2")])
    waiting = plan_text(
        ["### Task 1.1: Wait\n\nWait for the test.\n\n**Verification:**\n- `test -s waited.txt`\n"]
    )
    for name, text in (("TWO.md", two), ("FAILING.md", failing), ("WAITING.md", waiting)):
        (sandbox.repo / name).write_text(text)
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-q", "-m", "plans")
    return sandbox


def local_branches(sandbox: GitSandbox) -> set[str]:
    out = git(sandbox.repo, "for-each-ref", "--format=%(refname:short)", "refs/heads")
    return set(out.split())


def branches_of(view: dict[str, Any]) -> dict[str, str]:
    return {plan_id: task["branch"] for plan_id, task in tasks_of(view).items()}


@pytest.fixture(scope="module")
def runs(local_stack: Stack, repo: GitSandbox) -> dict[str, dict[str, Any]]:
    """Three ended runs: one succeeded, one halted (its 1.2 failed), one that kept its task
    branches."""
    ended: dict[str, dict[str, Any]] = {}
    with api_client(local_stack) as client:
        for name, plan, extra in (
            ("succeeded", "TWO.md", {}),
            ("halted", "FAILING.md", {}),
            ("kept", "TWO.md", {"keep_task_branches": True}),
        ):
            run_id = start_run(client, repo.repo / plan, agent="plan-follower", **extra)
            ended[name] = wait_for_run(client, run_id)
    return ended


def test_a_succeeded_task_branch_goes_the_integration_branch_stays(
    runs: dict[str, dict[str, Any]], repo: GitSandbox
) -> None:
    view = runs["succeeded"]
    assert view["status"] == "succeeded", view
    here = local_branches(repo)
    assert view["integration_branch"] in here
    assert not set(branches_of(view).values()) & here
    assert git(repo.repo, "show", f"{view['integration_branch']}:b.txt").strip() == "b"


def test_a_failed_task_branch_stays_and_keep_task_branches_keeps_them(
    runs: dict[str, dict[str, Any]], repo: GitSandbox
) -> None:
    halted, kept = runs["halted"], runs["kept"]
    assert halted["status"] == "halted", halted
    assert tasks_of(halted)["1.2"]["error_code"] == "NO_CHANGES"
    here = local_branches(repo)
    assert branches_of(halted)["1.2"] in here
    assert branches_of(halted)["1.1"] not in here
    assert kept["status"] == "succeeded", kept
    assert set(branches_of(kept).values()) <= here


def test_prune_deletes_what_is_safe_and_nothing_else(
    local_stack: Stack,
    runs: dict[str, dict[str, Any]],
    repo: GitSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CC_TOKEN", local_stack.admin_token())
    halted, kept = branches_of(runs["halted"]), branches_of(runs["kept"])
    kept_run8 = str(runs["kept"]["id"])[:8]
    head = git(repo.repo, "rev-parse", "HEAD").strip()
    # The user's own branches, a branch of a run nobody knows, a task branch the user has
    # checked out in a worktree, and (below) one whose worktree folder was deleted by hand.
    git(repo.repo, "branch", "feature/mine", head)
    git(repo.repo, "branch", "cc/deadbeef/stray", head)
    git(repo.repo, "worktree", "add", "-q", str(tmp_path / "looking"), kept["1.1"])
    stale = f"cc/{kept_run8}/inspecting"

    release = tmp_path / "release"
    with api_client(local_stack) as client:
        going = start_run(
            client,
            repo.repo / "WAITING.md",
            agent="command",
            agent_argv=[sys.executable, "-c", WAITING_AGENT, str(release)],
        )
        # Its task has its worktree, and the run its integration branch: the agent is waiting.
        going_branches = {f"cc/{going[:8]}/1.1-wait", f"cc/{going[:8]}/integration"}
        eventually_sync(
            lambda: going_branches <= local_branches(repo),
            within_s=60,
            what="the waiting run's task to start",
        )
        git(repo.repo, "branch", f"cc/{going[:8]}/left-over", head)  # a run not ended
        # (after the executor's own `git worktree prune` at the task's start)
        git(repo.repo, "worktree", "add", "-q", "-b", stale, str(tmp_path / "gone"), head)
        shutil.rmtree(tmp_path / "gone")

        before = local_branches(repo)
        argv = ["prune", "--repo", str(repo.repo), "--gateway", local_stack.gateway_url]
        assert main([*argv, "--dry-run"]) == 0
        dry = capsys.readouterr().out
        assert local_branches(repo) == before  # nothing changed
        assert "would prune worktree" in dry

        assert main(argv) == 0
        out = capsys.readouterr().out
        after = local_branches(repo)
        release.write_text("go\n")
        assert wait_for_run(client, going)["status"] == "succeeded"

    deleted = {halted["1.2"], kept["1.2"], stale}
    assert before - after == deleted, out
    for branch in deleted:
        assert f"would delete {branch}:" in dry
        assert f"deleted {branch}:" in out
    for name, view in runs.items():  # integration branches of runs that did not land: kept
        assert view["integration_branch"] in local_branches(repo), name
    assert {"feature/mine", "cc/deadbeef/stray", kept["1.1"], f"cc/{going[:8]}/left-over"} <= (
        local_branches(repo)
    )
    assert f"cc/{going[:8]}/1.1-wait" not in local_branches(repo)  # gone once it succeeded
    assert f"kept {kept['1.1']}: checked out in a worktree" in out
    assert "kept cc/deadbeef/stray: no run deadbeef known to the gateway" in out
    assert f"kept cc/{going[:8]}/left-over: run {going[:8]} has not ended" in out
    assert f"kept cc/{going[:8]}/integration: run {going[:8]} has not ended" in out
    assert "feature/mine" not in out
    trees = git(repo.repo, "worktree", "list", "--porcelain")
    assert "gone" not in trees and "looking" in trees
