"""`commandcenter replay`, `cancel` and `dead-letters` against a real gateway process (with a
real nats-server and PostgreSQL): what they send, what they print, how they fail."""

from __future__ import annotations

import uuid

import pytest
from cli_support import bus, halted_run, stored, wait
from commandcenter.main import main
from commandcenter.servers import NatsServer
from commandcenter_contracts import (
    DeadLetter,
    FailureCode,
    RunCancelled,
    TaskDispatched,
    replay_decoder,
    status_decoder,
    subjects,
)

pytestmark = pytest.mark.integration


def test_replay_a_task_and_the_failed_tasks_of_a_run(
    gateway: str, nats_server: NatsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id, tasks = halted_run(nats_server.url, gateway)
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
    assert f"commandcenter status {run_id[:8]} --follow" in out
    (raw,) = stored(nats_server.url, subjects.STREAM_PHASES, subjects.CONTROL_REPLAY)
    request = replay_decoder.decode(raw)
    assert (request.task_id, request.timeout_s) == (tasks[2], 120.0)
    assert request.verification == ["test -s a.txt", "test -s b.txt"]
    assert request.agent is None

    assert main(["replay", "--run", run_id, "--gateway", gateway, "--no-verify"]) == 0
    out = capsys.readouterr().out
    assert "1.2 requested: attempt 2" in out and "1.3 requested: attempt 2" in out
    requests = [
        replay_decoder.decode(r)
        for r in stored(nats_server.url, subjects.STREAM_PHASES, subjects.CONTROL_REPLAY)
    ]
    assert len(requests) == 3 and requests[-1].verification == []

    argv = ["replay", tasks[1], "--gateway", gateway, "--agent", "command", "--agent-argv"]
    assert main([*argv, "fixer", "--really"]) == 0
    last = replay_decoder.decode(
        stored(nats_server.url, subjects.STREAM_PHASES, subjects.CONTROL_REPLAY)[-1]
    )
    assert last.agent is not None and last.agent.argv == ["fixer", "--really"]


def test_status_shows_how_to_replay_a_failed_task(
    gateway: str, nats_server: NatsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id, tasks = halted_run(nats_server.url, gateway)
    assert main(["status", run_id, "--gateway", gateway]) == 0
    out = capsys.readouterr().out
    assert f"replay: commandcenter replay {tasks[2]}" in out
    assert tasks[0] not in out  # succeeded: nothing to replay


def test_replay_refusals_are_errors_with_the_gateways_reason(
    gateway: str, nats_server: NatsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id, tasks = halted_run(nats_server.url, gateway)
    assert main(["replay", tasks[0], "--gateway", gateway]) == 2
    assert "only a failed or cancelled task can be replayed" in capsys.readouterr().err
    missing = str(uuid.uuid4())
    assert main(["replay", missing, "--gateway", gateway]) == 2
    assert capsys.readouterr().err == f"commandcenter: task {missing} not found\n"
    assert main(["replay", "--gateway", gateway]) == 2
    assert main(["replay", tasks[1], "--run", run_id, "--gateway", gateway]) == 2
    assert main(["replay", tasks[1], "--verify", "x", "--no-verify", "--gateway", gateway]) == 2
    assert "exclude each other" in capsys.readouterr().err
    assert stored(nats_server.url, subjects.STREAM_PHASES, subjects.CONTROL_REPLAY) == []


def test_cancel_and_dead_letters(
    gateway: str, nats_server: NatsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id, _ = halted_run(nats_server.url, gateway)
    assert main(["cancel", run_id, "--reason", "not today", "--gateway", gateway]) == 0
    assert f"run {run_id} (halted): cancel requested" in capsys.readouterr().out
    events = [
        status_decoder.decode(d)
        for d in stored(nats_server.url, subjects.STREAM_STATUS, subjects.status_subject(run_id))
    ]
    (cancelled,) = [e for e in events if isinstance(e, RunCancelled)]
    assert cancelled.reason == "not today"
    wait(gateway, f"/api/v1/runs/{run_id}", lambda v: v["status"] == "cancelled", "the cancel")
    assert main(["cancel", run_id, "--gateway", gateway]) == 2
    assert "there is nothing to cancel" in capsys.readouterr().err

    task = TaskDispatched(
        run_id=run_id,
        task_id=str(uuid.uuid4()),
        plan_task_id="1.9",
        batch_index=0,
        title="t",
        branch="cc/x/9",
        repo="/r",
    )
    bus(
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
    wait(gateway, "/api/v1/dead-letters", lambda b: b["count"] == 2, "two dead letters")
    assert main(["dead-letters", "--run", run_id, "--gateway", gateway]) == 0
    out = capsys.readouterr().out
    assert f"INFRA        {subjects.TASK_DISPATCH_LOCAL}  task 1.9 attempt 1 of run {run_id}" in out
    assert "gave up after 5 deliveries (delivered 5x)" in out
    assert "garbage" not in out
    assert main(["dead-letters", "--json", "--gateway", gateway]) == 0
    assert '"error_code": "BAD_MESSAGE"' in capsys.readouterr().out
