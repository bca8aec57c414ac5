"""Benchmark 3: status latency, from an executor's publish to an SSE client's receipt.

A run is announced the way the gateway does it (`run.accepted` on `cc.status.<run>`, which the
projector turns into a run row), an SSE client follows `GET /api/v1/runs/{id}/events`, and
`task.progress` events are published with `cc_bus.publish_status` at a paced rate (default
500/s) for a few seconds, as executors do. Each event's `at` is set when it is published; the
receiver notes the wall clock when the event arrives; latency = arrival - `at` (one machine,
one clock). Baseline: a nats-py ordered consumer on the same subject, receiving the same events
at the same time: what JetStream delivery costs by itself, without the gateway and HTTP.

The two receivers run in their own processes, so neither competes with the publisher for the
interpreter lock.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as ProcessEvent
from typing import Any

import httpx
from cc_bus import publish_status
from cc_bus.permissions import OPERATOR
from commandcenter.sse import messages
from commandcenter_contracts import (
    BatchSelection,
    RunAccepted,
    RunSucceeded,
    TaskProgress,
    new_id,
    status_decoder,
    subjects,
)
from nats.js.api import DeliverPolicy

from bench.context import Context
from bench.report import Row
from bench.stats import Sample, percentile
from bench.system import BenchError, connect_nats, running_stack

BENCH = "3 status latency"
MAX_IN_FLIGHT = 64
Received = list[tuple[str, float]]
"""(event_id, arrival as a UNIX timestamp) of every `task.progress` event."""


@dataclass(frozen=True)
class Config:
    rate: float
    seconds: float
    repeat: int


def _now() -> float:
    return datetime.now(UTC).timestamp()


def sse_receiver(url: str, token: str, ready: ProcessEvent, out: Queue[Received | str]) -> None:
    """Follow the run's SSE stream until `run.succeeded`; report what arrived when."""
    received: Received = []
    try:
        with (
            httpx.Client(timeout=httpx.Timeout(10, read=60)) as client,
            client.stream(
                "GET",
                url,
                headers={"Accept": "text/event-stream", "Authorization": f"Bearer {token}"},
            ) as response,
        ):
            if response.status_code != 200:
                out.put(f"SSE: HTTP {response.status_code}")
                return
            for message in messages(response):
                arrived = _now()
                if message.event == "run.accepted":
                    ready.set()
                elif message.event == "task.progress":
                    received.append((json.loads(message.data)["event_id"], arrived))
                elif message.event == "run.succeeded":
                    break
    except Exception as exc:
        out.put(f"SSE: {type(exc).__name__}: {exc}")
        return
    out.put(received)


def jetstream_receiver(
    nats_url: str, subject: str, ready: ProcessEvent, out: Queue[Received | str]
) -> None:
    """The baseline: an ordered consumer on the run's subject, straight from JetStream."""

    async def follow() -> Received:
        received: Received = []
        nc = await connect_nats(nats_url, "bench-latency-baseline")
        try:
            sub = await nc.jetstream().subscribe(
                subject,
                stream=subjects.STREAM_STATUS,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.ALL,
            )
            while True:
                msg = await sub.next_msg(timeout=60)
                arrived = _now()
                event = status_decoder.decode(msg.data)
                if isinstance(event, RunAccepted):
                    ready.set()
                elif isinstance(event, TaskProgress):
                    received.append((event.event_id, arrived))
                elif isinstance(event, RunSucceeded):
                    return received
        finally:
            await nc.close()

    try:
        out.put(asyncio.run(follow()))
    except Exception as exc:
        out.put(f"JetStream: {type(exc).__name__}: {exc}")


async def publish_paced(
    nats_url: str, run_id: str, rate: float, seconds: float
) -> tuple[dict[str, float], float]:
    """Publish `rate x seconds` task.progress events on schedule; (event_id → `at`, rate
    achieved)."""
    sent: dict[str, float] = {}
    total = max(1, round(rate * seconds))
    task_id = str(uuid.uuid4())
    nc = await connect_nats(nats_url, "bench-latency-publisher")
    js = nc.jetstream()
    slots = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def one(i: int) -> None:
        async with slots:
            event = TaskProgress(run_id=run_id, task_id=task_id, step="bench", message=str(i))
            sent[event.event_id] = event.at.timestamp()
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


async def announce(nats_url: str, run_id: str) -> None:
    nc = await connect_nats(nats_url, "bench-latency-announce")
    try:
        await publish_status(
            nc.jetstream(),
            RunAccepted(
                run_id=run_id,
                mode="local",
                plan_path="/bench/latency.md",
                selection=BatchSelection(),
                repo="/bench/repo",
                agent="command",
            ),
        )
    finally:
        await nc.close()


def _latencies_ms(sent: dict[str, float], received: Received | str, who: str) -> list[float]:
    if isinstance(received, str):
        raise BenchError(f"the {who} receiver failed: {received}")
    latencies = [(arrived - sent[eid]) * 1000 for eid, arrived in received if eid in sent]
    if len(latencies) != len(sent):
        raise BenchError(f"the {who} receiver got {len(latencies)} of {len(sent)} events")
    return latencies


def measure_once(
    gateway_url: str, token: str, nats_url: str, rate: float, seconds: float
) -> dict[str, Any]:
    run_id = new_id()
    asyncio.run(announce(nats_url, run_id))
    ctx = multiprocessing.get_context("spawn")
    sse_ready, js_ready = ctx.Event(), ctx.Event()
    sse_out: Queue[Received | str] = ctx.Queue()
    js_out: Queue[Received | str] = ctx.Queue()
    url = f"{gateway_url}/api/v1/runs/{run_id}/events"
    receivers = [
        ctx.Process(target=sse_receiver, args=(url, token, sse_ready, sse_out), daemon=True),
        ctx.Process(
            target=jetstream_receiver,
            args=(nats_url, subjects.status_subject(run_id), js_ready, js_out),
            daemon=True,
        ),
    ]
    for proc in receivers:
        proc.start()
    try:
        deadline = time.monotonic() + 60
        while not (sse_ready.is_set() and js_ready.is_set()):
            if time.monotonic() > deadline or not all(p.is_alive() for p in receivers):
                raise BenchError("the latency receivers did not get the run's first event")
            time.sleep(0.05)
        sent, achieved = asyncio.run(publish_paced(nats_url, run_id, rate, seconds))
        sse = _latencies_ms(sent, sse_out.get(timeout=120), "SSE")
        raw = _latencies_ms(sent, js_out.get(timeout=120), "JetStream")
    finally:
        for proc in receivers:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    return {"sse": sse, "raw": raw, "rate": achieved}


def rows_from(results: list[dict[str, Any]], config: Config) -> list[Row]:
    stats = {
        (who, pct): Sample([percentile(r[who], pct) for r in results])
        for who in ("sse", "raw")
        for pct in (50, 99)
    }
    rate = Sample([r["rate"] for r in results])
    label = "JetStream ordered consumer"
    note = f"{config.rate:g} events/s for {config.seconds:g} s per repetition"

    def latency(pct: int, note: str = "") -> Row:
        return Row(
            BENCH,
            f"latency p{pct}, publish → SSE client",
            "ms",
            ours=stats[("sse", pct)],
            baseline=stats[("raw", pct)],
            baseline_label=label,
            decimals=2,
            note=note,
            chart_label=f"p{pct}",
        )

    return [
        latency(50, note),
        latency(99),
        Row(
            BENCH,
            "publish rate achieved",
            "events/s",
            ours=rate,
            decimals=0,
            note="cc_bus.publish_status, acked by JetStream (fsync always)",
            chart=False,
        ),
    ]


def run(config: Config, ctx: Context) -> list[Row]:
    root, problems, say = ctx.root, ctx.problems, ctx.say
    results = []
    with running_stack(root / "latency-stack", problems=problems) as stack:
        assert stack.nats is not None
        for k in range(config.repeat):
            ctx.settle()
            result = measure_once(
                stack.gateway_url,
                stack.admin_token(),
                stack.nats.url_as(OPERATOR),
                config.rate,
                config.seconds,
            )
            results.append(result)
            say(
                f"  repetition {k + 1}: SSE p50 {percentile(result['sse'], 50):.1f} ms, "
                f"p99 {percentile(result['sse'], 99):.1f} ms; JetStream p50 "
                f"{percentile(result['raw'], 50):.1f} ms, p99 {percentile(result['raw'], 99):.1f}"
                f" ms; {result['rate']:.0f} events/s"
            )
    return rows_from(results, config)
