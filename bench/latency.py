"""Benchmark 3: status latency, from an executor's publish to SSE clients' receipt.

A run is announced the way the gateway does it (`run.accepted` on `cc.status.<run>`, which the
projector turns into a run row), SSE clients follow `GET /api/v1/runs/{id}/events`, and
`task.progress` events are published with `cc_bus.publish_status` at a paced rate for a few
seconds, as executors do. Each event's `at` is set when it is published; each client notes the
wall clock when the event reaches it; latency = arrival - `at` (one machine, one clock), over
every event and every client. Two workloads: 500 events/s to one client, and 5,000 events/s
to 100 clients (the standing goal P5). Baseline: one nats-py ordered consumer on the same
subject, receiving the same events at the same time: what JetStream delivery costs by itself,
without the gateway and HTTP.

The SSE clients are raw-socket readers (`bench.sse_readers`), at most 25 per process, each
process on its own; the baseline runs in its own process too, so none competes with the
publisher for the interpreter lock. Each readers' process reports the CPU it used, so the
figures show whether the readers were the bottleneck.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import queue
import time
import uuid
from array import array
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as ProcessEvent
from typing import Any

from cc_bus import publish_status
from cc_bus.permissions import OPERATOR
from commandcenter.stack import Stack
from commandcenter_contracts import (
    RunAccepted,
    RunSucceeded,
    TaskProgress,
    new_id,
    status_decoder,
    subjects,
)
from nats.js.api import DeliverPolicy

from bench import projection
from bench.context import Context
from bench.cpu_budget import CpuWatch, Spent, describe_split, median_split, shares
from bench.report import Row
from bench.sse_readers import ReadersResult, now, run_readers
from bench.stats import Sample, percentile
from bench.system import BenchError, announce, connect_nats, running_stack

BENCH = "3 status latency"
MAX_IN_FLIGHT = 64
DRAIN_S = 120.0
"""How long receivers may take to get every event after the last one was published."""
CLIENTS_PER_PROCESS = 25
"""Readers per process: 100 clients at 5,000 events/s are 500,000 arrivals/s to note."""
PCTS = (50, 99)
RATE_REACHED = 0.95
"""A publisher below this share of the rate asked was held back: the machine was saturated."""
GOAL = (5000, 100)
"""Events/s and clients of the standing goal P5 (`bench.goals`)."""


@dataclass(frozen=True)
class Fanout:
    rate: float
    clients: int
    seconds: float


@dataclass(frozen=True)
class Config:
    fanouts: tuple[Fanout, ...]
    repeat: int
    burst: int = 0
    """Events of the read model's burst (`bench.projection`); 0: not measured."""


def jetstream_receiver(
    nats_url: str, subject: str, events: int, ready: ProcessEvent, out: Queue[ReadersResult | str]
) -> None:
    """The baseline: an ordered consumer on the run's subject, straight from JetStream."""

    async def follow() -> ReadersResult:
        arrivals = array("d", [math.nan]) * events
        nc = await connect_nats(nats_url, "bench-latency-baseline")
        try:
            sub = await nc.jetstream().subscribe(
                subject,
                stream=subjects.STREAM_STATUS,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.ALL,
            )
            cpu0, wall0 = time.process_time(), time.monotonic()
            while True:
                msg = await sub.next_msg(timeout=60)
                arrived = now()
                event = status_decoder.decode(msg.data)
                if isinstance(event, RunAccepted):
                    cpu0, wall0 = time.process_time(), time.monotonic()
                    ready.set()
                elif isinstance(event, TaskProgress):
                    arrivals[int(event.message)] = arrived
                elif isinstance(event, RunSucceeded):
                    cpu = time.process_time() - cpu0
                    return ReadersResult([arrivals], cpu, time.monotonic() - wall0)
        finally:
            await nc.close()

    try:
        out.put(asyncio.run(follow()))
    except Exception as exc:
        out.put(f"JetStream: {type(exc).__name__}: {exc}")


def event_count(rate: float, seconds: float) -> int:
    return max(1, round(rate * seconds))


async def publish_paced(
    nats_url: str, run_id: str, rate: float, seconds: float
) -> tuple[list[float], float]:
    """Publish `rate x seconds` task.progress events on schedule, event i with `message` i;
    (each event's `at` by number, rate achieved)."""
    total = event_count(rate, seconds)
    sent = [math.nan] * total
    task_id = str(uuid.uuid4())
    nc = await connect_nats(nats_url, "bench-latency-publisher")
    js = nc.jetstream()
    slots = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def one(i: int) -> None:
        async with slots:
            event = TaskProgress(run_id=run_id, task_id=task_id, step="bench", message=str(i))
            sent[i] = event.at.timestamp()
            await publish_status(js, event)

    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        pending = []
        for i in range(total):
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.create_task(one(i)))
        await asyncio.gather(*pending)
        elapsed = loop.time() - start
        await publish_status(js, RunSucceeded(run_id=run_id))
    finally:
        await nc.close()
    return sent, total / elapsed if elapsed > 0 else float("inf")


def _latencies_ms(sent: list[float], result: ReadersResult, who: str) -> list[float]:
    """Arrival - `at` of every event at every reader, in ms; every event must have arrived."""
    latencies = []
    for arrivals in result.arrivals:
        got = [(arrived - at) * 1000 for at, arrived in zip(sent, arrivals, strict=True)]
        missing = sum(math.isnan(x) for x in got)
        if missing:
            raise BenchError(f"a {who} reader missed {missing} of {len(sent)} events")
        latencies += got
    return latencies


def _collect(out: Queue[ReadersResult | str], who: str) -> ReadersResult:
    try:
        got = out.get(timeout=DRAIN_S)
    except queue.Empty:
        raise BenchError(
            f"the {who} receivers still lacked events {DRAIN_S:g} s after the last publish"
        ) from None
    if isinstance(got, str):
        raise BenchError(f"the {who} receiver failed: {got}")
    return got


def measure_once(
    gateway_url: str,
    token: str,
    nats_url: str,
    rate: float,
    seconds: float,
    clients: int = 1,
    *,
    cpu: CpuWatch | None = None,
) -> dict[str, Any]:
    """One measurement: `clients` SSE clients and the baseline consumer on a new run while
    `rate x seconds` events are published; every latency of each, the rate achieved, the
    CPU share of the busiest readers' process (1.0: a whole core) and, with `cpu`, the CPU
    each process spent from the first publish until every receiver had every event."""
    run_id = new_id()
    asyncio.run(announce(nats_url, run_id))
    ctx = multiprocessing.get_context("spawn")
    events = event_count(rate, seconds)
    url = f"{gateway_url}/api/v1/runs/{run_id}/events"
    groups = [min(CLIENTS_PER_PROCESS, clients - k) for k in range(0, clients, CLIENTS_PER_PROCESS)]
    readies = [ctx.Event() for _ in range(len(groups) + 1)]
    outs: list[Queue[ReadersResult | str]] = [ctx.Queue() for _ in readies]
    receivers = [
        ctx.Process(
            target=run_readers,
            args=(url, token, group, events, readies[k], outs[k]),
            daemon=True,
        )
        for k, group in enumerate(groups)
    ]
    receivers.append(
        ctx.Process(
            target=jetstream_receiver,
            args=(nats_url, subjects.status_subject(run_id), events, readies[-1], outs[-1]),
            daemon=True,
        )
    )
    for proc in receivers:
        proc.start()
    try:
        deadline = time.monotonic() + 60 + clients
        while not all(ready.is_set() for ready in readies):
            if time.monotonic() > deadline or not all(p.is_alive() for p in receivers):
                said = [
                    out.get(timeout=1)
                    for out, p in zip(outs, receivers, strict=True)
                    if not p.is_alive()
                ]
                raise BenchError(f"the latency receivers did not get the run's first event: {said}")
            time.sleep(0.05)
        before = cpu.snapshot() if cpu is not None else None
        sent, achieved = asyncio.run(publish_paced(nats_url, run_id, rate, seconds))
        readers = [_collect(out, "SSE") for out in outs[:-1]]
        raw = _latencies_ms(sent, _collect(outs[-1], "JetStream"), "JetStream")
        spent = cpu.since(before) if cpu is not None and before is not None else None
    finally:
        for proc in receivers:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    sse = [x for result in readers for x in _latencies_ms(sent, result, "SSE")]
    busiest = max(r.cpu_s / r.wall_s for r in readers if r.wall_s > 0)
    return {"sse": sse, "raw": raw, "rate": achieved, "reader_cpu": busiest, "cpu": spent}


def summary(result: dict[str, Any], events: int) -> dict[str, float]:
    """p50 and p99 of each receiver (a million latencies need not be kept), the rate, the
    readers' CPU, and CPU ms per event: the machine's (`cpu ms`) and each process's
    (`cpu ms <name>`)."""
    kept = {f"{who} p{pct}": percentile(result[who], pct) for who in ("sse", "raw") for pct in PCTS}
    kept |= {"rate": result["rate"], "reader_cpu": result["reader_cpu"]}
    spent: Spent | None = result.get("cpu")
    if spent is not None and spent.machine_s is not None:
        kept["cpu ms"] = spent.machine_s * 1000 / events
        kept |= {f"cpu ms {name}": ms for name, ms in shares(spent, events / 1000).items()}
    return kept


def _latency_row(fanout: Fanout, measured: list[dict[str, float]], pct: int, note: str) -> Row:
    clients = "an SSE client" if fanout.clients == 1 else f"each of {fanout.clients} SSE clients"
    return Row(
        BENCH,
        f"latency p{pct}, publish → {clients}, {fanout.rate:,.0f} events/s",
        "ms",
        ours=Sample([m[f"sse p{pct}"] for m in measured]),
        baseline=Sample([m[f"raw p{pct}"] for m in measured]),
        baseline_label="one JetStream ordered consumer",
        decimals=2,
        note=note,
        chart_label=f"p{pct}, {fanout.rate:,.0f}/s, {fanout.clients} client(s)",
        goal="P5" if pct == 99 and (fanout.rate, fanout.clients) == GOAL else "",
    )


def rows_from(results: dict[Fanout, list[dict[str, float]]]) -> list[Row]:
    rows = []
    for fanout, measured in results.items():
        short = f"{fanout.rate:,.0f}/s, {fanout.clients} client(s)"
        over = "every event at every client" if fanout.clients > 1 else "every event"
        rows += [
            _latency_row(fanout, measured, 50, f"{fanout.seconds:g} s per repetition; over {over}"),
            _latency_row(fanout, measured, 99, ""),
            Row(
                BENCH,
                f"publish rate achieved ({short})",
                "events/s",
                ours=Sample([m["rate"] for m in measured]),
                baseline=Sample([fanout.rate]),
                baseline_label="the rate asked",
                decimals=0,
                note="cc_bus.publish_status, acked by JetStream (fsync always)",
                chart=False,
                goal="P5 rate" if (fanout.rate, fanout.clients) == GOAL else "",
            ),
            Row(
                BENCH,
                f"the SSE readers' busiest process: share of a core ({short})",
                "core",
                ours=Sample([m["reader_cpu"] for m in measured]),
                decimals=2,
                note=f"at most {CLIENTS_PER_PROCESS} clients per process; near 1.00 the "
                "readers, not the gateway, would set the pace",
                chart=False,
            ),
            *_cpu_rows(fanout, measured, short),
        ]
    return rows


def _cpu_rows(fanout: Fanout, measured: list[dict[str, float]], short: str) -> list[Row]:
    """What one event cost the machine and, where the publisher fell short of the rate asked
    (the machine saturated), the rate its cores carry at that cost: no fan-out design gets
    past it on this machine. (Below saturation an event costs more: fewer are batched.)"""
    costs = [m for m in measured if "cpu ms" in m]
    if not costs:
        return []
    split = median_split(
        [
            {k.removeprefix("cpu ms "): v for k, v in m.items() if k.startswith("cpu ms ")}
            for m in costs
        ]
    )
    of_which = describe_split(split, decimals=2, least=0.005)
    rows = [
        Row(
            BENCH,
            f"CPU time per status event, whole machine ({short})",
            "ms",
            ours=Sample([m["cpu ms"] for m in costs]),
            decimals=2,
            note="from the first publish until every client had every event; of which, per "
            f"event: {of_which} (rest: the benchmark's own publisher and readers, the kernel)",
            chart=False,
        )
    ]
    achieved = Sample([m["rate"] for m in measured]).median
    if achieved >= RATE_REACHED * fanout.rate:
        return rows
    cores = os.cpu_count() or 1
    stack_ms = sum(ms for name, ms in split.items() if name != "rest")
    return [
        *rows,
        Row(
            BENCH,
            f"events/s the machine's {cores} cores carry at that CPU time ({short})",
            "events/s",
            ours=Sample([cores * 1000 / m["cpu ms"] for m in costs]),
            baseline=Sample([fanout.rate]),
            baseline_label="the rate asked",
            decimals=0,
            note=f"cores ÷ CPU time per event, with the machine saturated; the stack's "
            f"processes alone ({stack_ms:.2f} ms per event, clients elsewhere) would carry "
            f"{cores * 1000 / stack_ms:,.0f}/s"
            if stack_ms > 0
            else "",
            chart=False,
        ),
    ]


def run(config: Config, ctx: Context) -> list[Row]:
    results: dict[Fanout, list[dict[str, float]]] = {f: [] for f in config.fanouts}
    failed: set[Fanout] = set()
    # One token for every client (the admin's): let it hold them all open at once.
    clients = max(f.clients for f in config.fanouts)
    with running_stack(
        ctx.root / "latency-stack",
        extra_env={"CC_SSE_MAX_PER_TOKEN": str(clients + 10)},
        problems=ctx.problems,
    ) as stack:
        assert stack.nats is not None
        cpu = CpuWatch.of(stack)
        for k in range(config.repeat):
            for fanout in config.fanouts:
                if fanout in failed:
                    continue
                ctx.settle()
                try:
                    result = measure_once(
                        stack.gateway_url,
                        stack.admin_token(),
                        stack.nats.url_as(OPERATOR),
                        fanout.rate,
                        fanout.seconds,
                        fanout.clients,
                        cpu=cpu,
                    )
                except BenchError as exc:  # the other workload's figures still count
                    failed.add(fanout)
                    where = f"{fanout.rate:,.0f} events/s to {fanout.clients} client(s)"
                    ctx.failures.append(f"3 status latency, {where}: {exc}")
                    ctx.say(f"  {where}: FAILED: {exc}")
                    continue
                got = summary(result, event_count(fanout.rate, fanout.seconds))
                results[fanout].append(got)
                ctx.say(
                    f"  repetition {k + 1}, {fanout.rate:,.0f}/s to {fanout.clients} client(s): "
                    f"SSE p50 {got['sse p50']:.1f} ms, p99 {got['sse p99']:.1f} ms; "
                    f"JetStream p50 {got['raw p50']:.1f} ms, p99 {got['raw p99']:.1f} ms; "
                    f"{got['rate']:,.0f} events/s; busiest readers' process "
                    f"{got['reader_cpu']:.0%} of a core"
                    + (f"; {got['cpu ms']:.2f} ms CPU per event" if "cpu ms" in got else "")
                )
        bursts = _bursts(config, ctx, stack) if config.burst else []
    rows = rows_from({f: measured for f, measured in results.items() if measured})
    return rows + (projection.rows(bursts, config.burst) if bursts else [])


def _bursts(config: Config, ctx: Context, stack: Stack) -> list[projection.Burst]:
    assert stack.nats is not None and stack.postgres is not None
    bursts = []
    for k in range(config.repeat):
        ctx.settle()
        try:
            burst = projection.measure_burst(
                stack.nats.url_as(OPERATOR), stack.postgres.url, config.burst
            )
        except BenchError as exc:
            ctx.failures.append(f"{BENCH}, the read model's burst: {exc}")
            ctx.say(f"  read model burst: FAILED: {exc}")
            break
        bursts.append(burst)
        ctx.say(
            f"  repetition {k + 1}, a burst of {config.burst:,} events: published at "
            f"{burst.published_per_s:,.0f}/s, in PostgreSQL at {burst.projected_per_s:,.0f}/s "
            f"({burst.behind_s:.2f} s behind the last publish)"
        )
    return bursts
