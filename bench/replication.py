"""Benchmark 8: what replication costs, R3 against R1, side by side in the same run.

R3: a three-node JetStream cluster on loopback (`NatsCluster`, the one `commandcenter up
--nats-cluster 3` starts) with `CC_STREAM_REPLICAS=3`: every write is stored on a majority of
the nodes before JetStream acknowledges it. R1: one nats-server, `CC_STREAM_REPLICAS=1`. Both
with `sync_interval: always`, so each stored copy is also fsynced.

- Dispatch throughput: benchmark 2's measurement (the real `python -m planner`, an N-task
  plan, clock from the `PhaseStartRequested` to N messages in CC_TASKS), and raw nats-py
  publishing one at a time, on a fresh R1 server and a fresh R3 cluster per repetition.
- Status latency: benchmark 3's measurement (publish → SSE client, and → a JetStream ordered
  consumer) on a whole stack of each kind, fresh per repetition.

R1 and R3 alternate who goes first per repetition, so a slow spell of the machine does not
land on one side only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cc_bus.permissions import OPERATOR
from commandcenter.servers import NatsCluster, NatsServer
from commandcenter_contracts import subjects

from bench import dispatch, latency
from bench.context import Context
from bench.report import Row
from bench.stats import Sample, percentile
from bench.system import BenchError, connect_nats, running_stack, stop_process

DISPATCH_BENCH = "8 R3 dispatch"
LATENCY_BENCH = "8 R3 latency"
REPLICAS = (1, 3)
CLUSTER_SIZE = 3


@dataclass(frozen=True)
class Config:
    tasks: int
    """Tasks in the dispatched plan."""
    rate: float
    """Status events per second for the latency measurement."""
    seconds: float
    repeat: int


@contextlib.contextmanager
def fresh_nats(root: Path, replicas: int) -> Iterator[NatsServer | NatsCluster]:
    """One nats-server (R1), or a three-node cluster (R3); stopped on exit."""
    server: NatsServer | NatsCluster = (
        NatsCluster(root / "nats", size=CLUSTER_SIZE).start()
        if replicas > 1
        else NatsServer(root / "nats").start()
    )
    try:
        yield server
    finally:
        server.stop()


async def stream_replicas(url: str, stream: str) -> int:
    nc = await connect_nats(url, "bench-replicas-check")
    try:
        info = await nc.jetstream(timeout=10).stream_info(stream)
    finally:
        await nc.close()
    return info.config.num_replicas or 1


def check_replicas(url: str, stream: str, replicas: int) -> None:
    """The measurement ran on what it says it ran on."""
    have = asyncio.run(stream_replicas(url, stream))
    if have != replicas:
        raise BenchError(f"{stream} has {have} replica(s), the measurement needs {replicas}")


def dispatch_rates(root: Path, replicas: int, tasks: int) -> tuple[float, float]:
    """(planner tasks/s, raw one-at-a-time tasks/s), each on a fresh server or cluster."""
    with fresh_nats(root / "planner", replicas) as server:
        proc = dispatch.start_planner(server, root, replicas=replicas)
        try:
            seconds, _ = asyncio.run(dispatch.planner_seconds(server, proc, tasks, root))
        finally:
            stop_process(proc, grace_s=15)
        check_replicas(server.url, subjects.STREAM_TASKS, replicas)
    with fresh_nats(root / "raw", replicas) as server:
        raw = asyncio.run(dispatch.raw_seconds(server, tasks, pipelined=False, replicas=replicas))
        check_replicas(server.url, subjects.STREAM_TASKS, replicas)
    return tasks / seconds, tasks / raw


def status_latencies(root: Path, replicas: int, config: Config, ctx: Context) -> dict[str, Any]:
    """Benchmark 3's measurement on a fresh stack with one node (R1) or a cluster (R3)."""
    with running_stack(
        root,
        nats_cluster=CLUSTER_SIZE if replicas > 1 else 1,
        extra_env={"CC_STREAM_REPLICAS": str(replicas)},
        problems=ctx.problems,
    ) as stack:
        assert stack.nats is not None
        url = stack.nats.url_as(OPERATOR)
        ctx.settle()
        result = latency.measure_once(
            stack.gateway_url, stack.admin_token(), url, config.rate, config.seconds
        )
        check_replicas(url, subjects.STREAM_STATUS, replicas)
    return result


def _planner_log_problems(workdir: Path, ctx: Context) -> None:
    log = workdir / "planner.log"
    if log.exists() and "Traceback" in (text := log.read_text(errors="replace")):
        where = text.index("Traceback")
        ctx.problems.append(f"planner.log ({workdir.name}): {text[where : where + 1500]}")


def run(config: Config, ctx: Context) -> list[Row]:
    planner = {r: Sample() for r in REPLICAS}
    raw = {r: Sample() for r in REPLICAS}
    results: dict[int, list[dict[str, Any]]] = {r: [] for r in REPLICAS}
    for k in range(config.repeat):
        order = REPLICAS if k % 2 == 0 else tuple(reversed(REPLICAS))
        for replicas in order:
            workdir = ctx.root / f"replication-{k + 1}-r{replicas}"
            workdir.mkdir(parents=True)
            ctx.settle()
            ours, bare = dispatch_rates(workdir, replicas, config.tasks)
            _planner_log_problems(workdir, ctx)
            planner[replicas].add(ours)
            raw[replicas].add(bare)
        for replicas in order:
            stack_dir = ctx.root / f"replication-{k + 1}-r{replicas}" / "stack"
            results[replicas].append(status_latencies(stack_dir, replicas, config, ctx))
        ctx.say(
            f"  repetition {k + 1}: "
            + "; ".join(
                f"R{r} planner {planner[r].values[-1]:,.0f}/s, raw {raw[r].values[-1]:,.0f}/s, "
                f"SSE p50 {percentile(results[r][-1]['sse'], 50):.1f} ms "
                f"p99 {percentile(results[r][-1]['sse'], 99):.1f} ms"
                for r in REPLICAS
            )
        )
    return dispatch_rows(config, planner, raw) + latency_rows(config, results)


R3 = f"R3 ({CLUSTER_SIZE}-node cluster)"
R1 = "R1 (one node)"


def dispatch_rows(config: Config, planner: dict[int, Sample], raw: dict[int, Sample]) -> list[Row]:
    return [
        Row(
            DISPATCH_BENCH,
            f"dispatch throughput, {config.tasks:,} tasks, the planner (as in 2)",
            "tasks/s",
            ours_label=R3,
            ours=planner[3],
            baseline=planner[1],
            baseline_label=R1,
            decimals=0,
            note="CC_STREAM_REPLICAS=3 against 1; sync_interval: always on every node",
            chart_label="planner",
        ),
        Row(
            DISPATCH_BENCH,
            "raw nats-py, one publish at a time (what replication costs JetStream itself)",
            "tasks/s",
            ours_label=R3,
            ours=raw[3],
            baseline=raw[1],
            baseline_label=R1,
            decimals=0,
            chart_label="raw one at a time",
        ),
    ]


def latency_rows(config: Config, results: dict[int, list[dict[str, Any]]]) -> list[Row]:
    def stat(replicas: int, who: str, pct: int) -> Sample:
        return Sample([percentile(r[who], pct) for r in results[replicas]])

    rows = []
    for pct in (50, 99):
        rows.append(
            Row(
                LATENCY_BENCH,
                f"status latency p{pct}, publish → SSE client (as in 3)",
                "ms",
                ours_label=R3,
                ours=stat(3, "sse", pct),
                baseline=stat(1, "sse", pct),
                baseline_label=R1,
                decimals=2,
                note=(
                    f"{config.rate:g} events/s for {config.seconds:g} s, a whole stack of each kind"
                    if pct == 50
                    else ""
                ),
                chart_label=f"SSE p{pct}",
            )
        )
    for pct in (50, 99):
        rows.append(
            Row(
                LATENCY_BENCH,
                f"status latency p{pct}, publish → JetStream ordered consumer",
                "ms",
                ours_label=R3,
                ours=stat(3, "raw", pct),
                baseline=stat(1, "raw", pct),
                baseline_label=R1,
                decimals=2,
                chart=False,
            )
        )
    return rows
