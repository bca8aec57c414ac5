"""`commandcenter replay`, `cancel` and `dead-letters` against a real gateway process (with a
real nats-server and PostgreSQL): what they send, what they print, how they fail."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cc_bus
import httpx
import pytest
from commandcenter.main import main
from commandcenter.servers import NatsServer, free_port
from commandcenter_contracts import (
    BatchSelection,
    DeadLetter,
    FailureCode,
    PlannedBatch,
    PlannedTask,
    RunAccepted,
    RunCancelled,
    RunHalted,
    RunPlanned,
    StatusEvent,
    TaskDispatched,
    TaskFailed,
    TaskSucceeded,
    replay_decoder,
    status_decoder,
    subjects,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def gateway(nats_server: NatsServer, database_url: str, tmp_path: Path) -> Iterator[str]:
    """`python -m gateway` as the stack runs it; yields its URL."""
    port = free_port()
    env = {
        **os.environ,
        "CC_NATS_URL": nats_server.url,
        "CC_DATABASE_URL": database_url,
        "CC_GATEWAY_PORT": str(port),
        "CC_PLAN_ROOT": str(tmp_path),
        "CC_LOG_FORMAT": "json",
    }
    log_path = tmp_path / "gateway.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _bus(nats_url: str, *messages: StatusEvent | DeadLetter) -> None:
    async def go() -> None:
        nc = await cc_bus.connect(nats_url, name="cli-tests")
        try:
            js = nc.jetstream()
            for message in messages:
                if isinstance(message, DeadLetter):
                    await cc_bus.publish_dead_letter(js, message)
                else:
                    await cc_bus.publish_status(js, message)
        finally:
            await nc.close()

    asyncio.run(go())


def _stored(nats_url: str, stream: str, subject: str) -> list[bytes]:
    async def go() -> list[bytes]:
        nc = await cc_bus.connect(nats_url, name="cli-tests")
        try:
            js = nc.jetstream()
            info = await js.stream_info(stream)
            found = []
            for seq in range(max(1, info.state.first_seq), info.state.last_seq + 1):
                msg = await js.get_msg(stream, seq)
                if msg.subject == subject:
                    found.append(msg.data or b"")
            return found
        finally:
            await nc.close()

    return asyncio.run(go())


def _wait(url: str, path: str, check: Any, what: str) -> Any:
    deadline = time.monotonic() + 30
    while True:
        body = httpx.get(f"{url}{path}", timeout=10).json()
        if check(body):
            return body
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {body}"
        time.sleep(0.1)


def _halted_run(nats_url: str, url: str) -> tuple[str, list[str]]:
    """A halted run with one succeeded and two failed tasks in its only batch."""
    run_id = str(uuid.uuid4())
    tasks = [str(uuid.uuid4()) for _ in range(3)]
    _bus(
        nats_url,
        RunAccepted(
            run_id=run_id,
            mode="local",
            plan_path="/p.md",
            selection=BatchSelection(),
            repo="/r",
        ),
        RunPlanned(
            run_id=run_id,
            batches=[
                PlannedBatch(
                    index=0,
                    phase=None,
                    number="1",
                    title="One",
                    tasks=[
                        PlannedTask(
                            task_id=t, plan_task_id=f"1.{i + 1}", title=f"T{i}", branch=f"cc/x/{i}"
                        )
                        for i, t in enumerate(tasks)
                    ],
                )
            ],
        ),
        TaskSucceeded(run_id=run_id, task_id=tasks[0], branch="cc/x/0", commit="a" * 40),
        TaskFailed(run_id=run_id, task_id=tasks[1], error_code=FailureCode.NO_CHANGES),
        TaskFailed(run_id=run_id, task_id=tasks[2], error_code=FailureCode.VERIFICATION_FAILED),
        RunHalted(run_id=run_id, batch_index=0),
    )
    _wait(url, f"/api/v1/runs/{run_id}", lambda v: v.get("status") == "halted", "the halt")
    return run_id, tasks


def test_replay_a_task_and_the_failed_tasks_of_a_run(
    gateway: str, nats_server: NatsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id, tasks = _halted_run(nats_server.url, gateway)
    argv = [
        "replay",
        tasks[2],
        "--gateway",
        gateway,
        "--timeout",
        "120",
        "--verify",
        "test -s a.txt",
        "--verify",
        "test -s b.txt",
        "--idempotency-key",
        "k-1",
    ]
    assert main(argv) == 0
    assert main(argv) == 0  # the same key: replayed once
    out = capsys.readouterr().out
    assert out.count("replay of 1.3 requested: attempt 2") == 2
    assert f"commandcenter status {run_id}" in out
    (raw,) = _stored(nats_server.url, subjects.STREAM_PHASES, subjects.CONTROL_REPLAY)
    request = replay_decoder.decode(raw)
    assert (request.task_id, request.timeout_s) == (tasks[2], 120.0)
    assert request.verification == ["test -s a.txt", "test -s b.txt"]
    assert request.agent is None

    assert main(["replay", "--run", run_id, "--gateway", gateway, "--no-verify"]) == 0
    out = capsys.readouterr().out
    assert "1.2 requested: attempt 2" in out and "1.3 requested: attempt 2" in out
    requests = [
        replay_decoder.decode(r)
        for r in _stored(nats_server.url, subjects.STREAM_PHASES, subjects.CONTROL_REPLAY)
    ]
    assert len(requests) == 3 and requests[-1].verification == []

    argv = ["replay", tasks[1], "--gateway", gateway, "--agent", "command", "--agent-argv"]
    assert main([*argv, "fixer", "--really"]) == 0
    last = replay_decoder.decode(
        _stored(nats_server.url, subjects.STREAM_PHASES, subjects.CONTROL_REPLAY)[-1]
    )
    assert last.agent is not None and last.agent.argv == ["fixer", "--really"]


def test_status_shows_how_to_replay_a_failed_task(
    gateway: str, nats_server: NatsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id, tasks = _halted_run(nats_server.url, gateway)
    assert main(["status", run_id, "--gateway", gateway]) == 0
    out = capsys.readouterr().out
    assert f"replay: commandcenter replay {tasks[2]}" in out
    assert tasks[0] not in out  # succeeded: nothing to replay


def test_replay_refusals_are_errors_with_the_gateways_reason(
    gateway: str, nats_server: NatsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id, tasks = _halted_run(nats_server.url, gateway)
    assert main(["replay", tasks[0], "--gateway", gateway]) == 2
    assert "409" in capsys.readouterr().err
    assert main(["replay", str(uuid.uuid4()), "--gateway", gateway]) == 2
    assert "404" in capsys.readouterr().err
    assert main(["replay", "--gateway", gateway]) == 2
    assert main(["replay", tasks[1], "--run", run_id, "--gateway", gateway]) == 2
    assert main(["replay", tasks[1], "--verify", "x", "--no-verify", "--gateway", gateway]) == 2
    assert "exclude each other" in capsys.readouterr().err
    assert _stored(nats_server.url, subjects.STREAM_PHASES, subjects.CONTROL_REPLAY) == []


def test_cancel_and_dead_letters(
    gateway: str, nats_server: NatsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id, _ = _halted_run(nats_server.url, gateway)
    assert main(["cancel", run_id, "--reason", "not today", "--gateway", gateway]) == 0
    assert f"run {run_id} (halted): cancel requested" in capsys.readouterr().out
    events = [
        status_decoder.decode(d)
        for d in _stored(nats_server.url, subjects.STREAM_STATUS, subjects.status_subject(run_id))
    ]
    (cancelled,) = [e for e in events if isinstance(e, RunCancelled)]
    assert cancelled.reason == "not today"
    _wait(gateway, f"/api/v1/runs/{run_id}", lambda v: v["status"] == "cancelled", "the cancel")
    assert main(["cancel", run_id, "--gateway", gateway]) == 2
    assert "409" in capsys.readouterr().err

    task = TaskDispatched(
        run_id=run_id,
        task_id=str(uuid.uuid4()),
        plan_task_id="1.9",
        batch_index=0,
        title="t",
        branch="cc/x/9",
        repo="/r",
    )
    _bus(
        nats_server.url,
        DeadLetter(
            subject=subjects.TASK_DISPATCH_LOCAL,
            error_code=FailureCode.INFRA,
            error="gave up after 5 deliveries",
            task=task,
            num_delivered=5,
        ),
        DeadLetter(subject="cc.status.x", error_code=FailureCode.BAD_MESSAGE, error="garbage"),
    )
    _wait(gateway, "/api/v1/dead-letters", lambda b: b["count"] == 2, "two dead letters")
    assert main(["dead-letters", "--run", run_id, "--gateway", gateway]) == 0
    out = capsys.readouterr().out
    assert f"INFRA        {subjects.TASK_DISPATCH_LOCAL}  task 1.9 attempt 1 of run {run_id}" in out
    assert "gave up after 5 deliveries (delivered 5x)" in out
    assert "garbage" not in out
    assert main(["dead-letters", "--json", "--gateway", gateway]) == 0
    assert '"error_code": "BAD_MESSAGE"' in capsys.readouterr().out
