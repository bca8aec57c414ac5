"""Liveness, readiness, OpenAPI, plan parsing, and behaviour while NATS is down."""

from __future__ import annotations

import uuid

import pytest
from commandcenter.servers import NatsServer
from gateway_support import TWO_BY_TWO_PLAN, fixture_plan
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from tests.support.polling import eventually

pytestmark = pytest.mark.integration

Client = AsyncTestClient[Litestar]


async def test_health_and_ready(client: Client) -> None:
    r = await client.get("/health")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})
    r = await client.get("/ready")
    body = r.json()
    jetstream = body.pop("jetstream")
    assert (r.status_code, body) == (
        200,
        {"nats": "ok", "postgres": "ok", "streams": "ok", "executors": []},
    )
    # One nats-server: every stream with one replica and a leader (the server itself); no
    # monitoring endpoint configured here, so the meta leader is unknown, and said so.
    assert {s["name"]: (s["state"], s["replicas"]) for s in jetstream["streams"]} == {
        name: ("ok", 1)
        for name in ("CC_PHASES", "CC_TASKS", "CC_STATUS", "CC_LOGS", "CC_DEAD", "CC_ADVISORIES")
    }
    assert jetstream["meta"]["state"] == "unknown: CC_NATS_MONITOR_URL is not set"


async def test_openapi_is_served(client: Client) -> None:
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert spec["openapi"].startswith("3.1")
    paths = spec["paths"]
    for path in (
        "/api/v1/runs",
        "/api/v1/autonomous/start",
        "/api/v1/runs/{run_id}",
        "/api/v1/autonomous/{run_id}/status",
        "/api/v1/runs/{run_id}/events",
        "/api/v1/runs/{run_id}/tasks/{task_id}/log",
        "/api/v1/plans/parse",
        "/health",
        "/ready",
    ):
        assert path in paths, path
    request_schema = spec["components"]["schemas"]["RunRequest"]
    assert request_schema["required"] == ["plan_path"]
    assert "agent_argv" in request_schema["properties"]
    r = await client.get("/schema")
    assert r.status_code == 200


async def test_nats_down_is_503_then_recovers(client: Client, nats_server: NatsServer) -> None:
    body = {"plan_path": "docs/plans/TWO.md"}
    nats_server.stop()

    async def not_ready() -> dict[str, str] | None:
        r = await client.get("/ready")
        return r.json() if r.status_code == 503 else None

    state = await eventually(not_ready, what="/ready to notice NATS is gone")
    assert state["nats"] != "ok"
    assert state["postgres"] == "ok"

    for endpoint in ("/api/v1/runs", "/api/v1/autonomous/start"):
        r = await client.post(endpoint, json=body)
        assert r.status_code == 503, r.text
        assert "NATS" in r.json()["detail"]
    r = await client.get(f"/api/v1/runs/{uuid.uuid4()}/events")
    assert r.status_code == 503
    # Bad input is still a 400, whatever the bus does.
    r = await client.post("/api/v1/runs", json={"plan_path": "docs/plans/TWO.md", "phase": "9"})
    assert r.status_code == 400
    # Nothing half-started: no run was recorded.
    assert (await client.get("/api/v1/runs")).json()["count"] == 0
    assert (await client.get("/health")).status_code == 200

    nats_server.start()  # same port and store: the gateway reconnects by itself

    async def ready_again() -> bool:
        return (await client.get("/ready")).status_code == 200

    await eventually(ready_again, what="/ready after NATS is back")
    r = await client.post("/api/v1/runs", json=body)
    assert r.status_code == 202, r.text


async def test_parse_plan_from_path_and_text(client: Client) -> None:
    r = await client.post("/api/v1/plans/parse", json={"plan_path": "docs/plans/MASTER_PLAN.md"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["title"].startswith("CC4 Master Plan")
    batch = doc["batches"][2]
    assert (batch["phase"], batch["number"], batch["title"]) == (
        "3",
        "1",
        "Core Infrastructure (3 tasks)",
    )
    task = batch["tasks"][0]
    for key in ("id", "title", "files", "depends_on", "verification"):
        assert key in task
    assert doc["warnings"][0]["line"] > 0
    # Tasks 2.1 and 2.3 of the master plan change the same file: a note, not a warning.
    [note] = doc["notes"]
    assert (note["phase"], note["batch"], note["tasks"]) == ("2", "2", ["2.1", "2.3"])
    assert note["files"] == ["backend/app/services/autonomous_task_worker.py"]
    assert "2.3 waits until 2.1 is integrated" in note["message"]

    by_text = await client.post(
        "/api/v1/plans/parse", json={"text": fixture_plan("cc4-MASTER_PLAN.md").read_text()}
    )
    assert by_text.status_code == 200
    assert by_text.json()["batches"] == doc["batches"]
    assert by_text.json()["notes"] == doc["notes"]

    two = (await client.post("/api/v1/plans/parse", json={"text": TWO_BY_TWO_PLAN})).json()
    assert [[t["id"] for t in b["tasks"]] for b in two["batches"]] == [
        ["1.1", "1.2"],
        ["2.1", "2.2"],
    ]
    assert two["notes"] == []


async def test_parse_plan_refusals(client: Client) -> None:
    for body in ({}, {"plan_path": "docs/plans/TWO.md", "text": "# x"}):
        r = await client.post("/api/v1/plans/parse", json=body)
        assert r.status_code == 400
        assert {e["key"] for e in r.json()["extra"]} == {"plan_path", "text"}
    r = await client.post("/api/v1/plans/parse", json={"plan_path": "nope/PLAN.md"})
    assert r.status_code == 404
    assert "nope/PLAN.md" in r.json()["detail"]


async def test_an_unexpected_error_is_a_json_500_with_a_request_id(
    app: Litestar, client: Client
) -> None:
    @get("/test-only/boom", sync_to_thread=False)
    def boom() -> None:
        raise RuntimeError("a bug, with a secret inside")

    app.register(boom)
    r = await client.get("/test-only/boom", headers={"X-Request-ID": "req-42"})
    assert r.status_code == 500
    body = r.json()
    assert body["request_id"] == "req-42" == r.headers["x-request-id"]
    assert "secret" not in r.text  # details go to the log, not to the client

    r = await client.get("/test-only/boom")
    generated = r.json()["request_id"]
    assert uuid.UUID(generated) and r.headers["x-request-id"] == generated
