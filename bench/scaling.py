"""Benchmark 4: scaling efficiency of the dagger executor (engine-less backend).

One batch of N tasks whose agent sleeps 1 s (then writes its file), run in dagger mode on
1, 2 and 4 executor replicas with 2 slots each (`CC_DAGGER_SLOTS=2`,
`CC_DAGGER_MAX_IN_FLIGHT` = 2 x replicas), each configuration on a fresh stack, timed from
`POST /api/v1/runs` until the run is `succeeded` in PostgreSQL. Speedup(R) = T(1) / T(R),
against the ideal R; the ideal wall time is the agent time alone, ceil(N / slots) x 1 s.

Beside each wall time, the CPU time the whole machine spent on the run (every service,
nats-server, PostgreSQL, git and the agents), per task, split by process (the replicas summed;
an executor's git and agents as "processes it started"): what was found to cost the
efficiency on a small machine. The agents sleep, but each task's own work (a clone, its git
steps, its integration, its status events) runs on the same cores as the other replicas'
tasks, so on 2 cores the 8 slots of 4 replicas do it mostly one after another, and lost races
of the integration compare-and-set add more of it the more replicas finish together.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import nats
from cc_bus.permissions import OPERATOR
from commandcenter.stack import service_available
from commandcenter_contracts import subjects
from nats.js.errors import NotFoundError

from bench.context import Context
from bench.cpu_budget import CpuWatch, describe_split, median_split, shares
from bench.report import Row
from bench.stats import Sample
from bench.system import BenchError, api_client, running_stack, start_run, wait_for_run
from bench.workload import make_repository, sleep_agent, write_plan

BENCH = "4 scaling"
SLOTS = 2
AGENT_SECONDS = 1.0


@dataclass(frozen=True)
class Config:
    tasks: int
    replicas: tuple[int, ...]
    repeat: int


def available() -> bool:
    return service_available("executor_dagger")


async def _replicas_pulling(nats_url: str, replicas: int, limit_s: float) -> None:
    """Wait until the dagger durable has a pull request from every replica (so no replica
    starts late and the first one does not take every task)."""
    nc = await nats.connect(nats_url, name="bench-scaling")
    try:
        js = nc.jetstream()
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            try:
                info = await js.consumer_info(
                    subjects.STREAM_TASKS, subjects.CONSUMER_EXECUTOR_DAGGER
                )
                if (info.num_waiting or 0) >= replicas:
                    return
            except NotFoundError:
                pass
            await asyncio.sleep(0.05)
        raise BenchError(f"{replicas} dagger executor replicas were not all pulling")
    finally:
        await nc.close()


@dataclass(frozen=True)
class Timing:
    wall_s: float
    cpu_s: float | None
    """CPU time of the whole machine over the run (None where /proc has none)."""
    split_s: dict[str, float]
    """CPU seconds by process over the run, replicas summed, the rest of the machine as
    `rest` (empty where /proc has none)."""


def by_role(split: dict[str, float]) -> dict[str, float]:
    """`split` with the replicas of a service summed (`executor-dagger-2` → `executor-dagger`)."""
    out: dict[str, float] = {}
    for name, value in split.items():
        role = re.sub(r"-\d+(?= |$)", "", name)
        out[role] = out.get(role, 0.0) + value
    return out


def timed_run(root: Path, config: Config, replicas: int, problems: list[str]) -> Timing:
    repo = make_repository(root / "repo")
    plan = write_plan(root / "plans", config.tasks)
    env = {
        "CC_DAGGER_BACKEND": "engineless",
        "CC_DAGGER_SLOTS": str(SLOTS),
        "CC_DAGGER_MAX_IN_FLIGHT": str(SLOTS * replicas),
    }
    with running_stack(
        root / "stack",
        local_executors=0,
        dagger_executors=replicas,
        extra_env=env,
        problems=problems,
    ) as stack:
        assert stack.nats is not None
        asyncio.run(_replicas_pulling(stack.nats.url_as(OPERATOR), replicas, 60))
        watch = CpuWatch.of(stack)
        with api_client(stack) as client:
            started, before = time.perf_counter(), watch.snapshot()
            run_id = start_run(
                client, plan=plan, repo=repo, argv=sleep_agent(AGENT_SECONDS), mode="dagger"
            )
            wait_for_run(client, run_id, timeout=120 + 10 * config.tasks)
            wall_s, spent = time.perf_counter() - started, watch.since(before)
            split = by_role(shares(spent, 1.0)) if spent.machine_s is not None else {}
            return Timing(wall_s, spent.machine_s, split)


GOAL_REPLICAS = 4
"""The standing goal P3 is the efficiency at this many replicas (`bench.goals`)."""


def ideal_seconds(tasks: int, replicas: int) -> float:
    return math.ceil(tasks / (SLOTS * replicas)) * AGENT_SECONDS


def run(config: Config, ctx: Context) -> list[Row]:
    root, problems, say = ctx.root, ctx.problems, ctx.say
    walls: dict[int, Sample] = {r: Sample() for r in config.replicas}
    speedups: dict[int, Sample] = {r: Sample() for r in config.replicas}
    cpu_per_task: dict[int, Sample] = {r: Sample() for r in config.replicas}
    splits: dict[int, list[dict[str, float]]] = {r: [] for r in config.replicas}
    one = config.replicas[0]
    for k in range(config.repeat):
        for replicas in config.replicas:
            workdir = root / f"scaling-{k + 1}-{replicas}"
            ctx.settle()
            timing = timed_run(workdir, config, replicas, problems)
            walls[replicas].add(timing.wall_s)
            if timing.cpu_s is not None:
                cpu_per_task[replicas].add(timing.cpu_s / config.tasks * 1000)
                splits[replicas].append(
                    {name: s / config.tasks * 1000 for name, s in timing.split_s.items()}
                )
        for replicas in config.replicas:
            speedups[replicas].add(walls[one].values[-1] / walls[replicas].values[-1])
        say(
            f"  repetition {k + 1}: "
            + ", ".join(f"{r} replica(s) {walls[r].values[-1]:.1f} s" for r in config.replicas)
        )
    rows = []
    for replicas in config.replicas:
        rows.append(
            Row(
                BENCH,
                f"speedup, {replicas} replica(s) x {SLOTS} slots, {config.tasks} tasks of "
                f"{AGENT_SECONDS:g} s",
                "x (vs 1 replica)",
                ours=speedups[replicas],
                baseline=Sample([replicas / one]),
                baseline_label="ideal",
                decimals=2,
                note="ours ÷ baseline = scaling efficiency" if replicas == one else "",
                chart_label=f"speedup, {replicas} replica(s)",
                goal="P3" if replicas == GOAL_REPLICAS else "",
            )
        )
    for replicas in config.replicas:
        rows.append(
            Row(
                BENCH,
                f"wall time, {replicas} replica(s) x {SLOTS} slots",
                "s",
                ours=walls[replicas],
                baseline=Sample([ideal_seconds(config.tasks, replicas)]),
                baseline_label="agent time alone",
                decimals=2,
                note="POST until `succeeded` in PostgreSQL" if replicas == one else "",
                chart=False,
            )
        )
    for replicas in config.replicas:
        if not cpu_per_task[replicas]:
            continue
        rows.append(
            Row(
                BENCH,
                f"CPU time per task, whole machine, {replicas} replica(s) x {SLOTS} slots",
                "ms",
                ours=cpu_per_task[replicas],
                baseline=Sample([cpu_per_task[one].median]) if cpu_per_task[one] else Sample(),
                baseline_label=f"{one} replica(s)",
                note=(
                    f"all processes, over the wall time above, on {os.cpu_count()} CPU(s); "
                    if replicas == one
                    else ""
                )
                + "of which, per task: "
                + describe_split(median_split(splits[replicas]), decimals=0, least=0.5),
                chart=False,
            )
        )
    return rows
