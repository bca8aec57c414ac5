"""Benchmark 4: scaling efficiency of the dagger executor (engine-less backend).

One batch of N tasks whose agent sleeps 1 s (then writes its file), run in dagger mode on
1, 2 and 4 executor replicas with 2 slots each (`CC_DAGGER_SLOTS=2`,
`CC_DAGGER_MAX_IN_FLIGHT` = 2 x replicas), each configuration on a fresh stack, timed from
`POST /api/v1/runs` until the run is `succeeded` in PostgreSQL. Speedup(R) = T(1) / T(R),
against the ideal R; the ideal wall time is the agent time alone, ceil(N / slots) x 1 s.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from pathlib import Path

import nats
from cc_bus.permissions import OPERATOR
from commandcenter.stack import service_available
from commandcenter_contracts import subjects
from nats.js.errors import NotFoundError

from bench.context import Context
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


def wall_seconds(root: Path, config: Config, replicas: int, problems: list[str]) -> float:
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
        with api_client(stack) as client:
            started = time.perf_counter()
            run_id = start_run(
                client, plan=plan, repo=repo, argv=sleep_agent(AGENT_SECONDS), mode="dagger"
            )
            wait_for_run(client, run_id, timeout=120 + 10 * config.tasks)
            return time.perf_counter() - started


GOAL_REPLICAS = 4
"""The standing goal P3 is the efficiency at this many replicas (`bench.goals`)."""


def ideal_seconds(tasks: int, replicas: int) -> float:
    return math.ceil(tasks / (SLOTS * replicas)) * AGENT_SECONDS


def run(config: Config, ctx: Context) -> list[Row]:
    root, problems, say = ctx.root, ctx.problems, ctx.say
    walls: dict[int, Sample] = {r: Sample() for r in config.replicas}
    speedups: dict[int, Sample] = {r: Sample() for r in config.replicas}
    one = config.replicas[0]
    for k in range(config.repeat):
        for replicas in config.replicas:
            workdir = root / f"scaling-{k + 1}-{replicas}"
            ctx.settle()
            walls[replicas].add(wall_seconds(workdir, config, replicas, problems))
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
    return rows
