"""Benchmark 10: growth — does the cost per task stay flat as a run gets bigger?

The same workload at N = 50, 200, 800 and 2,000 tasks, one run per N (the smallest N five
times: it is the ratios' denominator, and one run of 50 tasks swung 146-175 ms), each on a
fresh stack with a fresh repository and a fresh bare remote: local mode, a `command` agent
that rewrites one file (task `<b>.<n>` writes `slot-<n>.txt`: the tree stays at batch-size
files, so what grows with N is the system's own cost, not git's checkout of a tree that gains
a file per task), the plan cut into batches of a fixed size (10), so N grows the number of
batches, not their size; every task pushes its branch and is integrated (pushed) onto the
run's integration branch, so the remote's history grows with N as it does in real use.

Per N:
- wall time per task: `POST /api/v1/runs` until `succeeded` in PostgreSQL, ÷ N (polled through
  the run list's fixed-size summary, so the polling costs the same at every N); and the median
  task time (the executor's `task.started` → outcome) in the first and in the last batch;
- planner CPU per task: the planner process's user + system CPU time over the run, ÷ N;
- bytes written to NATS per task: nats-server's `/varz` `in_bytes` over the run, ÷ N (every
  byte any client sent the server: the planner's key-value writes, dispatches, status events,
  acks — `/jsz` storage would show only what is kept, not a record rewritten 1,000 times);
- the run view: `GET /api/v1/runs/{id}` of the finished run, the median of a series of requests
  on one kept-alive connection, and the response's size.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import psutil
from commandcenter.stack import Stack

from bench.chart import Curve
from bench.context import Context
from bench.integration import repository_with_remote
from bench.report import Row
from bench.stats import Sample
from bench.system import BenchError, api_client, running_stack, start_run, wait_for_run
from bench.workload import batch_count, rewrite_slot_agent, write_plan

BENCH = "10 growth"
CHART = "growth.png"
GOAL_RATIO = 1.1
"""The goal for the per-task figures: at the largest N at most 1.1 x the smallest N's."""


@dataclass(frozen=True)
class Config:
    sizes: tuple[int, ...]
    batch_size: int
    view_requests: int
    smallest_runs: int = 1
    """Runs of the smallest N; the figures are their medians (the ratios' denominator)."""


@dataclass(frozen=True)
class Point:
    """What one run of N tasks measured."""

    tasks: int
    wall_ms: float
    """per task"""
    first_batch_ms: float
    last_batch_ms: float
    """median task time (task.started → outcome) in the first and the last batch"""
    planner_cpu_ms: float
    """per task"""
    nats_bytes: float
    """per task"""
    view_ms: float
    view_bytes: int


def planner_process(stack: Stack) -> psutil.Process:
    for sup in stack.services:
        if sup.spec.name == "planner" and sup.process is not None:
            return psutil.Process(sup.process.pid)
    raise BenchError("the stack runs no planner")


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def nats_in_bytes(stack: Stack) -> int:
    """Bytes every client has sent the (one) nats-server so far, from its `/varz`."""
    assert stack.nats is not None
    port = stack.nats_nodes[0].monitor_port
    response = httpx.get(f"http://127.0.0.1:{port}/varz", timeout=10)
    response.raise_for_status()
    return int(response.json()["in_bytes"])


def median_task_ms(batch: dict[str, Any]) -> float:
    return statistics.median(
        (
            datetime.fromisoformat(t["finished_at"]) - datetime.fromisoformat(t["started_at"])
        ).total_seconds()
        * 1000
        for t in batch["tasks"]
    )


def view_latency(client: httpx.Client, run_id: str, requests: int) -> tuple[float, int]:
    """Median ms of `GET /api/v1/runs/{id}` (after a few warm-up requests) and its size."""
    path = f"/api/v1/runs/{run_id}"
    size = 0
    for _ in range(5):
        response = client.get(path)
        response.raise_for_status()
        size = len(response.content)
    spent = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        spent.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise BenchError(f"GET {path}: {response.status_code}")
    return statistics.median(spent) * 1000, size


def measure(tasks: int, config: Config, ctx: Context, *, run: int = 1) -> Point:
    workdir = ctx.root / (f"growth-{tasks}" if run == 1 else f"growth-{tasks}-{run}")
    repo = repository_with_remote(workdir)
    batches = batch_count(tasks, config.batch_size)
    plan = write_plan(workdir / "plans", tasks, batch_size=config.batch_size)
    ctx.settle()
    with (
        running_stack(workdir / "stack", problems=ctx.problems) as stack,
        api_client(stack) as client,
    ):
        planner = planner_process(stack)
        cpu_before, bytes_before = cpu_seconds(planner), nats_in_bytes(stack)
        started = time.perf_counter()
        run_id = start_run(client, plan=plan, repo=repo, argv=rewrite_slot_agent(), batches=batches)
        view = wait_for_run(client, run_id, timeout=120 + 2 * tasks, by_summary=True)
        elapsed = time.perf_counter() - started
        if not planner.is_running():
            raise BenchError("the planner restarted during the run: its CPU time is lost")
        cpu_after, bytes_after = cpu_seconds(planner), nats_in_bytes(stack)
        view_ms, view_bytes = view_latency(client, run_id, config.view_requests)
    ordered = sorted(view["batches"], key=lambda b: b["index"] or 0)
    return Point(
        tasks=tasks,
        wall_ms=elapsed / tasks * 1000,
        first_batch_ms=median_task_ms(ordered[0]),
        last_batch_ms=median_task_ms(ordered[-1]),
        planner_cpu_ms=(cpu_after - cpu_before) / tasks * 1000,
        nats_bytes=(bytes_after - bytes_before) / tasks,
        view_ms=view_ms,
        view_bytes=view_bytes,
    )


def _every(points: list[Point], value: str, decimals: int) -> str:
    return "; ".join(f"{p.tasks:,}: {getattr(p, value):,.{decimals}f}" for p in points)


def median_point(runs: list[Point]) -> Point:
    """Each figure's median over runs of the same N."""
    fields = {
        name: statistics.median(getattr(r, name) for r in runs)
        for name in Point.__dataclass_fields__
    }
    return Point(**{**fields, "tasks": runs[0].tasks, "view_bytes": runs[0].view_bytes})


def rows_from(points: list[Point], config: Config, smallest: list[Point]) -> list[Row]:
    """`points`: one per N (the smallest N's median); `smallest`: that N's every run."""
    small, big = points[0], points[-1]
    at = {"ours_label": f"N = {big.tasks:,}", "baseline_label": f"N = {small.tasks:,}"}
    goal = f"goal: ratio ≤ {GOAL_RATIO:g}"

    def row(measure: str, unit: str, value: str, decimals: int, note: str, **kw: Any) -> Row:
        return Row(
            BENCH,
            measure,
            unit,
            ours=Sample([getattr(big, value)]),
            baseline=Sample([getattr(run, value) for run in smallest]),
            decimals=decimals,
            note=f"{note}; at each N: {_every(points, value, decimals)}",
            chart=False,
            **at,
            **kw,
        )

    return [
        row(
            f"wall time per task, batches of {config.batch_size}, a bare remote",
            "ms",
            "wall_ms",
            1,
            f"POST until `succeeded` in PostgreSQL ÷ N; {goal}",
            goal="G1",
        ),
        Row(
            BENCH,
            f"median task time, last batch against the first, at N = {big.tasks:,}",
            "ms",
            ours=Sample([big.last_batch_ms]),
            baseline=Sample([big.first_batch_ms]),
            ours_label="last batch",
            baseline_label="first batch",
            note="task.started → outcome (the executor's own work: push and integrate "
            "included); first → last at each N: "
            + "; ".join(
                f"{p.tasks:,}: {p.first_batch_ms:.0f} → {p.last_batch_ms:.0f}" for p in points
            ),
            chart=False,
        ),
        row(
            "planner CPU per task",
            "ms",
            "planner_cpu_ms",
            2,
            f"user + system CPU of the planner process over the run ÷ N; {goal}",
            goal="G2",
        ),
        row(
            "bytes written to NATS per task",
            "bytes",
            "nats_bytes",
            0,
            f"nats-server /varz in_bytes over the run ÷ N (everything clients sent); {goal}",
            goal="G3",
        ),
        row(
            "run view latency, GET /api/v1/runs/{id} of the finished run",
            "ms",
            "view_ms",
            2,
            f"median of {config.view_requests} requests, one kept-alive connection; "
            "goal: its ratio ≤ the response size's",
            goal="G4 latency",
        ),
        row(
            "run view response size",
            "bytes",
            "view_bytes",
            0,
            "the JSON body",
            goal="G4 size",
        ),
    ]


def curves_from(points: list[Point]) -> list[Curve]:
    xs = [float(p.tasks) for p in points]
    small = points[0]
    allowed = f"GOAL: AT MOST {GOAL_RATIO:g} X THE VALUE AT N = {small.tasks:,}"

    def flat(value: float) -> list[float]:
        return [value * GOAL_RATIO] * len(points)

    return [
        Curve(
            "WALL TIME PER TASK",
            "ms",
            xs,
            [p.wall_ms for p in points],
            flat(small.wall_ms),
            allowed,
        ),
        Curve(
            "PLANNER CPU PER TASK",
            "ms",
            xs,
            [p.planner_cpu_ms for p in points],
            flat(small.planner_cpu_ms),
            allowed,
        ),
        Curve(
            "BYTES WRITTEN TO NATS PER TASK",
            "KB",
            xs,
            [p.nats_bytes / 1000 for p in points],
            flat(small.nats_bytes / 1000),
            allowed,
        ),
        Curve(
            "RUN VIEW LATENCY",
            "ms",
            xs,
            [p.view_ms for p in points],
            [small.view_ms * p.view_bytes / small.view_bytes for p in points],
            "GOAL: GROWS NO FASTER THAN THE RESPONSE SIZE",
        ),
    ]


def schedule(sizes: tuple[int, ...], smallest_runs: int) -> list[tuple[int, int]]:
    """(N, run) in the order measured. The smallest N's runs are spread over the suite (the
    first, then evenly up to the last): a machine that drifts faster or slower while the suite
    runs moves the ratios' denominator with it, not only the largest N."""
    small, rest = sizes[0], sizes[1:]
    extra = smallest_runs - 1
    after: dict[int, list[int]] = {}  # index in `rest` → the smallest N's runs after it
    for j in range(1, extra + 1):
        after.setdefault(round(j * len(rest) / extra) - 1, []).append(j + 1)
    order = [(small, 1)] + [(small, k) for k in after.get(-1, [])]
    for index, tasks in enumerate(rest):
        order.append((tasks, 1))
        order.extend((small, k) for k in after.get(index, []))
    return order


def run(config: Config, ctx: Context) -> list[Row]:
    measured: dict[int, list[Point]] = {tasks: [] for tasks in config.sizes}
    for tasks, k in schedule(config.sizes, config.smallest_runs):
        runs = config.smallest_runs if tasks == config.sizes[0] else 1
        which = f", run {k} of {runs}" if runs > 1 else ""
        batches = batch_count(tasks, config.batch_size)
        ctx.say(f"  N = {tasks:,} ({batches} batches{which}) ...")
        point = measure(tasks, config, ctx, run=k)
        measured[tasks].append(point)
        ctx.say(
            f"  N = {tasks:,}: {point.wall_ms:.0f} ms/task (median task, first batch "
            f"{point.first_batch_ms:.0f} ms, last {point.last_batch_ms:.0f} ms), planner CPU "
            f"{point.planner_cpu_ms:.1f} ms/task, NATS {point.nats_bytes / 1000:,.1f} "
            f"KB/task, run view {point.view_ms:.1f} ms for {point.view_bytes / 1024:,.0f} KiB"
        )
    points = [median_point(measured[tasks]) for tasks in config.sizes]
    ctx.curves[CHART] = curves_from(points)
    return rows_from(points, config, measured[config.sizes[0]])
