"""A dead letter whose task has succeeded since (a replay) is resolved: hidden from
`GET /api/v1/dead-letters` unless `?include_resolved=true`, and marked when shown."""

from __future__ import annotations

from typing import Any

import cc_bus
import pytest
from commandcenter_contracts import DeadLetter, FailureCode, TaskDispatched, TaskFailed, subjects
from gateway_support import Client, Run, publish_all, wait_task
from nats.js import JetStreamContext

from tests.support.polling import eventually

pytestmark = pytest.mark.integration


def letter(run: Run, b: int, p: int) -> DeadLetter:
    task = TaskDispatched(
        run_id=run.id,
        task_id=run.tasks[b][p],
        plan_task_id=f"{b + 1}.{p + 1}",
        batch_index=b,
        title=f"Task {b + 1}.{p + 1}",
        branch=run.branch(b, p),
        repo="/repo",
    )
    return DeadLetter(
        subject=subjects.TASK_DISPATCH_LOCAL,
        error_code=FailureCode.VERIFICATION_FAILED,
        error="`test -s out.txt` exited 1",
        task=task,
        num_delivered=1,
    )


async def letters(client: Client, query: str) -> list[dict[str, Any]]:
    r = await client.get(f"/api/v1/dead-letters{query}")
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_a_letter_whose_task_a_replay_fixed_is_resolved_and_hidden(
    client: Client, js: JetStreamContext
) -> None:
    run = Run()
    fixed, still_failed = run.tasks[0]
    failures = [
        TaskFailed(
            run_id=run.id, task_id=task_id, error_code=FailureCode.VERIFICATION_FAILED, message="x"
        )
        for task_id in (fixed, still_failed)
    ]
    await publish_all(js, [*run.opened(), *failures])
    for p in (0, 1):
        await cc_bus.publish_dead_letter(js, letter(run, 0, p))
    await wait_task(client, run.id, fixed, "the failure", status="failed")

    async def both() -> list[dict[str, Any]] | None:
        items = await letters(client, f"?run_id={run.id}")
        return items if len(items) == 2 else None

    before = await eventually(both, what="two unresolved letters")
    assert [i["resolved"] for i in before] == [False, False]

    # A person replays the task (the gateway's own endpoint), and the new attempt succeeds.
    r = await client.post(f"/api/v1/tasks/{fixed}/replay")
    assert r.status_code == 202, r.text
    await publish_all(js, [run.queued(0, 0, attempt=2), run.succeeded(0, 0, attempt=2)])
    await wait_task(client, run.id, fixed, "the replay's success", status="succeeded")

    shown = await letters(client, f"?run_id={run.id}")
    assert [(i["task_id"], i["resolved"]) for i in shown] == [(still_failed, False)]
    everything = await letters(client, f"?run_id={run.id}&include_resolved=true")
    assert {i["task_id"]: i["resolved"] for i in everything} == {fixed: True, still_failed: False}
    assert (await client.get("/api/v1/dead-letters?include_resolved=maybe")).status_code == 400
