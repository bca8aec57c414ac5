"""A run (or a replay naming an agent) is judged against the executors alive now, as the real
`Presence` announces them in the `cc_executors` bucket: refused (409) when executors of its mode
are alive and none can run its agent; accepted with a warning when none of its mode is alive."""

from __future__ import annotations

import pytest
from commandcenter_contracts import ExecutionMode, FailureCode, RunHalted, TaskFailed
from gateway_support import Client, Run, publish_all, wait_view
from nats.js import JetStreamContext

from tests.support.presence import announced, without_claude

pytestmark = pytest.mark.integration

TWO = {"plan_path": "docs/plans/TWO.md"}


async def test_a_run_for_an_agent_no_live_executor_can_run_is_refused_naming_it(
    client: Client, js: JetStreamContext
) -> None:
    local = [without_claude("host-a:1"), without_claude("host-b:2")]
    async with announced(js, *local):
        r = await client.post("/api/v1/runs", json={**TWO, "agent": "claude"})
        assert r.status_code == 409, r.text
        body = r.json()
        assert body["detail"].startswith("no live local executor can run agent 'claude' (checked 2")
        for executor_id in ("host-a:1", "host-b:2"):
            assert f"{executor_id} can run command, plan-follower; claude: " in body["detail"]
        assert body["extra"] == {
            "agent": "claude",
            "executors": [
                {"executor_id": e, "mode": "local", "agents": ["command", "plan-follower"]}
                for e in ("host-a:1", "host-b:2")
            ],
        }
        assert (await client.get("/api/v1/runs")).json()["count"] == 0  # nothing recorded

        # An agent they can run: accepted, nothing to warn about.
        ok = await client.post("/api/v1/runs", json={**TWO, "agent": "plan-follower"})
        assert ok.status_code == 202, ok.text
        assert ok.json()["warnings"] == []

        # No dagger executor is alive: accepted (one may be scaled from zero), with a warning.
        waiting = await client.post(
            "/api/v1/runs", json={**TWO, "agent": "claude", "execution_mode": "dagger"}
        )
        assert waiting.status_code == 202, waiting.text
        assert waiting.json()["warnings"] == [
            "no dagger executor is alive now: the run waits until one starts, and whether it "
            "can run agent 'claude' was not checked"
        ]

        # The executors list says what each has: agents, credential names, version.
        listed = (await client.get("/api/v1/executors")).json()
        assert [e["executor_id"] for e in listed["items"]] == ["host-a:1", "host-b:2"]
        first = listed["items"][0]
        assert first["agents"]["claude"]["available"] is False
        assert first["agents"]["plan-follower"]["available"] is True
        assert isinstance(first["credentials"], list) and first["version"]

    # Once they are gone (a clean stop deletes the entry): accepted, with a warning.
    r = await client.post("/api/v1/runs", json={**TWO, "agent": "claude"})
    assert r.status_code == 202, r.text
    assert r.json()["warnings"] == [
        "no local executor is alive now: the run waits until one starts, and whether it can "
        "run agent 'claude' was not checked"
    ]


async def test_a_replay_naming_an_agent_no_live_executor_can_run_is_refused(
    client: Client, js: JetStreamContext
) -> None:
    run = Run()
    failed = run.tasks[0][1]
    await publish_all(
        js,
        [
            *run.opened(),
            run.started(0, 1),
            TaskFailed(run_id=run.id, task_id=failed, error_code=FailureCode.NO_CHANGES),
            RunHalted(run_id=run.id, batch_index=0, failed_tasks=[failed]),
        ],
    )
    await wait_view(client, run.id, "run halted", status="halted")
    async with announced(js, without_claude("host-a:1", ExecutionMode.LOCAL)):
        r = await client.post(f"/api/v1/tasks/{failed}/replay", json={"agent": "claude"})
        assert r.status_code == 409, r.text
        assert "no live local executor can run agent 'claude'" in r.json()["detail"]
        ok = await client.post(f"/api/v1/tasks/{failed}/replay", json={"agent": "plan-follower"})
        assert ok.status_code == 202, ok.text
