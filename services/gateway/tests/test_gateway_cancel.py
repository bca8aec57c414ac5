"""Cancel through the API: a `run.cancelled` event for the planner and the read model, a core
NATS cancel request for the executors; the projection of a cancelled run."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from commandcenter_contracts import (
    BatchStarted,
    FailureCode,
    RunCancelled,
    RunFailed,
    RunHalted,
    RunSucceeded,
    TaskFailed,
    TaskProgress,
    cancel_decoder,
    status_decoder,
    subjects,
)
from gateway_support import (
    Client,
    Run,
    publish_all,
    run_events,
    run_view,
    stream_messages,
    tasks_of,
    wait_task,
    wait_view,
)
from nats.aio.client import Client as Nats
from nats.aio.msg import Msg
from nats.js import JetStreamContext

pytestmark = pytest.mark.integration


async def running_run(client: Client, js: JetStreamContext) -> Run:
    """Batch 1 running: task 0 running, task 1 queued; batch 2 pending."""
    run = Run()
    await publish_all(js, [*run.opened(), run.started(0, 0)])
    await wait_task(client, run.id, run.tasks[0][0], "task running", status="running")
    return run


async def cancelled_events(js: JetStreamContext, run_id: str) -> list[RunCancelled]:
    found = await stream_messages(js, subjects.STREAM_STATUS, subjects.status_subject(run_id))
    events = [status_decoder.decode(m.data or b"") for m in found]
    return [e for e in events if isinstance(e, RunCancelled)]


async def test_cancel_announces_it_to_the_planner_and_the_executors(
    client: Client, js: JetStreamContext, nc: Nats
) -> None:
    run = await running_run(client, js)
    heard: asyncio.Queue[Msg] = asyncio.Queue()

    async def on_cancel(msg: Msg) -> None:
        await heard.put(msg)

    await nc.subscribe(subjects.CONTROL_CANCEL_ALL, cb=on_cancel)
    await nc.flush()

    r = await client.post(
        f"/api/v1/runs/{run.id}/cancel",
        json={"reason": "wrong plan"},
        headers={"X-Requested-By": "bob"},
    )
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["id"], body["status"]) == (run.id, "cancelling")
    assert body["previous_status"] == "running"

    msg = await asyncio.wait_for(heard.get(), 10)
    assert msg.subject == subjects.cancel_subject(run.id)
    request = cancel_decoder.decode(msg.data)
    assert (request.run_id, request.reason) == (run.id, "wrong plan")
    (event,) = await cancelled_events(js, run.id)
    assert event.reason == "wrong plan"

    view = await wait_view(client, run.id, "run cancelled", status="cancelled")
    assert view["finished_at"] is not None and view["error"] == "wrong plan"
    assert [b["status"] for b in view["batches"]] == ["cancelled", "cancelled"]
    tasks = tasks_of(view)
    assert {t["status"] for t in tasks.values()} == {"cancelled"}
    assert {t["error_code"] for t in tasks.values()} == {"CANCELLED"}
    assert view["counts"]["cancelled"] == 4

    # Cancelling again: the run is final now.
    again = await client.post(f"/api/v1/runs/{run.id}/cancel")
    assert again.status_code == 409
    assert "cancelled already" in again.json()["detail"]
    assert len(await cancelled_events(js, run.id)) == 1


async def test_after_a_cancel_only_real_task_outcomes_change_the_read_model(
    client: Client, js: JetStreamContext
) -> None:
    run, marker = await running_run(client, js), Run()
    killed, waiting = run.tasks[0]
    r = await client.post(f"/api/v1/runs/{run.id}/cancel")
    assert r.status_code == 202
    await wait_view(client, run.id, "run cancelled", status="cancelled")

    await publish_all(
        js,
        [
            # the running agent was killed: its executor says so
            TaskFailed(
                run_id=run.id,
                task_id=killed,
                error_code=FailureCode.CANCELLED,
                message="cancelled: agent stopped (pid 4242)",
            ),
            # events the planner or an executor sent before they heard of the cancel
            run.started(0, 1),
            TaskProgress(run_id=run.id, task_id=waiting, step="agent_started"),
            run.batch_completed(0, succeeded=False),
            BatchStarted(run_id=run.id, batch_index=1),
            run.queued(1, 0),
            RunHalted(run_id=run.id, batch_index=0),
            marker.accepted(),
        ],
    )
    # The projector follows the stream in order: once the marker is in, so is the rest.
    await wait_view(client, marker.id, "the marker run", status="accepted")
    view = await run_view(client, run.id)
    assert tasks_of(view)[killed]["error"] == "cancelled: agent stopped (pid 4242)"
    assert view["status"] == "cancelled"
    assert [b["status"] for b in view["batches"]] == ["cancelled", "cancelled"]
    assert {t["status"] for t in tasks_of(view).values()} == {"cancelled"}
    assert view["batches"][1]["started_at"] is None


async def test_which_runs_can_be_cancelled(client: Client, js: JetStreamContext) -> None:
    halted, done, failed = Run(), Run(), Run()
    await publish_all(
        js,
        [
            halted.accepted(),
            halted.planned(),
            RunHalted(run_id=halted.id, batch_index=0),
            done.accepted(),
            done.planned(),
            RunSucceeded(run_id=done.id),
            failed.accepted(),
            RunFailed(run_id=failed.id, error="no such batch"),
        ],
    )
    await wait_view(client, halted.id, "halted", status="halted")
    await wait_view(client, done.id, "succeeded", status="succeeded")
    await wait_view(client, failed.id, "failed", status="failed")

    r = await client.post(f"/api/v1/runs/{halted.id}/cancel")
    assert r.status_code == 202 and r.json()["previous_status"] == "halted"
    await wait_view(client, halted.id, "halted → cancelled", status="cancelled")

    for run in (done, failed):
        r = await client.post(f"/api/v1/runs/{run.id}/cancel")
        assert r.status_code == 409, r.text
        assert await cancelled_events(js, run.id) == []

    # accepted (not planned yet) can be cancelled: the planner will not start it
    fresh = Run()
    await publish_all(js, [fresh.accepted()])
    await wait_view(client, fresh.id, "accepted", status="accepted")
    r = await client.post(f"/api/v1/runs/{fresh.id}/cancel")
    assert r.status_code == 202
    await wait_view(client, fresh.id, "cancelled", status="cancelled")

    assert (await client.post(f"/api/v1/runs/{uuid.uuid4()}/cancel")).status_code == 404
    assert (await client.post("/api/v1/runs/nope/cancel")).status_code == 404
    r = await client.post(f"/api/v1/runs/{halted.id}/cancel", json={"why": "x"})
    assert r.status_code == 400 and "why" in r.text


async def test_the_event_stream_serves_a_killed_tasks_report_after_the_cancel(
    live_url: str, live_client: Client, js: JetStreamContext, auth: dict[str, str]
) -> None:
    run = await running_run(live_client, js)
    await publish_all(
        js,
        [
            RunCancelled(run_id=run.id, reason="stop"),
            TaskFailed(run_id=run.id, task_id=run.tasks[0][0], error_code=FailureCode.CANCELLED),
        ],
    )
    await wait_view(live_client, run.id, "cancelled", status="cancelled")

    everything = await run_events(live_url, run.id, auth=auth)
    assert [e.event for e in everything][-2:] == ["run.cancelled", "task.failed"]
    # A client that stopped at the cancel gets the report, then the stream ends (no hang).
    rest = await run_events(live_url, run.id, after=everything[-2].id, auth=auth)
    assert [e.event for e in rest] == ["task.failed"]
    assert await run_events(live_url, run.id, after=everything[-1].id, auth=auth) == []
