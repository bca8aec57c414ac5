"""The git processes one task costs in local mode, counted by a `git` on PATH that logs each
call and then runs the real git: a change that adds git work to every task fails here."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from cc_taskrunner import FreshCloneIsolation, GitIdentity
from cc_taskrunner.ports import UnsharedTurn
from commandcenter.gitfixtures import GitSandbox, git
from commandcenter_contracts import TaskDispatched, TaskSucceeded
from prometheus_client import REGISTRY
from taskrunner_support import make_harness, make_task, sandbox_without_remote

from tests.support.executors import python_agent
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

GIT_PER_TASK = 8
"""A task of a run under way, in a worktree of a repository without a remote (the integration
branch is local): `cat-file` (the base and the integration tip), `worktree add`, `add -A`,
`commit`, `merge-tree`, `commit-tree`, `update-ref --stdin` (the compare-and-set, deleting the
task's branch in the same transaction), `worktree remove`. A bare git loop runs 4."""

FIRST_TASK_EXTRA = 5
"""The executor's first task of a repository also checks it is a top level folder, the run's
first asks whether it has a remote, creates the integration branch (a read and a
compare-and-set) and counts its depth once (`rev-list`; later ones are one deeper than the
tip they landed on)."""


def counting_git(folder: Path, log: Path) -> Path:
    """A folder holding a `git` that appends its arguments to `log`, then runs the real one."""
    real = shutil.which("git")
    assert real is not None
    folder.mkdir()
    wrapper = folder / "git"
    # One line per call: its first arguments (a commit message, with newlines, comes later).
    wrapper.write_text(f'#!/bin/sh\necho "$1 $2 $3 $4" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    return folder


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def _task(sandbox: GitSandbox, n: int) -> TaskDispatched:
    run_id = "run12345-0000-0000-0000-000000000000"
    return make_task(
        sandbox,
        run_id=run_id,
        plan_task_id=f"1.{n}",
        branch=f"cc/run12345/1-{n}",
        integration_branch="cc/run12345/integration",
        base_ref="main",
        agent=python_agent(f"import pathlib; pathlib.Path('f{n}.txt').write_text('{n}')"),
    )


async def test_a_task_in_local_mode_runs_at_most_eight_git_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = sandbox_without_remote(tmp_path / "git")
    log = tmp_path / "git-calls.log"
    wrapper = counting_git(tmp_path / "bin", log)
    monkeypatch.setenv("PATH", f"{wrapper}{os.pathsep}{os.environ['PATH']}")
    harness = make_harness(tmp_path)

    per_task: list[list[str]] = []
    for n in range(1, 4):
        before = len(calls(log))
        outcome = await harness.runner.run(_task(sandbox, n))
        assert isinstance(outcome, TaskSucceeded), outcome
        assert outcome.integrated_commit is not None
        per_task.append(calls(log)[before:])

    first, *later = per_task
    assert len(first) <= GIT_PER_TASK + FIRST_TASK_EXTRA, first
    for made in later:
        assert len(made) <= GIT_PER_TASK, "\n".join(made)
    assert git(sandbox.repo, "show", "cc/run12345/integration:f3.txt") == "3"
    # each task's branch went with the compare-and-set that integrated it
    assert git(sandbox.repo, "branch", "--list", "cc/run12345/1-*") == ""


async def test_a_runs_first_tasks_create_its_integration_branch_without_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's first tasks start together, each in a fresh clone made before the run's
    integration branch exists: each tries to create it, and those that lose start from the
    base without reading the tip (no `ls-remote`, no fetch: a batch of N tasks asked 2N times).
    Only integrating reads the tip: the later integrators of the turn, once each."""
    sandbox = sandbox_without_remote(tmp_path / "git")
    log = tmp_path / "git-calls.log"
    wrapper = counting_git(tmp_path / "bin", log)
    monkeypatch.setenv("PATH", f"{wrapper}{os.pathsep}{os.environ['PATH']}")
    isolation = FreshCloneIsolation(tmp_path / "clones", GitIdentity("CC", "cc@localhost"))
    runner = make_harness(tmp_path).runner_on(isolation)
    tasks = [_task(sandbox, n) for n in range(1, 5)]

    outcomes = await asyncio.gather(*(runner.run(task) for task in tasks))

    for outcome in outcomes:
        assert isinstance(outcome, TaskSucceeded), outcome
    line = git(sandbox.repo, "log", "--first-parent", "--format=%H", "cc/run12345/integration")
    assert sorted(line.split()[:4]) == sorted(str(o.integrated_commit) for o in outcomes)
    made = calls(log)
    assert [c for c in made if c.startswith("ls-remote")] == [], made
    fetches = [c for c in made if c.startswith("fetch")]
    assert len(fetches) <= len(tasks) - 1, "\n".join(made)


class OneTurn:
    """Replicas' turns on one branch, in this process (`cc_bus.executor.IntegrationTurns` is
    the same across processes, tested against nats-server in the bus's tests); `pass_tip`:
    whether a holder learns where the one before left the branch."""

    def __init__(self, *, pass_tip: bool) -> None:
        self.lock = asyncio.Lock()
        self.pass_tip = pass_tip
        self.left_at: list[str | None] = []

    @contextlib.asynccontextmanager
    async def hold(self, key: str, cancel: asyncio.Event) -> AsyncIterator[UnsharedTurn]:  # noqa: ARG002
        async with self.lock:
            known = self.left_at[-1] if self.left_at and self.pass_tip else None
            turn = UnsharedTurn(known)
            yield turn
            self.left_at.append(turn.tip)


def _races_lost() -> float:
    return REGISTRY.get_sample_value("cc_integration_races_lost_total", {"mode": "local"}) or 0.0


@pytest.mark.parametrize("pass_tip", [True, False])
async def test_a_replica_told_the_branch_moved_does_not_push_its_stale_guess(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pass_tip: bool
) -> None:
    """Two replicas' tasks start from the same tip and finish together (their agents wait for
    each other). The second to get the turn learns from it where the first left the branch, so
    it reads the new tip before combining instead of pushing onto the tip it started from: a
    push bound to fail, which is what happens when the turn does not tell (`pass_tip` off)."""
    sandbox = sandbox_without_remote(tmp_path / "git")
    log = tmp_path / "git-calls.log"
    wrapper = counting_git(tmp_path / "bin", log)
    monkeypatch.setenv("PATH", f"{wrapper}{os.pathsep}{os.environ['PATH']}")
    turns = OneTurn(pass_tip=pass_tip)
    harness = make_harness(tmp_path)
    replicas = [
        harness.runner_on(
            FreshCloneIsolation(tmp_path / f"clones-{n}", GitIdentity("CC", "cc@localhost")),
            turns=turns,
        )
        for n in (1, 2)
    ]
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    tasks = [
        _waiting_task(sandbox, 1, barrier),
        # The same repository by another name: to this process, another replica's branch.
        msgspec.structs.replace(_waiting_task(sandbox, 2, barrier), repo=f"file://{sandbox.repo}"),
    ]
    lost_before = _races_lost()

    outcomes = await asyncio.gather(*(r.run(t) for r, t in zip(replicas, tasks, strict=True)))

    for outcome in outcomes:
        assert isinstance(outcome, TaskSucceeded), outcome
    landed = [str(o.integrated_commit) for o in outcomes]
    # Each holder that landed said where it left the branch (one that lost said nothing).
    assert sorted(tip for tip in turns.left_at if tip) == sorted(landed)
    lease = "push --porcelain --force-with-lease=refs/heads/cc/run12345/integration:"
    moves = [c for c in calls(log) if c.startswith(lease) and not c.startswith(f"{lease} ")]
    lost = 0 if pass_tip else 1  # not counting the creation's pushes
    assert len(moves) == 2 + lost, "\n".join(moves)
    assert _races_lost() - lost_before == lost


def _waiting_task(sandbox: GitSandbox, n: int, barrier: Path) -> TaskDispatched:
    """Task `n`, whose agent writes its file once every such agent has started."""
    script = (
        "import pathlib, sys, time\n"
        f"barrier = pathlib.Path({str(barrier)!r})\n"
        f"(barrier / '{n}').write_text('started')\n"
        "for _ in range(1000):\n"
        "    if len(list(barrier.iterdir())) >= 2:\n"
        "        break\n"
        "    time.sleep(0.01)\n"
        "else:\n"
        "    sys.exit('the other agent never started')\n"
        f"pathlib.Path('f{n}.txt').write_text('{n}')\n"
    )
    return msgspec.structs.replace(_task(sandbox, n), agent=python_agent(script))


async def test_a_long_wait_for_the_turn_shows_in_the_tasks_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator following one task sees why it is not landing yet: another replica holds
    the turn. Once the turn is free, it lands."""
    # The module, not the step function of the same name `cc_taskrunner.steps` exports.
    integrate_step = importlib.import_module("cc_taskrunner.steps.integrate")
    monkeypatch.setattr(integrate_step, "WAIT_NOTICE_S", 0.05)
    sandbox = sandbox_without_remote(tmp_path / "git")
    turns = OneTurn(pass_tip=True)
    harness = make_harness(tmp_path)
    runner = harness.runner_on(
        FreshCloneIsolation(tmp_path / "clones", GitIdentity("CC", "cc@localhost")), turns=turns
    )
    waits_before, waited_before = _turn_waits()
    async with turns.lock:  # another replica holds the turn
        running = asyncio.create_task(runner.run(_task(sandbox, 1)))
        await eventually(
            lambda: "waiting for the turn" in harness.sink.text(), within_s=60, what="the notice"
        )
        assert not running.done()
    outcome = await running
    assert isinstance(outcome, TaskSucceeded), outcome
    assert "waiting for the turn to integrate onto cc/run12345/integration" in harness.sink.text()
    # Operators see the wait too: one turn taken, after at least the wait the notice needs.
    waits, waited = _turn_waits()
    assert waits - waits_before == 1
    assert waited - waited_before >= integrate_step.WAIT_NOTICE_S


def _turn_waits() -> tuple[float, float]:
    """`cc_integration_turn_wait_seconds{mode="local"}`: (turns taken, seconds waited)."""
    labels = {"mode": "local"}
    count = REGISTRY.get_sample_value("cc_integration_turn_wait_seconds_count", labels)
    total = REGISTRY.get_sample_value("cc_integration_turn_wait_seconds_sum", labels)
    return count or 0.0, total or 0.0
