"""Benchmarks 1 and 6: orchestration overhead per task, and the services' peak memory meanwhile.

Ours: a plan of N tasks in one batch, started with `POST /api/v1/runs` and timed until the
run is `succeeded` in PostgreSQL (polled through `GET /api/v1/runs/{id}` every 100 ms); every
task goes gateway → planner → executor-local (git worktree, the no-op agent, commit) → status
events → projector. Baseline: a bare Python loop doing each task's git work on the same repository
with the same agent: `git worktree add`, the agent, `git add -A` + `git commit`,
`git worktree remove`. Each repetition uses a fresh stack and a fresh repository.

The bare loop does not integrate, and ours does (every task lands on the run's integration
branch, and the next starts from its tip): a second loop also does that, with the plumbing
ours uses (`git merge-tree --write-tree`, `git commit-tree`, `git update-ref` with the old
tip), so the figures show how much of the gap is that work rather than orchestration. The
goal P1 stays on the first loop.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from commandcenter.gitfixtures import GIT_IDENTITY, git
from commandcenter.sse import messages

from bench.context import Context
from bench.memory import MemoryWatch
from bench.report import Row
from bench.stats import Sample
from bench.system import api_client, running_stack, start_run, wait_for_run
from bench.workload import make_repository, write_file_agent, write_plan

BENCH = "1 orchestration"
MEMORY_BENCH = "6 memory"


@dataclass(frozen=True)
class Config:
    tasks: int
    repeat: int


INTEGRATION_REF = "refs/heads/bench-integration"
STEPS = ("isolate", "agent", "commit", "between tasks")
"""The phases a task's wall time is split into, on both sides (see `step_means`)."""


def baseline_loop(
    repo: Path, worktrees: Path, tasks: int, argv: list[str], *, integrate: bool = False
) -> tuple[float, dict[str, float]]:
    """Seconds for `tasks` iterations of the bare git work, each in its own worktree, and
    the mean seconds of each step. `integrate`: each task's commit is also merged onto an
    integration branch (its time counts in "commit"), and the next task starts from its tip."""
    tip = git(repo, "rev-parse", "HEAD").strip()
    env = {**os.environ, **GIT_IDENTITY}
    if integrate:
        git(repo, "update-ref", INTEGRATION_REF, tip)
    worktrees.mkdir(parents=True, exist_ok=True)
    spent = dict.fromkeys(STEPS, 0.0)
    started = time.perf_counter()
    for i in range(1, tasks + 1):
        path = worktrees / f"task-{i}"
        t0 = time.perf_counter()
        _run(["git", "worktree", "add", "--quiet", "-B", f"bench/{i}", str(path), tip], repo, env)
        t1 = time.perf_counter()
        _run(argv, path, {**env, "CC_WORKDIR": str(path), "CC_TASK_ID": f"task-{i}"})
        t2 = time.perf_counter()
        _run(["git", "add", "-A"], path, env)
        _run(["git", "commit", "--quiet", "-m", f"bench: task {i}"], path, env)
        if integrate:
            tip = _integrate(path, tip, env)
        t3 = time.perf_counter()
        _run(["git", "worktree", "remove", "--force", str(path)], repo, env)
        t4 = time.perf_counter()
        for step, seconds in zip(STEPS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            spent[step] += seconds
    elapsed = time.perf_counter() - started
    return elapsed, {step: total / tasks for step, total in spent.items()}


def _integrate(path: Path, tip: str, env: dict[str, str]) -> str:
    """HEAD's work squashed onto `tip` on `INTEGRATION_REF`, as ours lands a task; the new
    tip."""
    tree = _run(["git", "merge-tree", "--write-tree", tip, "HEAD"], path, env).split()[0]
    new = _run(["git", "commit-tree", tree, "-p", tip, "-m", "bench: integrate"], path, env)
    _run(["git", "update-ref", INTEGRATION_REF, new.strip(), tip], path, env)  # compare-and-set
    return new.strip()


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(  # noqa: S603 - argv list, never a shell
        argv, cwd=cwd, env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL
    )
    return done.stdout.decode()


def run_events(client: httpx.Client, run_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The run's status events, from its SSE stream (history; it ends at the run's end)."""
    events = []
    with client.stream(
        "GET",
        f"/api/v1/runs/{run_id}/events",
        headers={"Accept": "text/event-stream"},
        timeout=httpx.Timeout(10, read=60),
    ) as response:
        for message in messages(response):
            events.append((message.event, json.loads(message.data)))
    return events


def step_means(events: list[tuple[str, dict[str, Any]]]) -> dict[str, float]:
    """Mean seconds per task of each step, from the executor's own events:
    isolate = task.started → `isolated`; agent = `agent_started` → `agent_finished`;
    commit = `agent_finished` → `committed`; between tasks = one task's outcome → the next
    task's task.started (worktree removal, publishing the outcome, ack, next fetch)."""
    marks: dict[str, dict[str, datetime]] = {}
    for kind, data in events:
        if kind in ("task.started", "task.progress", "task.succeeded"):
            name = data.get("step") if kind == "task.progress" else kind
            marks.setdefault(data["task_id"], {})[str(name)] = datetime.fromisoformat(data["at"])

    def mean(pairs: list[tuple[datetime, datetime]]) -> float:
        return statistics.fmean((b - a).total_seconds() for a, b in pairs) if pairs else 0.0

    tasks = sorted(marks.values(), key=lambda m: m["task.started"])
    return {
        "isolate": mean([(m["task.started"], m["isolated"]) for m in tasks]),
        "agent": mean([(m["agent_started"], m["agent_finished"]) for m in tasks]),
        "commit": mean([(m["agent_finished"], m["committed"]) for m in tasks]),
        "between tasks": mean(
            [(a["task.succeeded"], b["task.started"]) for a, b in itertools.pairwise(tasks)]
        ),
    }


def mean_task_seconds(view: dict[str, Any]) -> float:
    """Mean task.started → outcome time of the run's tasks (the executor's own clock)."""
    spans = [
        (
            datetime.fromisoformat(task["finished_at"]) - datetime.fromisoformat(task["started_at"])
        ).total_seconds()
        for batch in view["batches"]
        for task in batch["tasks"]
    ]
    return statistics.fmean(spans)


def run(config: Config, ctx: Context) -> list[Row]:
    root, problems, say = ctx.root, ctx.problems, ctx.say
    ours, base, base_integrating, in_executor = Sample(), Sample(), Sample(), Sample()
    ours_steps = {step: Sample() for step in STEPS}
    base_steps = {step: Sample() for step in STEPS}
    peaks: dict[str, Sample] = {}
    argv = write_file_agent()
    for k in range(config.repeat):
        workdir = root / f"orchestration-{k + 1}"
        repo = make_repository(workdir / "repo")
        plan = write_plan(workdir / "plans", config.tasks)

        ctx.settle()
        seconds, steps = baseline_loop(repo, workdir / "baseline-worktrees", config.tasks, argv)
        base.add(seconds / config.tasks * 1000)
        for step, mean in steps.items():
            base_steps[step].add(mean * 1000)
        ctx.settle()
        seconds, _ = baseline_loop(
            repo, workdir / "integrating-worktrees", config.tasks, argv, integrate=True
        )
        base_integrating.add(seconds / config.tasks * 1000)

        ctx.settle()
        with running_stack(workdir / "stack", problems=problems) as stack:
            watch = MemoryWatch.of(stack)
            watch.start()
            try:
                with api_client(stack) as client:
                    started = time.perf_counter()
                    run_id = start_run(client, plan=plan, repo=repo, argv=argv)
                    view = wait_for_run(client, run_id, timeout=60 + 10 * config.tasks)
                    elapsed = time.perf_counter() - started
                    events = run_events(client, run_id)
            finally:
                for name, mib in watch.stop().items():
                    peaks.setdefault(name, Sample()).add(mib)
        ours.add(elapsed / config.tasks * 1000)
        in_executor.add(mean_task_seconds(view) * 1000)
        for step, mean in step_means(events).items():
            ours_steps[step].add(mean * 1000)
        say(
            f"  repetition {k + 1}: ours {ours.values[-1]:.0f} ms/task, "
            f"baseline {base.values[-1]:.0f} ms/task"
        )

    rows = [
        Row(
            BENCH,
            f"wall time per task, {config.tasks} tasks in one batch",
            "ms",
            ours=ours,
            baseline=base,
            baseline_label="bare git loop",
            note="POST until `succeeded` in PostgreSQL ÷ N; same agent, same repository; "
            "ours also integrates each task (next row)",
            chart_label="wall time per task",
            goal="P1",
        ),
        Row(
            BENCH,
            f"wall time per task, {config.tasks} tasks, against a loop that also integrates",
            "ms",
            ours=ours,
            baseline=base_integrating,
            baseline_label="bare git loop + integration",
            note="the loop also lands each commit on an integration branch (merge-tree, "
            "commit-tree, update-ref) and starts the next task from its tip, as ours does; "
            "not the goal's baseline",
            chart=False,
        ),
        Row(
            BENCH,
            "of which inside the executor (task.started → outcome)",
            "ms",
            ours=in_executor,
            baseline=base,
            baseline_label="bare git loop",
            note="the rest is between tasks (outcome published, ack, next fetch) and the run's "
            "start and end",
            chart_label="inside the executor",
        ),
    ]
    step_notes = {
        "isolate": "ours: task.started → isolated (reads the base and integration tips, then "
        "git worktree add -B); "
        "baseline: git worktree add",
        "agent": "the same agent on both sides",
        "commit": "ours: agent_finished → committed; baseline: git add -A, git commit",
        "between tasks": "ours: outcome → next task.started (worktree removal, outcome "
        "published, ack, next fetch); baseline: git worktree remove",
    }
    for step in STEPS:
        rows.append(
            Row(
                BENCH,
                f"step: {step}",
                "ms",
                ours=ours_steps[step],
                baseline=base_steps[step],
                baseline_label="bare git loop",
                note=step_notes[step],
                chart=False,
            )
        )
    order = ["gateway", "planner", "executor-local-1", "nats-server", "postgresql"]
    for name in sorted(peaks, key=lambda n: order.index(n) if n in order else len(order)):
        rows.append(
            Row(
                MEMORY_BENCH,
                f"peak RSS, {name}",
                "MiB",
                ours=peaks[name],
                note="sum of PSS of all its processes" if name == "postgresql" else "",
                chart_label=name,
            )
        )
    return rows
