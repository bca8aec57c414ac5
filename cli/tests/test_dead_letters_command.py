"""`commandcenter dead-letters` against a real gateway: resolved letters (their task succeeded
since) only with `--all`, and `--json` short unless `--full`."""

from __future__ import annotations

import json

import pytest
from cli_support import bus, halted_run, wait
from commandcenter.main import main
from commandcenter.servers import NatsServer
from commandcenter_contracts import (
    DeadLetter,
    FailureCode,
    TaskDispatched,
    TaskQueued,
    TaskSucceeded,
    subjects,
)

pytestmark = pytest.mark.integration


def letter(run_id: str, task_id: str, plan_task_id: str) -> DeadLetter:
    task = TaskDispatched(
        run_id=run_id,
        task_id=task_id,
        plan_task_id=plan_task_id,
        batch_index=0,
        title="t",
        body="a long task body " * 50,
        branch=f"cc/x/{plan_task_id}",
        repo="/r",
    )
    return DeadLetter(
        subject=subjects.TASK_DISPATCH_LOCAL,
        error_code=FailureCode.VERIFICATION_FAILED,
        error="`test -s out.txt` exited 1",
        task=task,
        num_delivered=1,
    )


def test_resolved_letters_are_hidden_and_json_is_short(
    gateway: str, nats_server: NatsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id, tasks = halted_run(nats_server.url, gateway)
    fixed, failed = tasks[1], tasks[2]
    bus(nats_server.url, letter(run_id, fixed, "1.2"), letter(run_id, failed, "1.3"))
    # 1.2 is replayed and succeeds: its letter is resolved.
    bus(
        nats_server.url,
        TaskQueued(
            run_id=run_id,
            task_id=fixed,
            attempt=2,
            batch_index=0,
            plan_task_id="1.2",
            branch="cc/x/1",
        ),
        TaskSucceeded(run_id=run_id, task_id=fixed, attempt=2, branch="cc/x/1", commit="b" * 40),
    )
    wait(
        gateway,
        f"/api/v1/dead-letters?run_id={run_id}&include_resolved=true",
        lambda b: [i["resolved"] for i in b["items"]] == [False, True],
        "the resolved letter",
    )
    base = ["dead-letters", "--run", run_id, "--gateway", gateway]

    assert main(base) == 0
    out = capsys.readouterr().out
    assert "task 1.3 attempt 1" in out and "task 1.2" not in out
    assert main([*base, "--all"]) == 0
    out = capsys.readouterr().out
    assert "task 1.3 attempt 1" in out
    assert "task 1.2 attempt 1" in out and "[resolved: the task has succeeded since]" in out

    assert main([*base, "--json"]) == 0
    (short,) = json.loads(capsys.readouterr().out)
    assert short == {
        "id": short["id"],
        "at": short["at"],
        "run_id": run_id,
        "task_id": failed,
        "plan_task_id": "1.3",
        "attempt": 1,
        "error_code": "VERIFICATION_FAILED",
        "error": "`test -s out.txt` exited 1",
        "num_delivered": 1,
        "resolved": False,
    }
    assert main([*base, "--json", "--all", "--full"]) == 0
    full = json.loads(capsys.readouterr().out)
    assert [i["task"]["plan_task_id"] for i in full] == ["1.3", "1.2"]
    assert full[0]["task"]["body"].startswith("a long task body")
    assert [i["resolved"] for i in full] == [False, True]
