"""Replay through the API: checked against the read model, handed to the planner on
`cc.control.replay`, once per Idempotency-Key; and the projection of the new attempt."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from commandcenter_contracts import (
    AgentSpec,
    FailureCode,
    RunCancelled,
    RunHalted,
    RunSucceeded,
    TaskFailed,
    TaskReplayRequested,
    replay_decoder,
    subjects,
)
from gateway_support import (
    Client,
    Run,
    SseEvent,
    publish_all,
    run_events,
    run_view,
    stream_messages,
    tasks_of,
    wait_task,
    wait_view,
)
from nats.js import JetStreamContext

from tests.support.polling import eventually

pytestmark = pytest.mark.integration


def failed(run: Run, b: int, p: int, attempt: int = 1, **kw: Any) -> TaskFailed:
    return TaskFailed(
        run_id=run.id,
        task_id=run.tasks[b][p],
        attempt=attempt,
        error_code=kw.pop("code", FailureCode.VERIFICATION_FAILED),
        message=kw.pop("message", "`test -s out.txt` failed"),
        **kw,
    )


async def halted_run(client: Client, js: JetStreamContext) -> Run:
    """Batch 1 (index 0): task 0 succeeded, task 1 failed; the run halted."""
    run = Run()
    await publish_all(
        js,
        [
            *run.opened(),
            run.started(0, 0),
            run.succeeded(0, 0),
            run.started(0, 1),
            failed(run, 0, 1),
            run.batch_completed(0, succeeded=False),
            RunHalted(run_id=run.id, batch_index=0, failed_tasks=[run.tasks[0][1]]),
        ],
    )
    await wait_view(client, run.id, "run halted", status="halted")
    return run


async def replay_requests(js: JetStreamContext) -> list[TaskReplayRequested]:
    found = await stream_messages(js, subjects.STREAM_PHASES, subjects.CONTROL_REPLAY)
    return [replay_decoder.decode(m.data or b"") for m in found]


async def test_a_failed_task_is_handed_to_the_planner_with_its_overrides(
    client: Client, js: JetStreamContext
) -> None:
    run = await halted_run(client, js)
    task_id = run.tasks[0][1]
    r = await client.post(
        f"/api/v1/tasks/{task_id}/replay",
        json={
            "agent": "command",
            "agent_argv": ["my-agent", "--fix"],
            "timeout_s": 90,
            "verification": ["test -s out.txt"],
        },
        headers={"X-Requested-By": "alice"},
    )
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["task_id"] == task_id and body["run_id"] == run.id
    assert (body["attempt"], body["plan_task_id"], body["status"]) == (2, "1.2", "replay_requested")
    assert body["links"]["run"] == f"/api/v1/runs/{run.id}"

    (request,) = await replay_requests(js)
    assert request.request_id == body["request_id"]
    assert (request.run_id, request.task_id, request.expected_attempt) == (run.id, task_id, 1)
    assert request.agent == AgentSpec(name="command", argv=["my-agent", "--fix"])
    assert request.timeout_s == 90
    assert request.verification == ["test -s out.txt"]
    assert request.requested_by == "admin"  # the token's name: a header cannot claim another

    # Without a body: a replay as the task was, nothing overridden.
    other = await halted_run(client, js)
    r = await client.post(f"/api/v1/tasks/{other.tasks[0][1]}/replay")
    assert r.status_code == 202, r.text
    plain = (await replay_requests(js))[-1]
    assert (plain.agent, plain.timeout_s, plain.verification) == (None, None, None)


async def test_an_idempotency_key_replays_once(client: Client, js: JetStreamContext) -> None:
    run = await halted_run(client, js)
    task_id = run.tasks[0][1]
    url = f"/api/v1/tasks/{task_id}/replay"
    headers = {"Idempotency-Key": "replay-1.2-once"}
    first = await client.post(url, json={"timeout_s": 60}, headers=headers)
    assert first.status_code == 202, first.text
    assert "Idempotent-Replayed" not in first.headers

    # The planner starts attempt 2: the task is not failed any more, yet the same key still
    # gets the same answer (not a 409) and nothing is published again.
    await publish_all(js, [run.queued(0, 1, attempt=2)])
    await wait_task(client, run.id, task_id, "attempt 2 queued", attempt=2, status="queued")
    again = await client.post(url, json={"timeout_s": 60}, headers=headers)
    assert again.status_code == 202, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert len(await replay_requests(js)) == 1

    reused = await client.post(url, json={"timeout_s": 61}, headers=headers)
    assert reused.status_code == 422
    assert "Idempotency-Key" in reused.text
    # Without the key, the task being queued now is a conflict.
    conflict = await client.post(url)
    assert conflict.status_code == 409
    assert len(await replay_requests(js)) == 1


async def test_only_failed_or_cancelled_tasks_of_live_runs_can_be_replayed(
    client: Client, js: JetStreamContext
) -> None:
    run = await halted_run(client, js)
    ok_task = run.tasks[0][0]
    r = await client.post(f"/api/v1/tasks/{ok_task}/replay")
    assert r.status_code == 409
    assert "is succeeded (attempt 1)" in r.json()["detail"]
    assert "only a failed or cancelled task" in r.json()["detail"]
    # A task of a batch that never started.
    r = await client.post(f"/api/v1/tasks/{run.tasks[1][0]}/replay")
    assert r.status_code == 409 and "is pending" in r.json()["detail"]

    r = await client.post(f"/api/v1/tasks/{uuid.uuid4()}/replay")
    assert r.status_code == 404
    r = await client.post("/api/v1/tasks/..%2F..%2Fetc/replay")
    assert r.status_code == 404

    bad = [
        ({"agent_argv": ["x"]}, "agent_argv"),
        ({"agent": "command"}, "agent_argv"),
        ({"agent": "nope"}, "agent"),
        ({"timeout_s": -1}, "timeout_s"),
        ({"verification": "test -s x"}, "verification"),
        ({"surprise": 1}, "surprise"),
    ]
    for body, field in bad:
        r = await client.post(f"/api/v1/tasks/{run.tasks[0][1]}/replay", json=body)
        assert r.status_code == 400, (body, r.text)
        assert field in r.text, (body, r.text)

    # A cancelled run is final: its tasks are not replayed.
    await publish_all(js, [RunCancelled(run_id=run.id, reason="enough")])
    await wait_view(client, run.id, "run cancelled", status="cancelled")
    r = await client.post(f"/api/v1/tasks/{run.tasks[0][1]}/replay")
    assert r.status_code == 409 and "cancelled" in r.json()["detail"]
    r = await client.post(f"/api/v1/runs/{run.id}/replay-failed")
    assert r.status_code == 409
    assert await replay_requests(js) == []


async def test_a_run_ended_before_the_retention_period_is_not_taken_on_again(
    client: Client, js: JetStreamContext
) -> None:
    """CC_RUN_RETENTION_DAYS (30 by default): the planner forgets a run that long ended
    (`planner.retention`), so neither a replay nor a new budget is accepted for it."""
    run = Run()
    long_ago = datetime.now(UTC) - timedelta(days=31)
    await publish_all(
        js,
        [
            *run.opened(),
            failed(run, 0, 1),
            RunHalted(run_id=run.id, batch_index=0, failed_tasks=[run.tasks[0][1]], at=long_ago),
        ],
    )
    await wait_view(client, run.id, "run halted", status="halted")
    for url, body in (
        (f"/api/v1/tasks/{run.tasks[0][1]}/replay", None),
        (f"/api/v1/runs/{run.id}/replay-failed", None),
        (f"/api/v1/runs/{run.id}/budget", {"max_cost_usd": 5}),
    ):
        r = await client.post(url, json=body)
        assert r.status_code == 409, (url, r.text)
        detail = r.json()["detail"]
        assert f"ended on {long_ago:%Y-%m-%d}, more than 30 days ago" in detail, detail
        assert "CC_RUN_RETENTION_DAYS" in detail and "start a new run" in detail
    assert await replay_requests(js) == []

    # a day younger than the period, it is replayed as usual
    recent = Run()
    await publish_all(
        js,
        [
            *recent.opened(),
            failed(recent, 0, 1),
            RunHalted(
                run_id=recent.id,
                batch_index=0,
                failed_tasks=[recent.tasks[0][1]],
                at=datetime.now(UTC) - timedelta(days=29),
            ),
        ],
    )
    await wait_view(client, recent.id, "run halted", status="halted")
    r = await client.post(f"/api/v1/tasks/{recent.tasks[0][1]}/replay")
    assert r.status_code == 202, r.text


async def test_replay_failed_replays_every_failed_task_of_the_run(
    client: Client, js: JetStreamContext
) -> None:
    run = Run()
    await publish_all(
        js,
        [
            *run.opened(),
            failed(run, 0, 0, code=FailureCode.NO_CHANGES),
            failed(run, 0, 1, code=FailureCode.AGENT_FAILED),
            run.batch_completed(0, succeeded=False),
            RunHalted(run_id=run.id, batch_index=0),
        ],
    )
    await wait_view(client, run.id, "run halted", status="halted")
    key = {"Idempotency-Key": f"replay-run-{run.id}"}
    r = await client.post(
        f"/api/v1/runs/{run.id}/replay-failed", json={"verification": []}, headers=key
    )
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["run_id"] == run.id and body["count"] == 2
    assert [x["task_id"] for x in body["replays"]] == run.tasks[0]
    requests = await replay_requests(js)
    assert sorted(q.task_id for q in requests) == sorted(run.tasks[0])
    assert all(q.verification == [] and q.expected_attempt == 1 for q in requests)

    again = await client.post(
        f"/api/v1/runs/{run.id}/replay-failed", json={"verification": []}, headers=key
    )
    assert again.status_code == 202 and again.json() == body
    assert len(await replay_requests(js)) == 2

    assert (await client.post(f"/api/v1/runs/{uuid.uuid4()}/replay-failed")).status_code == 404
    assert (await client.post("/api/v1/runs/not-a-run/replay-failed")).status_code == 404
    clean = Run()
    await publish_all(js, [clean.accepted(), clean.planned()])
    await wait_view(client, clean.id, "planned", status="running")
    r = await client.post(f"/api/v1/runs/{clean.id}/replay-failed")
    assert r.status_code == 409 and "no failed or cancelled task" in r.json()["detail"]


async def test_a_new_attempt_reopens_the_task_its_batch_and_the_halted_run(
    client: Client, js: JetStreamContext
) -> None:
    run = await halted_run(client, js)
    task_id = run.tasks[0][1]
    view = await run_view(client, run.id)
    assert [b["status"] for b in view["batches"]] == ["failed", "pending"]

    await publish_all(js, [run.queued(0, 1, attempt=2)])
    view = await wait_view(client, run.id, "run resumed", status="running")
    assert view["error"] is None and view["finished_at"] is None
    assert view["batches"][0]["status"] == "running"
    task = tasks_of(view)[task_id]
    assert (task["status"], task["attempt"], task["error_code"], task["error"]) == (
        "queued",
        2,
        None,
        None,
    )

    # Late news of attempt 1 changes nothing; attempt 2 goes on to the end of the run.
    await publish_all(
        js,
        [
            failed(run, 0, 1, attempt=1, message="late"),
            run.started(0, 1, attempt=2),
            run.succeeded(0, 1, attempt=2),
            run.batch_completed(0),
            *run.batch_started(1),
            run.succeeded(1, 0),
            run.succeeded(1, 1),
            run.batch_completed(1),
            RunSucceeded(run_id=run.id),
        ],
    )
    view = await wait_view(client, run.id, "run succeeded", status="succeeded")
    assert [b["status"] for b in view["batches"]] == ["succeeded", "succeeded"]
    task = tasks_of(view)[task_id]
    assert (task["status"], task["attempt"]) == ("succeeded", 2)
    assert view["counts"]["succeeded"] == 4


async def test_the_event_stream_of_a_resumed_run_goes_past_its_halt(
    live_url: str, live_client: Client, js: JetStreamContext, auth: dict[str, str]
) -> None:
    run = await halted_run(live_client, js)
    halted = await run_events(live_url, run.id, auth=auth)
    assert halted[-1].event == "run.halted"  # nothing follows yet: the stream ends there

    await publish_all(
        js,
        [
            run.queued(0, 1, attempt=2),
            run.succeeded(0, 1, attempt=2),
            run.batch_completed(0),
            RunSucceeded(run_id=run.id),
        ],
    )

    async def whole() -> list[SseEvent] | None:
        events = await run_events(live_url, run.id, auth=auth)
        return events if events[-1].event == "run.succeeded" else None

    everything = await eventually(whole, what="the history to end with run.succeeded")
    types = [e.event for e in everything]
    assert types.index("run.halted") < types.index("task.queued", types.index("run.halted"))
    assert json.loads(everything[-2].data)["succeeded"] is True
    # A client that saw the halt resumes from there and gets exactly the rest.
    rest = await run_events(live_url, run.id, after=halted[-1].id, auth=auth)
    assert [e.event for e in rest] == types[len(halted) :]
