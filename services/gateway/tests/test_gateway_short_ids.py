"""Ids as people write them, through the live gateway: a run by a unique prefix of its id on
every route with a run in its path (an ambiguous prefix is a 409 naming the runs, an unknown one
a 404), and a run's task by its plan id (`1.2`) for its log and its replay.

The runs are announced on the bus with ids chosen here, so that two of them share a prefix."""

from __future__ import annotations

import json

import cc_bus
import httpx
import pytest
from commandcenter_contracts import (
    FailureCode,
    LogLine,
    PlannedBatch,
    PlannedTask,
    RunHalted,
    RunPlanned,
    RunSucceeded,
    TaskFailed,
    replay_decoder,
    subjects,
)
from gateway_support import (
    Run,
    api_routes,
    publish_all,
    run_events,
    stream_messages,
    wait_view,
)
from litestar import Litestar
from nats.js import JetStreamContext

pytestmark = pytest.mark.integration

DONE = "abcd1234-0000-4000-8000-000000000001"
"""A run that succeeded, with output for its task 1.2."""
HALTED = "abcd1234-1111-4000-8000-000000000002"
"""A run that halted on its failed task 1.1: shares `abcd1234` with DONE."""
TWICE = "abce0000-0000-4000-8000-000000000003"
"""A run whose plan has task 1.1 in two phases."""


def run_with_id(run_id: str) -> Run:
    run = Run()
    run.id = run_id
    return run


async def publish_runs(js: JetStreamContext, client: httpx.AsyncClient) -> tuple[Run, Run]:
    done, halted = run_with_id(DONE), run_with_id(HALTED)
    await publish_all(js, [*done.opened(), done.succeeded(0, 0), done.succeeded(0, 1)])
    for n in (1, 2):
        line = LogLine(run_id=DONE, task_id=done.tasks[0][1], line=f"line {n}")
        await cc_bus.publish_log(js, line, seq=n)
    await publish_all(js, [RunSucceeded(run_id=DONE)])
    await publish_all(
        js,
        [
            *halted.opened(),
            TaskFailed(
                run_id=HALTED, task_id=halted.tasks[0][0], error_code=FailureCode.NO_CHANGES
            ),
            RunHalted(run_id=HALTED, batch_index=0),
        ],
    )
    twice = run_with_id(TWICE)
    planned = twice.planned()
    batches = [
        PlannedBatch(
            index=b.index,
            phase=str(b.index + 1),
            number="1",
            title=b.title,
            tasks=[
                PlannedTask(task_id=t.task_id, plan_task_id="1.1", title=t.title, branch=t.branch)
                for t in b.tasks[:1]
            ],
        )
        for b in planned.batches
    ]
    await publish_all(js, [twice.accepted(), RunPlanned(run_id=TWICE, batches=batches)])
    await wait_view(client, DONE, "the run's success", status="succeeded")
    await wait_view(client, HALTED, "the run's halt", status="halted")
    await wait_view(client, TWICE, "the run's plan", status="running")
    return done, halted


def _with_run(template: str, run: str) -> str:
    return (
        template.replace("{run_id}", run)
        .replace("{task_id}", "1.1")
        .replace("{task_number}", "1.1")
    )


async def test_a_run_by_a_prefix_of_its_id_on_every_route(
    live_client: httpx.AsyncClient,
    live_url: str,
    auth: dict[str, str],
    app: Litestar,
    js: JetStreamContext,
) -> None:
    done, _ = await publish_runs(js, live_client)
    for prefix in ("abcd12340", "ABCD12340", "abcd1234-0", DONE):
        view = (await live_client.get(f"/api/v1/runs/{prefix}")).json()
        assert view["id"] == DONE, prefix

    # Every route with a run in its path: the ambiguous prefix is a 409 naming both runs,
    # one that starts no run (or is too short to be looked up) a 404.
    routes = sorted((m, path) for m, path in api_routes(app) if "{run_id}" in path)
    assert len(routes) >= 10
    for method, template in routes:
        body = {"max_cost_usd": 1} if template.endswith("/budget") else {}
        ambiguous = await live_client.request(
            method, _with_run(template, "abcd"), json=body if method == "POST" else None
        )
        assert ambiguous.status_code == 409, (method, template, ambiguous.text)
        body = ambiguous.json()
        assert sorted(body["candidates"]) == [DONE, HALTED]
        assert "ambiguous" in body["detail"] and DONE in body["detail"]
        for unknown in ("0000", "abc", "abcd-x"):
            r = await live_client.request(
                method, _with_run(template, unknown), json=body if method == "POST" else None
            )
            assert r.status_code == 404, (method, template, unknown, r.text)

    compat = (await live_client.get("/api/v1/autonomous/abcd12340/tasks/1.2")).json()
    assert compat["task_id"] == done.tasks[0][1]
    events = await run_events(live_url, "abcd12340", auth=auth)
    assert events[-1].event == "run.succeeded"
    assert all(json.loads(e.data)["run_id"] == DONE for e in events)


async def test_a_task_by_its_plan_id_with_a_short_run_id(
    live_client: httpx.AsyncClient, js: JetStreamContext
) -> None:
    done, halted = await publish_runs(js, live_client)
    log = await live_client.get("/api/v1/runs/abcd12340/tasks/1.2/log")
    assert log.status_code == 200 and log.text == "line 1\nline 2\n"
    by_id = await live_client.get(f"/api/v1/runs/{DONE}/tasks/{done.tasks[0][1]}/log")
    assert by_id.text == log.text
    missing = await live_client.get("/api/v1/runs/abcd12340/tasks/9.9/log")
    assert missing.status_code == 404
    twice = await live_client.get("/api/v1/runs/abce/tasks/1.1/log")
    assert twice.status_code == 409 and len(twice.json()["candidates"]) == 2

    replay = await live_client.post("/api/v1/runs/abcd12341/tasks/1.1/replay", json={})
    assert replay.status_code == 202, replay.text
    answer = replay.json()
    assert (answer["run_id"], answer["task_id"], answer["plan_task_id"]) == (
        HALTED,
        halted.tasks[0][0],
        "1.1",
    )
    (raw,) = await stream_messages(js, subjects.STREAM_PHASES, subjects.CONTROL_REPLAY)
    assert replay_decoder.decode(raw.data or b"").task_id == halted.tasks[0][0]
    # a task of another run is not this run's, whatever its id
    other = await live_client.post(f"/api/v1/runs/abcd12341/tasks/{done.tasks[0][1]}/replay")
    assert other.status_code == 404

    budget = await live_client.post("/api/v1/runs/abcd12341/budget", json={"max_cost_usd": 5})
    assert budget.status_code == 202 and budget.json()["id"] == HALTED
    cancel = await live_client.post("/api/v1/runs/abcd-1234-1/cancel", json={})
    assert cancel.status_code == 202 and cancel.json()["id"] == HALTED
