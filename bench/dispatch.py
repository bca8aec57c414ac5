"""Benchmark 2: dispatch throughput, the planner against raw JetStream publishing.

Ours: `python -m planner` (the real service) against a fresh nats-server; the clock starts
when the `PhaseStartRequested` of an N-task plan is published and stops when N task messages
are in CC_TASKS (polled every 10 ms). That covers decoding the request, selecting the batch,
naming every task and branch, storing the run in the KV bucket, and publishing `run.planned`,
`run.started`, `batch.started`, N x `task.queued` and N x `TaskDispatched`.

Baseline: nats-py publishing the very same N encoded `TaskDispatched` messages (built by the
planner's own pure `plan_run`) with the same `Nats-Msg-Id`s into the same stream config
(`cc_bus.ensure_streams`), one awaited publish after the other like the planner does; and,
for the headroom, pipelined (`publish_async`, acks awaited at the end). The raw baseline runs
against a server with and without `sync_interval: always`, which shows what the fsync costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cc_bus import (
    MSG_ID_HEADER,
    ensure_streams,
    publish,
    publish_dead_letter,
    publish_status,
    publish_task,
)
from cc_planfile import parse_plan
from commandcenter.servers import NatsCluster, NatsServer
from commandcenter_contracts import (
    AgentSpec,
    BatchSelection,
    DeadLetter,
    PhaseStartRequested,
    TaskDispatched,
    encode,
    new_id,
    subjects,
)
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from planner.domain.planning import Outgoing, plan_run
from planner.service import Planner
from planner.store import ProgressStore
from planner.task_queue import JetStreamTaskQueue

from bench.context import Context
from bench.report import Row
from bench.stats import Sample
from bench.system import BenchError, connect_nats, stop_process
from bench.workload import plan_markdown, write_file_agent

BENCH = "2 dispatch"
POLL_S = 0.01


@dataclass(frozen=True)
class Config:
    tasks: int
    repeat: int


def phase_start(tasks: int) -> PhaseStartRequested:
    """What the gateway would send for an N-task plan (parsed by the same parser)."""
    plan = parse_plan(plan_markdown(tasks), source="bench-plan.md")
    run_id = new_id()
    return PhaseStartRequested(
        event_id=new_id(),
        run_id=run_id,
        plan_path="/bench/plan.md",
        plan=plan,
        selection=BatchSelection(start_batch="1", end_batch="1"),
        mode="local",
        repo="/bench/repo",
        agent=AgentSpec(name="command", argv=write_file_agent()),
    )


async def _tasks_in_stream(js: JetStreamContext) -> int:
    try:
        info = await js.stream_info(subjects.STREAM_TASKS)
    except NotFoundError:
        return 0
    return int(info.state.messages)


async def _wait_for(condition: Any, limit_s: float, what: str) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        # A JetStream API request may go unanswered while a cluster places or elects.
        with contextlib.suppress(TimeoutError):
            if await condition():
                return
        await asyncio.sleep(POLL_S)
    raise BenchError(f"timed out waiting for {what}")


def start_planner(
    server: NatsServer | NatsCluster, logs: Path, *, replicas: int = 1
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CC_NATS_URL": server.url,
        "CC_STREAM_REPLICAS": str(replicas),
        "CC_LOG_FORMAT": "json",
    }
    with (logs / "planner.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "planner"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


async def planner_seconds(
    server: NatsServer | NatsCluster, proc: subprocess.Popen[bytes], tasks: int, logs: Path
) -> tuple[float, float]:
    """Hand the running planner an N-task run, time until N dispatches are stored; then time
    until its status consumer has worked through the run's events as well."""
    nc = await connect_nats(server.url, "bench-dispatch")
    try:
        js = nc.jetstream()

        async def planner_is_pulling() -> bool:
            if proc.poll() is not None:
                raise BenchError(f"the planner exited with {proc.returncode}; see {logs}")
            try:
                info = await js.consumer_info(subjects.STREAM_PHASES, subjects.CONSUMER_PLANNER)
            except NotFoundError:
                return False
            return (info.num_waiting or 0) > 0

        async def all_dispatched() -> bool:
            return await _tasks_in_stream(js) >= tasks

        async def status_consumer_idle() -> bool:
            info = await js.consumer_info(
                subjects.STREAM_STATUS, subjects.CONSUMER_PLANNER_PROGRESS
            )
            return not info.num_pending and not info.num_ack_pending

        await _wait_for(planner_is_pulling, 60, "the planner to pull from cc.phase.start")
        request = phase_start(tasks)
        started = time.perf_counter()
        await publish(js, subjects.PHASE_START, request, msg_id=request.run_id, timeout=30)
        await _wait_for(all_dispatched, 300, f"{tasks} dispatches in {subjects.STREAM_TASKS}")
        dispatched = time.perf_counter()
        await _wait_for(status_consumer_idle, 600, "the planner's status consumer to catch up")
        return dispatched - started, time.perf_counter() - dispatched
    finally:
        await nc.close()


async def start_run_seconds(server: NatsServer, tasks: int) -> float:
    """The planner's own `Planner.start_run` in this process, on the real KV store and
    publishing like the service does, but without the service's status consumer beside it."""
    nc = await connect_nats(server.url, "bench-start-run")
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        store = await ProgressStore.open(js, subjects.KV_PLANNER_RUNS)

        async def publish_one(message: Outgoing) -> None:
            if isinstance(message, TaskDispatched):
                await publish_task(js, message)
            else:
                await publish_status(js, message)

        async def dead_letter(letter: DeadLetter) -> None:
            await publish_dead_letter(js, letter)

        # Wired as `planner.app.create_app` wires it (that wiring is not importable alone).
        planner = Planner(
            store=store,
            publish=publish_one,
            default_timeout_s=1800.0,
            queue=JetStreamTaskQueue(js),
            publish_dead_letter=dead_letter,
        )
        request = phase_start(tasks)
        started = time.perf_counter()
        await planner.start_run(request)
        elapsed = time.perf_counter() - started
        if await _tasks_in_stream(js) != tasks:
            raise BenchError("start_run did not dispatch every task")
        return elapsed
    finally:
        await nc.close()


def dispatch_messages(tasks: int) -> list[tuple[str, bytes, str]]:
    """(subject, encoded TaskDispatched, Nats-Msg-Id) of an N-task run, as the planner makes
    them."""
    planned = plan_run(phase_start(tasks), default_timeout_s=1800.0)
    return [
        (subjects.task_dispatch_subject(t.mode), encode(t), t.msg_id)
        for batch in planned.tasks.batches
        for t in batch
    ]


async def raw_seconds(
    server: NatsServer | NatsCluster, tasks: int, *, pipelined: bool, replicas: int = 1
) -> float:
    messages = dispatch_messages(tasks)
    nc = await connect_nats(server.url, "bench-raw")
    try:
        js = nc.jetstream(timeout=30)  # a fresh cluster may take seconds to place a stream
        await ensure_streams(js, replicas=replicas)
        started = time.perf_counter()
        if pipelined:
            futures = [
                await js.publish_async(subject, data, headers={MSG_ID_HEADER: msg_id})
                for subject, data, msg_id in messages
            ]
            acks = await asyncio.gather(*futures)
        else:
            acks = [
                await js.publish(subject, data, timeout=10, headers={MSG_ID_HEADER: msg_id})
                for subject, data, msg_id in messages
            ]
        elapsed = time.perf_counter() - started
        if any(ack.duplicate for ack in acks) or await _tasks_in_stream(js) != tasks:
            raise BenchError("the raw baseline did not store every message exactly once")
        return elapsed
    finally:
        await nc.close()


def _measure(root: Path, what: str, sync_always: bool, tasks: int) -> tuple[float, float]:
    """(seconds to dispatch, seconds the planner's status consumer needed after that), on a
    fresh nats-server."""
    server = NatsServer(root / "nats", sync_always=sync_always).start()
    try:
        if what == "planner":
            proc = start_planner(server, root)
            try:
                return asyncio.run(planner_seconds(server, proc, tasks, root))
            finally:
                stop_process(proc, grace_s=15)
        if what == "start_run":
            return asyncio.run(start_run_seconds(server, tasks)), 0.0
        return asyncio.run(raw_seconds(server, tasks, pipelined=what == "pipelined")), 0.0
    finally:
        server.stop()


VARIANTS = [
    (what, sync)
    for sync in (True, False)
    for what in ("planner", "start_run", "sequential", "pipelined")
]


def run(config: Config, ctx: Context) -> list[Row]:
    root, say = ctx.root, ctx.say
    rates: dict[tuple[str, bool], Sample] = {v: Sample() for v in VARIANTS}
    catch_up = Sample()
    for k in range(config.repeat):
        for what, sync in VARIANTS:
            workdir = root / f"dispatch-{k + 1}-{what}-{'sync' if sync else 'nosync'}"
            workdir.mkdir(parents=True)
            ctx.settle()
            seconds, after = _measure(workdir, what, sync, config.tasks)
            log = workdir / "planner.log"
            if log.exists() and "Traceback" in (text := log.read_text(errors="replace")):
                where = text.index("Traceback")
                ctx.problems.append(f"planner.log ({workdir.name}): {text[where : where + 1500]}")
            rates[(what, sync)].add(config.tasks / seconds)
            if what == "planner" and sync:
                catch_up.add(after)
        say(
            f"  repetition {k + 1}: "
            + ", ".join(
                f"{what}{'' if sync else ' (no fsync)'} {rates[(what, sync)].values[-1]:,.0f}/s"
                for what, sync in VARIANTS
            )
        )
    n = f"{config.tasks:,} tasks"

    def against_raw(measure: str, what: str, sync: bool, **labels: Any) -> Row:
        """Our dispatch rate beside raw nats-py's one-at-a-time publishing, same fsync."""
        return Row(
            BENCH,
            measure,
            "tasks/s",
            ours=rates[(what, sync)],
            baseline=rates[("sequential", sync)],
            baseline_label="raw nats-py, one publish at a time",
            decimals=0,
            **labels,
        )

    def fsync_cost(measure: str, what: str, **labels: Any) -> Row:
        """A raw publishing rate with sync_interval: always beside the same without."""
        return Row(
            BENCH,
            measure,
            "tasks/s",
            ours_label="fsync always",
            ours=rates[(what, True)],
            baseline=rates[(what, False)],
            baseline_label="fsync every 2 min",
            decimals=0,
            chart=False,
            **labels,
        )

    return [
        against_raw(
            f"dispatch throughput, {n}, sync_interval: always (the stack's default)",
            "planner",
            True,
            note="ours also stores the run and publishes a task.queued per task",
            chart_label="fsync always",
            goal="P2",
        ),
        against_raw(
            f"dispatch throughput, {n}, JetStream's default fsync (every 2 min)",
            "planner",
            False,
            chart_label="fsync every 2 min",
        ),
        against_raw(
            "where the planner's time goes: `Planner.start_run` alone, fsync always",
            "start_run",
            True,
            ours_label="start_run in-process",
            note="same code, same KV store, no status consumer competing in the process",
            chart=False,
        ),
        Row(
            BENCH,
            "then: the planner's status consumer still working through the run's events",
            "s",
            ours=catch_up,
            note="after the last dispatch, fsync always; a task outcome waits behind these",
            chart=False,
        ),
        fsync_cost(
            "headroom: raw pipelined publishing (acks awaited at the end)",
            "pipelined",
            note="left: with sync_interval: always; right: without",
        ),
        fsync_cost("cost of sync_interval: always, raw one-at-a-time publishing", "sequential"),
    ]
