"""`python -m planner` killed with SIGKILL mid-run and started again: the run goes on from
its stored progress and nothing is dispatched twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cc_bus import planner_progress_consumer
from commandcenter.servers import NatsServer
from commandcenter_contracts import BatchCompleted, BatchStarted, subjects
from nats.js import JetStreamContext
from planner_support import StatusLog, TestExecutor, make_plan, make_request, start_run, until_idle

from tests.support.polling import eventually

pytestmark = pytest.mark.integration


class PlannerProcess:
    """The planner as the stack runs it: its own process, configured by environment."""

    def __init__(self, nats_url: str, log_path: Path) -> None:
        self.nats_url = nats_url
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "CC_NATS_URL": self.nats_url,
            "CC_LOG_FORMAT": "json",
            "CC_PLANNER_RETRY_DELAY_S": "0.2",
        }
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "planner"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


@pytest.fixture
def planner_process(nats_server: NatsServer, tmp_path: Path) -> Iterator[PlannerProcess]:
    proc = PlannerProcess(nats_server.url, tmp_path / "planner.log")
    yield proc
    proc.stop()
    print((tmp_path / "planner.log").read_text(errors="replace")[-4000:])


async def _listening(js: JetStreamContext) -> bool:
    """Both planner durables have a pull request waiting: the planner is consuming."""
    for stream, durable in (
        (subjects.STREAM_PHASES, subjects.CONSUMER_PLANNER),
        (subjects.STREAM_STATUS, subjects.CONSUMER_PLANNER_PROGRESS),
    ):
        try:
            info = await js.consumer_info(stream, durable)
        except Exception:
            return False
        if not info.num_waiting:
            return False
    return True


async def test_a_killed_planner_resumes_the_run_without_dispatching_twice(
    planner_process: PlannerProcess,
    js: JetStreamContext,
    executor: TestExecutor,
    status_log: StatusLog,
) -> None:
    planner_process.start()
    await eventually(lambda: _listening(js), what="the planner consuming")
    run = await start_run(js, make_request(make_plan(2, 2)))

    # batch 0, task 1: done while the planner runs, and applied by it
    first, raw = await executor.take()
    await executor.report_started(first)
    await executor.succeed(first, raw)
    await until_idle(js, planner_progress_consumer(), what="the planner applied the first outcome")

    # kill -9 between batch 0's outcomes; the second one arrives while no planner runs
    planner_process.kill()
    second, raw = await executor.take()
    await executor.succeed(second, raw)
    assert not status_log.of(run, "batch.completed")

    planner_process.start()
    await status_log.wait_for(run, "batch.started", count=2)

    # batch 1: both outcomes published, then SIGKILL at once, maybe in the middle of the
    # handling of the last one (publishing done, progress not stored, message not acked)
    for _ in range(2):
        task, raw = await executor.take()
        await executor.succeed(task, raw)
    planner_process.kill()
    planner_process.start()
    await status_log.wait_for(run, "run.succeeded", within=120)
    await until_idle(js, planner_progress_consumer(), within_s=90, what="the planner caught up")

    # every task dispatched exactly once: CC_TASKS stored 4 messages in all, 4 distinct ones
    assert await executor.nothing_more(wait=1.0)
    dispatched = [(t.task_id, t.attempt) for t in executor.received]
    assert len(dispatched) == 4 and len(set(dispatched)) == 4
    assert [t.batch_index for t in executor.received] == [0, 0, 1, 1]
    info = await js.stream_info(subjects.STREAM_TASKS)
    assert info.state.last_seq == 4 and info.state.messages == 0

    events = status_log.of(run)
    types = [str(e.__struct_config__.tag) for e in events]
    completed_0 = [
        i for i, e in enumerate(events) if isinstance(e, BatchCompleted) and e.batch_index == 0
    ]
    started_1 = [
        i for i, e in enumerate(events) if isinstance(e, BatchStarted) and e.batch_index == 1
    ]
    assert len(completed_0) == 1 and len(started_1) == 1
    assert completed_0[0] < started_1[0]
    assert types.count("run.succeeded") == 1
    assert types.count("task.queued") == 4
    assert types[-1] == "run.succeeded"
    assert len({e.event_id for e in events}) == len(events)


async def test_sigterm_stops_the_planner_cleanly(
    planner_process: PlannerProcess, js: JetStreamContext
) -> None:
    planner_process.start()
    await eventually(lambda: _listening(js), what="the planner consuming")
    assert planner_process.stop() == 0
