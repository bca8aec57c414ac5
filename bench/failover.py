"""Benchmark 9: failover time, from SIGKILL of the CC_TASKS stream leader to the next task
starting.

A fresh stack on a three-node cluster (`CC_STREAM_REPLICAS=3`) runs a plan of N quick tasks
(benchmark 1's no-op agent). Once a few tasks have succeeded, the node leading CC_TASKS is
SIGKILLed (it stays down). Ours: from the kill to the next task's start (its `task.started`
`at`, the executor's own clock on the same machine, as the read model keeps it).

Where the executors' durable consumer on CC_TASKS is led decides what the kill costs them: the
executor pulls from the consumer's leader, which may or may not be the stream's. Left to
chance the figure would be a coin toss, so each repetition measures both placements, each on
its own stack, arranged before the kill with a consumer leader step-down naming the preferred
node: `together` (the killed node led the consumer too: it is re-elected, the pull retried)
and `apart` (the consumer stays led by a surviving node).

The task in flight at the kill, if any, finishes first, so up to one task's time (benchmark 1)
is in the figure. Baseline: what JetStream needs by itself, from the kill until STREAM.INFO
and CONSUMER.INFO, asked of the surviving nodes every 20 ms, name a live leader for both.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import statistics
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from cc_bus.executor.delivery import DeliverySettings
from cc_bus.permissions import OPERATOR
from commandcenter.servers import NatsCluster
from commandcenter_contracts import subjects
from nats.aio.client import Client
from nats.js import JetStreamContext

from bench.context import Context
from bench.report import Row
from bench.stats import Sample
from bench.system import (
    BenchError,
    api_client,
    connect_nats,
    running_stack,
    start_run,
    wait_for_run,
)
from bench.workload import make_repository, write_file_agent, write_plan

BENCH = "9 failover"
CLUSTER_SIZE = 3
POLL_S = 0.02
ELECTION_LIMIT_S = 60.0
STREAM, CONSUMER = subjects.STREAM_TASKS, subjects.CONSUMER_EXECUTOR_LOCAL
PLACEMENTS = ("together", "apart")
"""The executors' consumer led by the killed node too, or by a surviving one."""


@dataclass(frozen=True)
class Config:
    tasks: int
    kill_after: int
    """Tasks succeeded (in the read model) before the leader is killed."""
    repeat: int
    ack_wait_s: float | None = None
    """`CC_ACK_WAIT_S` of the executors (None: their default). A smoke run shortens it: a
    task whose settlement the kill swallowed comes back after it."""


@dataclass(frozen=True)
class Kill:
    node: str
    at: float
    """UNIX time of the SIGKILL."""
    stream_led_after_s: float
    """Until CC_TASKS had a live leader again."""
    consumer_led_after_s: float
    """Until the executors' consumer on it had a live leader again."""


async def leaders(js: JetStreamContext) -> tuple[str | None, str | None]:
    """(leader of CC_TASKS, leader of the executors' consumer on it)."""
    stream = await js.stream_info(STREAM)
    consumer = await js.consumer_info(STREAM, CONSUMER)
    return (
        stream.cluster.leader if stream.cluster else None,
        consumer.cluster.leader if consumer.cluster else None,
    )


async def both_led(js: JetStreamContext) -> tuple[str, str]:
    """The two leaders once both exist: a stack is ready before its executor has made its
    consumer (the executors start beside the gateway), and a new R3 stream elects a moment."""
    deadline = time.monotonic() + ELECTION_LIMIT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # not made, or not led, yet
            stream_leader, consumer_leader = await leaders(js)
            if stream_leader and consumer_leader:
                return stream_leader, consumer_leader
        await asyncio.sleep(POLL_S)
    raise BenchError("CC_TASKS or its consumer has no leader before the kill")


async def move_consumer_leader(nc: Client, node: str) -> None:
    """Have the consumer's leader step down in favour of `node` (nats-server 2.11+), and wait
    until `node` leads it."""
    request = json.dumps({"placement": {"preferred": node}}).encode()
    reply = await nc.request(
        f"$JS.API.CONSUMER.LEADER.STEPDOWN.{STREAM}.{CONSUMER}", request, timeout=10
    )
    error = json.loads(reply.data).get("error")
    if error and "already leader" not in error.get("description", ""):
        raise BenchError(f"consumer leader step-down refused: {error}")
    js = nc.jetstream(timeout=2)
    deadline = time.monotonic() + ELECTION_LIMIT_S
    while time.monotonic() < deadline:
        try:
            if (await leaders(js))[1] == node:
                return
        except Exception:  # no answer while it elects: ask again
            pass
        await asyncio.sleep(POLL_S)
    raise BenchError(f"{node} did not become the consumer's leader")


async def arrange(cluster: NatsCluster, placement: str) -> str:
    """Place the consumer's leader `together` with CC_TASKS' leader or `apart` from it; the
    node to kill (CC_TASKS' leader)."""
    nc = await connect_nats(cluster.url_as(OPERATOR), "bench-failover-arrange")
    try:
        stream_leader, consumer_leader = await both_led(nc.jetstream(timeout=10))
        if placement == "together" and consumer_leader != stream_leader:
            await move_consumer_leader(nc, stream_leader)
        elif placement == "apart" and consumer_leader == stream_leader:
            other = next(name for name in cluster.names if name != stream_leader)
            await move_consumer_leader(nc, other)
        if (await leaders(nc.jetstream(timeout=10)))[0] != stream_leader:
            raise BenchError("CC_TASKS changed leader while the consumer's was placed")
    finally:
        await nc.close()
    return stream_leader


async def _leader_of(js: JetStreamContext, consumer: bool) -> str | None:
    """CC_TASKS' leader, or its executors' consumer's; None while none answers."""
    try:
        info = await (js.consumer_info(STREAM, CONSUMER) if consumer else js.stream_info(STREAM))
    except Exception:  # no answer while JetStream elects: ask again
        return None
    return info.cluster.leader if info.cluster else None


async def kill_and_watch(cluster: NatsCluster, node: str, placement: str) -> Kill:
    """SIGKILL `node` (still leading CC_TASKS, and the consumer as placed), then ask the
    surviving nodes until CC_TASKS and the executors' consumer both have a leader again."""
    survivors = ",".join(n.url_as(OPERATOR) for n in cluster.nodes if n.name != node)
    observer = await connect_nats(survivors, "bench-failover-observer")
    try:
        stream_leader, consumer_leader = await leaders(observer.jetstream(timeout=10))
        if stream_leader != node or (consumer_leader == node) != (placement == "together"):
            raise BenchError(f"leaders moved during the run: {stream_leader}, {consumer_leader}")
        js = observer.jetstream(timeout=0.5)
        led_again: dict[bool, float] = {}
        killed_at = time.time()
        cluster.node(node).kill()
        deadline = time.monotonic() + ELECTION_LIMIT_S
        while len(led_again) < 2 and time.monotonic() < deadline:
            for consumer in (False, True):
                if consumer not in led_again and (await _leader_of(js, consumer)) not in (
                    None,
                    node,
                ):
                    led_again[consumer] = time.time() - killed_at
            await asyncio.sleep(POLL_S)
    finally:
        await observer.close()
    if len(led_again) < 2:
        raise BenchError(f"CC_TASKS not led again {ELECTION_LIMIT_S:.0f}s after the kill")
    return Kill(
        node, killed_at, stream_led_after_s=led_again[False], consumer_led_after_s=led_again[True]
    )


def wait_until_succeeded(client: httpx.Client, run_id: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/api/v1/runs/{run_id}")
        counts = response.json()["counts"] if response.status_code == 200 else {}
        done, total = counts.get("succeeded", 0), counts.get("total", 0)
        if 0 < total <= done:
            raise BenchError("the run ended before the kill: give it more tasks")
        if done >= count:
            return
        time.sleep(POLL_S)
    raise BenchError(f"run {run_id}: {count} task(s) not succeeded after {timeout:.0f}s")


def task_starts(view: dict[str, Any]) -> list[float]:
    """When each task of the run started (its last `task.started`, as the read model keeps
    it: a redelivered task counts from its new start), in order. From the run's view, not its
    SSE history: right after a node's loss the gateway may fail to open an SSE stream."""
    return sorted(
        datetime.fromisoformat(task["started_at"]).timestamp()
        for batch in view["batches"]
        for task in batch["tasks"]
        if task.get("started_at")
    )


def next_start_after(starts: list[float], moment: float) -> float:
    later = [at for at in starts if at > moment]
    if not later:
        raise BenchError("no task started after the kill")
    return later[0] - moment


def usual_gaps(starts: list[float], moment: float) -> list[float]:
    """Times between two task starts before the kill (no failover in between)."""
    return [b - a for a, b in itertools.pairwise(at for at in starts if at <= moment)]


def ack_wait_env(config: Config) -> dict[str, str]:
    return {} if config.ack_wait_s is None else {"CC_ACK_WAIT_S": f"{config.ack_wait_s:g}"}


def measure_once(
    workdir: Path, placement: str, config: Config, ctx: Context
) -> tuple[Kill, float, list[float]]:
    repo = make_repository(workdir / "repo")
    plan = write_plan(workdir / "plans", config.tasks)
    with (
        running_stack(
            workdir / "stack",
            nats_cluster=CLUSTER_SIZE,
            extra_env={"CC_STREAM_REPLICAS": str(CLUSTER_SIZE), **ack_wait_env(config)},
            problems=ctx.problems,
        ) as stack,
        api_client(stack) as client,
    ):
        assert isinstance(stack.nats, NatsCluster)
        node = asyncio.run(arrange(stack.nats, placement))
        ctx.settle()
        run_id = start_run(client, plan=plan, repo=repo, argv=write_file_agent())
        wait_until_succeeded(client, run_id, config.kill_after, 60 + 5 * config.tasks)
        kill = asyncio.run(kill_and_watch(stack.nats, node, placement))
        view = wait_for_run(client, run_id, timeout=120 + 10 * config.tasks, stalled_s=90)
    starts = task_starts(view)
    return kill, next_start_after(starts, kill.at), usual_gaps(starts, kill.at)


def run(config: Config, ctx: Context) -> list[Row]:
    resumed = {p: Sample() for p in PLACEMENTS}
    stream_led = {p: Sample() for p in PLACEMENTS}
    consumer_led = Sample()
    gaps: list[float] = []
    for k in range(config.repeat):
        for placement in PLACEMENTS if k % 2 == 0 else tuple(reversed(PLACEMENTS)):
            workdir = ctx.root / f"failover-{k + 1}-{placement}"
            kill, next_start, before = measure_once(workdir, placement, config, ctx)
            resumed[placement].add(next_start)
            stream_led[placement].add(kill.stream_led_after_s)
            if placement == "together":
                consumer_led.add(kill.consumer_led_after_s)
            gaps += before
            consumer = (
                f", its consumer after {kill.consumer_led_after_s:.2f} s"
                if placement == "together"
                else ""
            )
            ctx.say(
                f"  repetition {k + 1}, consumer led {placement}: killed {kill.node}; CC_TASKS "
                f"led again after {kill.stream_led_after_s:.2f} s{consumer}; next task started "
                f"after {next_start:.2f} s"
            )
    ack_wait = config.ack_wait_s or DeliverySettings.ack_wait_s
    baseline_label = "JetStream alone: kill → CC_TASKS led again"
    return [
        Row(
            BENCH,
            f"SIGKILL of the CC_TASKS leader, also the executors' consumer leader → next "
            f"task.started, {config.tasks} quick tasks",
            "s",
            ours=resumed["together"],
            baseline=stream_led["together"],
            baseline_label=baseline_label,
            decimals=2,
            note=f"3-node cluster, CC_STREAM_REPLICAS=3, CC_ACK_WAIT_S={ack_wait:g}; the "
            "killed node stays down",
            chart_label="consumer on killed node",
        ),
        Row(
            BENCH,
            "SIGKILL of the CC_TASKS leader, the consumer led by another node → next task.started",
            "s",
            ours=resumed["apart"],
            baseline=stream_led["apart"],
            baseline_label=baseline_label,
            decimals=2,
            chart_label="consumer elsewhere",
        ),
        Row(
            BENCH,
            "JetStream alone: kill → the executors' consumer led again (it was on the killed node)",
            "s",
            ours=consumer_led,
            ours_label="JetStream",
            decimals=2,
            chart=False,
        ),
        Row(
            BENCH,
            "time between two task starts without a failover (same runs, before the kill)",
            "ms",
            ours=Sample([statistics.median(gaps) * 1000]) if gaps else Sample(),
            note="the median over every repetition's tasks before the kill",
            chart=False,
        ),
    ]
