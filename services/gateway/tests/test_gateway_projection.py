"""The projector: status events published on the real bus become the run view in PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import cc_bus
import msgspec
import pytest
from commandcenter.servers import PostgresServer
from commandcenter_contracts import (
    BatchIntegrated,
    BatchStarted,
    FailureCode,
    PullRequestRef,
    PullRequestUpdated,
    RunHalted,
    RunLanded,
    RunStarted,
    RunSucceeded,
    TaskFailed,
    TaskIntegrated,
    TaskProgress,
    TaskReplayRefused,
    dead_letter_decoder,
    subjects,
)
from gateway.resources import Resources
from gateway_support import (
    Client,
    Run,
    publish_all,
    run_view,
    stream_messages,
    tasks_of,
    wait_task,
    wait_view,
)
from litestar import Litestar
from nats.js import JetStreamContext

from tests.support.polling import eventually

pytestmark = pytest.mark.integration


async def test_a_whole_run_is_projected(client: Client, js: JetStreamContext) -> None:
    run = Run()
    t = run.tasks
    await publish_all(
        js,
        [
            run.accepted(),
            run.planned(),
            RunStarted(run_id=run.id),
            *run.batch_started(0),
            run.started(0, 0),
            TaskProgress(run_id=run.id, task_id=t[0][0], step="agent_started"),
        ],
    )
    view = await wait_view(client, run.id, "batch 0 running", status="running")

    async def progressed() -> dict[str, Any] | None:
        # The counts hold from `task.started` on: wait for the last event, the progress step.
        view = await _with_counts(client, run.id, queued=1, running=1, pending=2)
        return view if view and tasks_of(view)[t[0][0]]["step"] == "agent_started" else None

    view = await eventually(progressed, what="one task running (agent started), one queued")
    assert [b["status"] for b in view["batches"]] == ["running", "pending"]
    first = tasks_of(view)[t[0][0]]
    assert (first["status"], first["step"], first["attempt"]) == ("running", "agent_started", 1)
    assert first["plan_task_id"] == "1.1"
    assert first["title"] == "Task 1.1"
    assert view["counts"]["total"] == 4

    await publish_all(
        js,
        [
            run.succeeded(0, 0),
            run.started(0, 1),
            run.succeeded(0, 1),
            run.batch_completed(0),
            *run.batch_started(1),
            run.started(1, 0),
            run.succeeded(1, 0),
            run.started(1, 1),
            run.succeeded(1, 1),
            run.batch_completed(1),
            RunSucceeded(run_id=run.id),
        ],
    )
    view = await wait_view(client, run.id, "run succeeded", status="succeeded")
    assert view["finished_at"] is not None
    assert view["error"] is None
    assert view["counts"] == {
        "pending": 0,
        "queued": 0,
        "running": 0,
        "succeeded": 4,
        "failed": 0,
        "cancelled": 0,
        "total": 4,
    }
    assert [b["status"] for b in view["batches"]] == ["succeeded", "succeeded"]
    assert [[task["plan_task_id"] for task in b["tasks"]] for b in view["batches"]] == [
        ["1.1", "1.2"],
        ["2.1", "2.2"],
    ]
    for b in range(2):
        for p in range(2):
            task = tasks_of(view)[t[b][p]]
            assert task["branch"] == run.branch(b, p)
            assert task["commit"] == f"{b}{p}" * 20
            assert task["pushed"] is True
            assert task["finished_at"] is not None

    compat = (await client.get(f"/api/v1/autonomous/{run.id}/status")).json()
    assert {k: v for k, v in compat.items() if k in view} == view
    listed = (await client.get("/api/v1/runs", params={"status": "succeeded"})).json()
    assert [item["id"] for item in listed["items"]] == [run.id]
    assert listed["items"][0]["counts"]["succeeded"] == 4


async def _with_counts(client: Client, run_id: str, **counts: int) -> dict[str, Any] | None:
    view = await run_view(client, run_id)
    if view and all(view["counts"][k] == v for k, v in counts.items()):
        return view
    return None


async def test_failures_halt_and_cancellations_are_projected(
    client: Client, js: JetStreamContext
) -> None:
    run = Run()
    t = run.tasks
    await publish_all(
        js,
        [
            *run.opened(),
            run.started(0, 0),
            TaskFailed(
                run_id=run.id,
                task_id=t[0][0],
                error_code=FailureCode.NO_CHANGES,
                message="the agent changed nothing",
            ),
            run.started(0, 1),
            TaskFailed(run_id=run.id, task_id=t[0][1], error_code=FailureCode.CANCELLED),
            run.batch_completed(0, succeeded=False),
            RunHalted(run_id=run.id, batch_index=0, failed_tasks=["1.1"]),
        ],
    )
    view = await wait_view(client, run.id, "run halted", status="halted")
    assert "1.1" in view["error"]
    assert view["batches"][0]["status"] == "failed"
    failed, cancelled = tasks_of(view)[t[0][0]], tasks_of(view)[t[0][1]]
    assert (failed["status"], failed["error_code"]) == ("failed", "NO_CHANGES")
    assert failed["error"] == "the agent changed nothing"
    assert cancelled["status"] == "cancelled"
    assert view["counts"]["failed"] == 1
    assert view["counts"]["cancelled"] == 1
    assert view["counts"]["pending"] == 2


async def test_a_duplicate_event_is_applied_once(
    client: Client, app: Litestar, js: JetStreamContext, database_url: str
) -> None:
    run = Run()
    queued = run.queued(0, 0)
    await publish_all(js, [run.accepted(), run.planned(), queued, run.started(0, 0)])
    await wait_task(client, run.id, run.tasks[0][0], "task running", status="running")

    # The same event again under another message id: JetStream stores it a second time.
    ack = await cc_bus.publish(
        js, subjects.status_subject(run.id), queued, msg_id=f"{queued.event_id}-again"
    )
    assert not ack.duplicate
    # A marker behind it: once the marker is projected, the duplicate has been handled.
    marker = TaskProgress(run_id=run.id, task_id=run.tasks[0][0], step="marker")
    await cc_bus.publish_status(js, marker)
    task = await wait_task(client, run.id, run.tasks[0][0], "marker", step="marker")
    # Applied twice, the queued event would have sent the task back to `queued`.
    assert task["status"] == "running"

    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval(
            "SELECT count(*) FROM events WHERE event_id = $1", queued.event_id
        )
        total = await conn.fetchval(
            "SELECT count(*) FROM events WHERE run_id = $1", uuid.UUID(run.id)
        )
    finally:
        await conn.close()
    assert stored == 1
    assert total == 5
    resources: Resources = app.state.resources
    assert resources.projector.stats.duplicates >= 1


async def test_an_older_attempt_never_overwrites_a_newer_one(
    client: Client, js: JetStreamContext
) -> None:
    run = Run()
    task_id = run.tasks[0][0]
    await publish_all(
        js,
        [
            run.accepted(),
            run.planned(),
            run.queued(0, 0, attempt=1),
            run.started(0, 0, attempt=1),
            TaskFailed(
                run_id=run.id,
                task_id=task_id,
                attempt=1,
                error_code=FailureCode.INFRA,
                recoverable=True,
                message="executor lost",
                will_retry=True,
            ),
        ],
    )
    task = await wait_task(client, run.id, task_id, "retry pending", error_code="INFRA")
    assert (task["status"], task["attempt"]) == ("queued", 1)

    await publish_all(js, [run.queued(0, 0, attempt=2), run.started(0, 0, attempt=2)])
    task = await wait_task(
        client, run.id, task_id, "attempt 2 running", attempt=2, status="running"
    )
    assert task["error_code"] is None

    # Late news of attempt 1 (a slow executor): ignored.
    await publish_all(
        js,
        [
            run.succeeded(0, 0, attempt=1),
            TaskFailed(run_id=run.id, task_id=task_id, attempt=1, error_code=FailureCode.TIMEOUT),
            TaskProgress(run_id=run.id, task_id=task_id, attempt=1, step="stale"),
            TaskProgress(run_id=run.id, task_id=run.tasks[0][1], step="marker"),
        ],
    )
    await wait_task(client, run.id, run.tasks[0][1], "marker", step="marker")
    task = tasks_of(await run_view(client, run.id))[task_id]
    assert (task["status"], task["attempt"], task["commit"]) == ("running", 2, None)
    assert task["step"] is None

    await publish_all(js, [run.succeeded(0, 0, attempt=2)])
    task = await wait_task(client, run.id, task_id, "attempt 2 succeeded", status="succeeded")
    assert task["attempt"] == 2


async def test_a_refused_replay_stays_on_its_task_until_a_newer_attempt_is_queued(
    client: Client, js: JetStreamContext
) -> None:
    run = Run()
    task_id = run.tasks[0][0]
    await publish_all(js, [run.accepted(), run.planned(), run.queued(0, 0), run.started(0, 0)])
    await publish_all(js, [_failed(run.id, task_id)])
    await wait_task(client, run.id, task_id, "attempt 1 failed", status="failed")

    refused = TaskReplayRefused(
        run_id=run.id, task_id=task_id, request_id="req-1", reason="the run was cancelled"
    )
    await publish_all(js, [refused])
    task = await eventually(
        lambda: _refusal_of(client, run.id, task_id), what="the refusal on the task"
    )
    assert task["replay_refused"]["request_id"] == "req-1"
    assert task["replay_refused"]["reason"] == "the run was cancelled"
    assert task["replay_refused"]["at"]
    assert (task["status"], task["attempt"]) == ("failed", 1)  # nothing else changed

    # The next attempt queued (another person's replay went through): the refusal is history.
    await publish_all(js, [run.queued(0, 0, attempt=2)])
    task = await wait_task(client, run.id, task_id, "attempt 2 queued", attempt=2)
    assert task["replay_refused"] is None
    # A second person's replay, refused while attempt 2 runs: shown on the running task.
    await publish_all(js, [run.started(0, 0, attempt=2)])
    await wait_task(client, run.id, task_id, "attempt 2 running", status="running")
    await publish_all(
        js,
        [TaskReplayRefused(run_id=run.id, task_id=task_id, request_id="req-2", reason="newer")],
    )
    task = await eventually(
        lambda: _refusal_of(client, run.id, task_id), what="the second refusal on the task"
    )
    assert (task["replay_refused"]["request_id"], task["status"]) == ("req-2", "running")


async def _refusal_of(client: Client, run_id: str, task_id: str) -> dict[str, Any] | None:
    task = tasks_of(await run_view(client, run_id)).get(task_id)
    return task if task and task.get("replay_refused") else None


def _failed(run_id: str, task_id: str) -> TaskFailed:
    return TaskFailed(run_id=run_id, task_id=task_id, error_code=FailureCode.NO_CHANGES)


async def test_a_terminal_run_ignores_late_running_events(
    client: Client, js: JetStreamContext
) -> None:
    run = Run()
    await publish_all(js, [run.accepted(), run.planned(), RunSucceeded(run_id=run.id)])
    await wait_view(client, run.id, "succeeded", status="succeeded")
    await publish_all(
        js,
        [
            BatchStarted(run_id=run.id, batch_index=1),
            TaskProgress(run_id=run.id, task_id=run.tasks[1][1], step="marker"),
        ],
    )
    await wait_task(client, run.id, run.tasks[1][1], "marker", step="marker")
    view = await run_view(client, run.id)
    assert view["status"] == "succeeded"
    assert view["finished_at"] is not None


async def test_undecodable_messages_go_to_the_dead_letters_and_newer_types_are_skipped(
    client: Client, app: Litestar, js: JetStreamContext
) -> None:
    garbage = b"\x00\xffnot json at all"
    await js.publish("cc.status.x", garbage, headers={"Nats-Msg-Id": "garbage-1"})
    await js.publish(
        "cc.status.y", b'{"type": "run.exploded", "run_id": "y"}', headers={"Nats-Msg-Id": "g2"}
    )
    # Well-formed, but its run id cannot be a run of the read model.
    bad_run = RunStarted(run_id="not-a-uuid")
    await cc_bus.publish_status(js, bad_run)

    run = Run()
    await publish_all(js, [run.accepted(), run.planned(), RunStarted(run_id=run.id)])
    await wait_view(client, run.id, "events after the garbage", status="running")

    async def letters() -> list[Any] | None:
        found = await stream_messages(js, subjects.STREAM_DEAD)
        return found if len(found) >= 2 else None

    dead = [dead_letter_decoder.decode(m.data or b"") for m in await eventually(letters)]
    # `run.exploded` is a type a newer writer might send (a rolling upgrade): skipped, acked
    assert [d.subject for d in dead] == ["cc.status.x", "cc.status.not-a-uuid"]
    assert all(d.error_code == FailureCode.BAD_MESSAGE for d in dead)
    assert dead[0].raw == garbage
    assert "not-a-uuid" in dead[1].error

    resources: Resources = app.state.resources
    stats = resources.projector_consumer.stats

    async def settled() -> Any:
        # The read model is written (and a dead letter stored) before the message is settled:
        # the last ack may still be on its way when the view shows it.
        info = await js.consumer_info(subjects.STREAM_STATUS, subjects.CONSUMER_PROJECTOR)
        return info if info.num_ack_pending == 0 and stats.given_up == 2 else None

    info = await eventually(settled, what="every message settled")
    assert info.num_redelivered == 0
    assert not resources.projector_task.done()
    assert stats.skipped == 1


async def test_projector_catches_up_after_postgres_was_down(
    client: Client, app: Litestar, js: JetStreamContext, pg_server: PostgresServer
) -> None:
    run = Run()
    await publish_all(js, [run.accepted(), run.planned()])
    await wait_view(client, run.id, "planned", status="running")

    pg_server.stop()
    try:
        await publish_all(
            js,
            [
                BatchStarted(run_id=run.id, batch_index=0),
                run.queued(0, 0),
                run.started(0, 0),
                run.succeeded(0, 0),
            ],
        )
        r = await client.get(f"/api/v1/runs/{run.id}")
        assert r.status_code == 503, r.text
        assert "PostgreSQL" in r.json()["detail"]
        r = await client.get("/api/v1/runs")
        assert r.status_code == 503
        ready = await client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["postgres"].startswith("error")
    finally:
        pg_server.restart_after_stop()

    task = await wait_task(client, run.id, run.tasks[0][0], "caught up", status="succeeded")
    assert task["commit"] == "00" * 20
    assert (await client.get("/ready")).status_code == 200
    resources: Resources = app.state.resources
    assert resources.projector.stats.db_retries >= 1  # it did meet the outage


async def test_integration_and_landing_are_projected_for_the_original_clients_too(
    client: Client, js: JetStreamContext
) -> None:
    run = Run()
    t = run.tasks
    branch = f"cc/{run.id[:8]}/integration"
    tips = ["a" * 40, "b" * 40]

    def integrated(p: int, depth: int) -> TaskIntegrated:
        return TaskIntegrated(
            run_id=run.id,
            task_id=t[0][p],
            integration_branch=branch,
            commit=tips[p],
            depth=depth,
        )

    accepted = msgspec.structs.replace(
        run.accepted(), integration_branch=branch, land="pr", base_ref="main"
    )
    pr = PullRequestRef(url="https://github.com/o/r/pull/7", number=7, state="draft")
    await publish_all(
        js,
        [
            accepted,
            run.planned(),
            *run.batch_started(0),
            run.started(0, 0),
            run.started(0, 1),
            # the second integration is reported first: the run's tip must not go back
            integrated(1, 12),
            integrated(0, 11),
            msgspec.structs.replace(
                run.succeeded(0, 0), integrated_commit=tips[0], integration_depth=11
            ),
            msgspec.structs.replace(
                run.succeeded(0, 1), integrated_commit=tips[1], integration_depth=12
            ),
            BatchIntegrated(
                run_id=run.id, batch_index=0, integration_branch=branch, commit=tips[1]
            ),
            run.batch_completed(0),
            PullRequestUpdated(run_id=run.id, pull_request=pr),
        ],
    )
    view = await eventually(
        lambda: _with_pull_request(client, run.id), what="the pull request projected"
    )
    assert view["integration_branch"] == branch
    assert view["integration_commit"] == tips[1]
    assert (view["land"], view["base_ref"], view["merge_style"]) == ("pr", "main", "squash")
    assert view["batches"][0]["integrated_commit"] == tips[1]
    assert tasks_of(view)[t[0][0]]["integrated_commit"] == tips[0]
    assert view["pull_request"] == {"url": pr.url, "number": 7, "state": "draft"}
    listed = (await client.get("/api/v1/runs")).json()["items"]
    assert [i["pull_request"] for i in listed if i["id"] == run.id] == [view["pull_request"]]

    status = (await client.get(f"/api/v1/autonomous/{run.id}/status")).json()
    assert (status["current_batch"], status["total_batches"]) == (1, 2)
    assert (status["tasks_completed"], status["tasks_total"]) == (2, 4)
    assert status["active_prs"] == [
        {"task": branch, "pr_number": 7, "status": "draft", "url": pr.url}
    ]
    assert status["started_at"] == view["created_at"] and status["completed_at"] is None
    batches = (await client.get(f"/api/v1/autonomous/{run.id}/batches")).json()
    assert batches["total_batches"] == 2
    assert [b["number"] for b in batches["batches"]] == ["1", "2"]
    task = (await client.get(f"/api/v1/autonomous/{run.id}/tasks/1.2")).json()
    assert task["task_number"] == "1.2" and task["task_title"] == "Task 1.2"
    assert task["branch_name"] == run.branch(0, 1)
    assert (task["pr_number"], task["pr_url"]) == (7, pr.url)
    assert task["status"] == "succeeded"
    assert task["commits"] == ["01" * 20, tips[1]]
    assert task["completed_at"] is not None and task["error"] is None
    missing = await client.get(f"/api/v1/autonomous/{run.id}/tasks/9.9")
    assert missing.status_code == 404

    await publish_all(
        js,
        [
            RunLanded(
                run_id=run.id,
                land="pr",
                target="main",
                commit=tips[1],
                pull_request=msgspec.structs.replace(pr, state="open"),
            ),
            RunSucceeded(run_id=run.id),
        ],
    )
    view = await wait_view(client, run.id, "run succeeded", status="succeeded")
    assert view["landed_commit"] == tips[1]
    assert view["pull_request"]["state"] == "open"


async def _with_pull_request(client: Client, run_id: str) -> dict[str, Any] | None:
    view = await run_view(client, run_id)
    if view and view["pull_request"] and view["batches"][0]["integrated_commit"]:
        return view
    return None
