"""Benchmark 7: what integrating a task costs (merge onto the integration branch, the re-check
when the combined tree differs, the push), per task.

Ours: a plan of N tasks in one batch through the whole stack (local mode, a repository with a
bare remote), each task's integrate step timed from the executor's own events: its `pushed`
progress (the task's branch is on the remote) to its `integrated` progress (the integration
branch moved). Baseline: a bare loop on the same kind of repository doing the same git work by
hand: `git fetch` of the integration branch, `git merge --squash` of the task's branch,
`git commit`, `git push` — the task branches prepared beforehand, outside the clock.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from commandcenter.gitfixtures import GIT_IDENTITY, git

from bench.context import Context
from bench.orchestration import run_events
from bench.report import Row
from bench.stats import Sample
from bench.system import api_client, running_stack, start_run, wait_for_run
from bench.workload import make_repository, write_file_agent, write_plan

BENCH = "7 integration"


@dataclass(frozen=True)
class Config:
    tasks: int
    repeat: int


def repository_with_remote(root: Path) -> Path:
    """`make_repository` plus a bare `origin` holding `main`."""
    repo = make_repository(root / "repo")
    remote = root / "remote.git"
    git(root, "init", "-q", "--bare", "-b", "main", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    return repo


def baseline_loop(repo: Path, tasks: int) -> float:
    """Mean seconds of fetch + merge --squash + commit + push per task, in a clone of `repo`'s
    remote; each task's branch (one commit on the current tip) is made outside the clock."""
    env = {**os.environ, **GIT_IDENTITY}
    work = repo.parent / "baseline-clone"
    remote = git(repo, "remote", "get-url", "origin").strip()
    git(repo.parent, "clone", "-q", remote, str(work))
    _git(work, env, "push", "-q", "origin", "main:refs/heads/bench/integration")
    spent = 0.0
    for i in range(1, tasks + 1):
        _git(work, env, "checkout", "-q", "-B", f"bench/task-{i}", "origin/bench/integration")
        (work / "out.txt").write_text(f"task-{i}")
        _git(work, env, "add", "-A")
        _git(work, env, "commit", "-q", "-m", f"bench: task {i}")
        started = time.perf_counter()
        _git(work, env, "fetch", "-q", "origin", "bench/integration")
        _git(work, env, "checkout", "-q", "-B", "integration", "FETCH_HEAD")
        _git(work, env, "merge", "-q", "--squash", f"bench/task-{i}")
        _git(work, env, "commit", "-q", "-m", f"bench: task {i}")
        _git(work, env, "push", "-q", "origin", "integration:refs/heads/bench/integration")
        spent += time.perf_counter() - started
        _git(work, env, "fetch", "-q", "origin")
    return spent / tasks


def _git(cwd: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run(  # noqa: S603 - argv list, never a shell
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL
    )


def integrate_means(events: list[tuple[str, dict[str, Any]]]) -> float:
    """Mean seconds from a task's `pushed` progress to its `integrated` progress."""
    marks: dict[str, dict[str, datetime]] = {}
    for kind, data in events:
        if kind == "task.progress" and data.get("step") in ("pushed", "integrated"):
            marks.setdefault(data["task_id"], {})[data["step"]] = datetime.fromisoformat(data["at"])
    spans = [
        (m["integrated"] - m["pushed"]).total_seconds()
        for m in marks.values()
        if "pushed" in m and "integrated" in m
    ]
    return statistics.fmean(spans) if spans else 0.0


def run(config: Config, ctx: Context) -> list[Row]:
    ours, base, wall = Sample(), Sample(), Sample()
    argv = write_file_agent()
    for k in range(config.repeat):
        workdir = ctx.root / f"integration-{k + 1}"
        ctx.settle()
        base.add(baseline_loop(repository_with_remote(workdir / "baseline"), config.tasks) * 1000)
        repo = repository_with_remote(workdir / "ours")
        plan = write_plan(workdir / "plans", config.tasks)
        ctx.settle()
        with (
            running_stack(workdir / "stack", problems=ctx.problems) as stack,
            api_client(stack) as client,
        ):
            started = time.perf_counter()
            run_id = start_run(client, plan=plan, repo=repo, argv=argv)
            wait_for_run(client, run_id, timeout=60 + 10 * config.tasks)
            wall.add((time.perf_counter() - started) / config.tasks * 1000)
            ours.add(integrate_means(run_events(client, run_id)) * 1000)
        ctx.say(
            f"  repetition {k + 1}: integrate {ours.values[-1]:.0f} ms/task, "
            f"bare loop {base.values[-1]:.0f} ms/task"
        )
    return [
        Row(
            BENCH,
            f"integration per task (merge, re-check, push), {config.tasks} tasks",
            "ms",
            ours=ours,
            baseline=base,
            baseline_label="fetch + merge --squash + commit + push",
            note="ours: `pushed` → `integrated` events of the executor (reads the tip, checks "
            "the task is not on it, merge-tree, commit-tree, push with a lease, depth); the "
            "combined tree equals the verified one here (one task at a time), so no re-check",
            chart_label="integrate step",
        ),
        Row(
            BENCH,
            "wall time per task with a remote (task branch + integration pushed)",
            "ms",
            ours=wall,
            note="POST until `succeeded` ÷ N, as in benchmark 1 but with a bare remote",
            chart=False,
        ),
    ]
