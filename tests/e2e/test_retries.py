"""Retries on the whole stack: gateway → planner → local executors → git.

A task whose agent runs past the run's timeout on its first attempt is retried by the executor
(the same task message, delivered again as attempt 2); the run succeeds without a halt, and
the read model shows the task at attempt 2. Then late events of attempt 1 — progress and a
final failure, as a slow or partitioned executor would send them — change nothing: neither
the read model (gateway) nor the run's progress (planner, which would halt the run).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest
from cc_bus import connect, publish_status
from cc_bus.permissions import OPERATOR
from commandcenter.gitfixtures import git
from commandcenter.stack import Stack
from commandcenter_contracts import FailureCode, TaskFailed, TaskProgress, subjects
from nats.js import JetStreamContext

from tests.e2e.helpers import (
    api_client,
    create_task,
    plan_text,
    read_events,
    sandbox_with_plan,
    start_run,
    tasks_of,
    wait_for_run,
)

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

# Task 1.1's first attempt sleeps past the timeout; every other attempt writes its file.
AGENT = """
import json, os, pathlib, time
task = json.loads(pathlib.Path(os.environ["CC_TASK_FILE"]).read_text())
print("attempt", task["attempt"], flush=True)
if task["plan_task_id"] == "1.1" and task["attempt"] == 1:
    time.sleep(120)
pathlib.Path("out-%s.txt" % task["plan_task_id"]).write_text("attempt %d\\n" % task["attempt"])
"""


async def _run_messages(js: JetStreamContext, run_id: str) -> int:
    subject = subjects.status_subject(run_id)
    info = await js.stream_info(subjects.STREAM_STATUS, subjects_filter=subject)
    return int((info.state.subjects or {}).get(subject, 0))


async def _consumed(js: JetStreamContext, durable: str, seq: int, *, within_s: float) -> None:
    """Until `durable` has acked everything up to stream sequence `seq`."""
    deadline = time.monotonic() + within_s
    while True:
        info = await js.consumer_info(subjects.STREAM_STATUS, durable)
        if info.ack_floor.stream_seq >= seq and not info.num_ack_pending:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{durable} has not consumed #{seq} after {within_s}s: {info}")
        await asyncio.sleep(0.1)


async def _send_late_events(nats_url: str, run_id: str, task_id: str) -> tuple[int, int]:
    """Attempt 1's progress and final failure, published now; (run messages before, after
    the planner and the projector have consumed them)."""
    nc = await connect(nats_url, name="e2e-late-events")
    try:
        js = nc.jetstream()
        before = await _run_messages(js, run_id)
        await publish_status(
            js, TaskProgress(run_id=run_id, task_id=task_id, attempt=1, step="agent_finished")
        )
        ack = await publish_status(
            js,
            TaskFailed(
                run_id=run_id,
                task_id=task_id,
                attempt=1,
                error_code=FailureCode.TIMEOUT,
                recoverable=True,
                message="a late word from attempt 1",
            ),
        )
        for durable in (subjects.CONSUMER_PLANNER_PROGRESS, subjects.CONSUMER_PROJECTOR):
            await _consumed(js, durable, ack.seq, within_s=60)
        return before, await _run_messages(js, run_id)
    finally:
        await nc.close()


def test_a_task_that_times_out_once_succeeds_on_attempt_2_and_late_words_change_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    assert stack.nats is not None
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT)
    text = plan_text(
        [create_task("1.1", "out-1.1.txt", "-", verify="test -s out-1.1.txt")],
        [create_task("2.1", "out-2.1.txt", "-", verify="test -s out-2.1.txt")],
    )
    sandbox, plan = sandbox_with_plan(tmp_path / "git", text)

    with api_client(stack) as client:
        run_id = start_run(
            client,
            plan,
            start_batch="1",
            end_batch="2",
            agent="command",
            agent_argv=[sys.executable, str(agent)],
            timeout_s=3,
        )
        done = wait_for_run(client, run_id, timeout=180)
        events = read_events(client, run_id)

        assert done["status"] == "succeeded", done
        first, second = tasks_of(done)["1.1"], tasks_of(done)["2.1"]
        assert (first["status"], first["attempt"], first["error_code"]) == ("succeeded", 2, None)
        assert (second["status"], second["attempt"]) == ("succeeded", 1)
        mine = [e.data for e in events if e.data.get("task_id") == first["task_id"]]
        assert [e["attempt"] for e in mine if e["type"] == "task.queued"] == [1]  # one dispatch
        assert [e["attempt"] for e in mine if e["type"] == "task.started"] == [1, 2]
        assert [
            (e["attempt"], e["error_code"], e["will_retry"])
            for e in mine
            if e["type"] == "task.failed"
        ] == [(1, "TIMEOUT", True)]
        assert [e["attempt"] for e in mine if e["type"] == "task.succeeded"] == [2]
        assert "run.halted" not in [e.type for e in events]

        before, after = asyncio.run(
            _send_late_events(stack.nats.url_as(OPERATOR), run_id, first["task_id"])
        )
        assert after == before + 2  # the planner answered the late failure with nothing
        view = client.get(f"/api/v1/runs/{run_id}").json()
        assert view["status"] == "succeeded", view
        late = tasks_of(view)["1.1"]
        assert (late["status"], late["attempt"], late["error_code"]) == ("succeeded", 2, None)

    # Attempt 2's commit (its branch left the remote when it was integrated)
    (landed,) = [e["commit"] for e in mine if e["type"] == "task.succeeded"]
    assert sandbox.file_at(landed, "out-1.1.txt") == "attempt 2\n"
    base = git(sandbox.remote, "rev-parse", "main").strip()
    assert len(sandbox.commits_between(base, landed)) == 1
    assert first["branch"] not in sandbox.remote_branches()
