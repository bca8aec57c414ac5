"""Starting runs over HTTP: the run row, the events on the bus, and every refusal."""

from __future__ import annotations

import asyncio
import uuid

import msgspec
import pytest
from commandcenter.gitfixtures import GitSandbox
from commandcenter_contracts import (
    PhaseStartRequested,
    RunAccepted,
    phase_start_decoder,
    status_decoder,
    subjects,
)
from gateway_support import read_subject, stream_messages
from litestar import Litestar
from litestar.testing import AsyncTestClient
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from tests.support.presence import announced, without_claude

pytestmark = pytest.mark.integration

Client = AsyncTestClient[Litestar]


async def phase_starts(js: JetStreamContext, expect: int) -> list[PhaseStartRequested]:
    """What the planner would consume: the phase-start requests in CC_PHASES."""
    msgs = await stream_messages(js, subjects.STREAM_PHASES, subjects.PHASE_START)
    assert len(msgs) == expect
    starts = [phase_start_decoder.decode(m.data or b"") for m in msgs]
    for msg, start in zip(msgs, starts, strict=True):
        assert (msg.headers or {})["Nats-Msg-Id"] == start.run_id
    return starts


async def phase_start_count(js: JetStreamContext) -> int:
    info = await js.stream_info(subjects.STREAM_PHASES)
    return info.state.messages


async def test_post_runs_accepts_and_hands_the_run_to_the_planner(
    client: Client, js: JetStreamContext, plan_repo: GitSandbox
) -> None:
    body = {
        "plan_path": "docs/plans/MASTER_PLAN.md",
        "start_batch": 1,
        "end_batch": "3",
        "phase": 3,
        "mode": "local",
        "agent": "command",
        "agent_argv": ["python", "-c", "print('hi')"],
        "timeout_s": 120,
        "continue_on_failure": True,
        "remote": "origin",
    }
    r = await client.post("/api/v1/runs", json=body, headers={"X-Requested-By": "ann"})
    assert r.status_code == 202, r.text
    created = r.json()
    run_id = created["id"]
    uuid.UUID(run_id)
    assert created["execution_id"] == run_id
    assert created["status"] == "accepted"
    assert created["batches_scheduled"] == [1, 2, 3]
    assert created["tasks_scheduled"] == 9
    assert created["links"] == {
        "self": f"/api/v1/runs/{run_id}",
        "events": f"/api/v1/runs/{run_id}/events",
    }
    assert r.headers["location"] == f"/api/v1/runs/{run_id}"

    # The run row exists as soon as the answer is out, before any event is projected.
    view = (await client.get(f"/api/v1/runs/{run_id}")).json()
    assert view["id"] == run_id
    assert view["status"] == "accepted"
    assert view["mode"] == "local"
    assert view["agent"] == "command"
    assert view["requested_by"] == "admin"  # the token's name: a header cannot claim another
    assert view["repo"] == str(plan_repo.repo.resolve())
    assert view["plan_path"] == str((plan_repo.repo / "docs/plans/MASTER_PLAN.md").resolve())

    [start] = await phase_starts(js, 1)
    assert start.run_id == run_id
    assert start.selection.start_batch == "1"
    assert start.selection.end_batch == "3"
    assert start.selection.phase == "3"
    assert start.repo == str(plan_repo.repo.resolve())
    assert start.base_ref == "HEAD"
    assert start.remote == "origin"
    assert start.agent.name == "command"
    assert start.agent.argv == ["python", "-c", "print('hi')"]
    assert start.timeout_s == 120
    assert start.continue_on_failure is True
    assert start.requested_by == "admin"
    # The parsed plan travels with the request: the planner never reads the gateway's disk.
    phase3 = [b.number for b in start.plan.batches if b.phase == "3"]
    assert phase3 == ["1", "2", "3", "4", "5", "6"]
    assert start.plan.batches[2].tasks[0].title

    # RunAccepted came first on the run's status subject.
    [accepted_msg] = await read_subject(
        js, subjects.STREAM_STATUS, subjects.status_subject(run_id), expect=1
    )
    accepted = status_decoder.decode(accepted_msg.data)
    assert isinstance(accepted, RunAccepted)
    assert accepted.mode == "local"
    assert accepted.agent == "command"


async def test_compat_call_with_the_seeds_exact_body(
    client: Client, js: JetStreamContext, plan_repo: GitSandbox
) -> None:
    plan = plan_repo.repo / "docs" / "plans" / "SEED_PLAN.md"
    # operations-SKILL.md's curl body, with its placeholder path made real.
    raw = (
        "{\n"
        f'    "plan_path": "{plan}",\n'
        '    "start_batch": 31,\n'
        '    "end_batch": 37,\n'
        '    "execution_mode": "local"\n'
        "  }"
    )
    r = await client.post(
        "/api/v1/autonomous/start", content=raw, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "accepted"
    assert body["batches_scheduled"] == [31, 32, 33, 34, 35, 36, 37]
    run_id = body["execution_id"]

    status = await client.get(f"/api/v1/autonomous/{run_id}/status")
    assert status.status_code == 200
    assert status.json()["status"] == "accepted"
    assert status.json()["agent"] == "plan-follower"  # CC_DEFAULT_AGENT of the test settings

    [start] = await phase_starts(js, 1)
    assert (start.selection.start_batch, start.selection.end_batch) == ("31", "37")
    assert start.mode == "local"


async def test_compat_call_without_batch_numbers_runs_every_batch(
    client: Client, js: JetStreamContext
) -> None:
    # The body of cc4-MASTER_PLAN.md's "Run Pipeline" section, verbatim.
    raw = '{\n    "plan_path": "docs/plans/MASTER_PLAN.md",\n    "execution_mode": "dagger"\n  }'
    r = await client.post(
        "/api/v1/autonomous/start", content=raw, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 202, r.text
    assert r.json()["batches_scheduled"] == [1, 2, 1, 2, 3, 4, 5, 6]
    [start] = await phase_starts(js, 1)
    assert start.mode == "dagger"
    assert start.selection == msgspec.convert({}, type(start.selection))


async def test_ambiguous_selection_lists_candidates(client: Client, js: JetStreamContext) -> None:
    r = await client.post(
        "/api/v1/runs",
        json={"plan_path": "docs/plans/MASTER_PLAN.md", "start_batch": 1, "end_batch": 3},
    )
    assert r.status_code == 400, r.text
    body = r.json()
    assert "ambiguous" in body["detail"]
    assert body["extra"][0]["key"] == "selection"
    assert body["candidates"] == [
        "phase 1 batch 1: Pipeline Integration (COMPLETE)",
        "phase 3 batch 1: Core Infrastructure (3 tasks)",
    ]
    assert await phase_start_count(js) == 0
    assert (await client.get("/api/v1/runs")).json()["count"] == 0


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        ({"start_batch": 40}, "no batch matches"),
        ({"start_batch": 35, "end_batch": 32}, "after end batch"),
        ({"phase": "9"}, "phase 9 has no batches"),
    ],
)
async def test_selections_that_name_nothing_are_400(
    client: Client, selection: dict[str, object], expected: str
) -> None:
    r = await client.post(
        "/api/v1/runs", json={"plan_path": "docs/plans/SEED_PLAN.md", **selection}
    )
    assert r.status_code == 400, r.text
    assert expected in r.json()["detail"]
    assert r.json()["candidates"]


DEPENDENT_PLAN = """# Dependent
## Batch 1: Base
### Task 1.1: Schema
### Task 1.2: Loader
## Batch 2: API
**Dependencies:** Batch 1
### Task 2.1: Endpoint
"""


async def test_a_selection_that_leaves_out_dependencies_is_accepted_with_a_warning(
    client: Client, plan_repo: GitSandbox, js: JetStreamContext
) -> None:
    (plan_repo.repo / "DEPENDENT.md").write_text(DEPENDENT_PLAN)
    # An executor that can run the runs' agent: no warning of a missing one.
    async with announced(js, without_claude("host-a:1")):
        alone = await client.post(
            "/api/v1/runs", json={"plan_path": "DEPENDENT.md", "start_batch": 2}
        )
        assert alone.status_code == 202, alone.text
        assert alone.json()["warnings"] == [
            "batch 2 'API' depends on tasks 1.1, 1.2 of batch 1 'Base', which this run does not "
            "include; to build on an earlier run of it, set base_ref (--base-ref) to that run's "
            "integration branch"
        ]

        both = await client.post("/api/v1/runs", json={"plan_path": "DEPENDENT.md"})
        assert both.status_code == 202, both.text
        assert both.json()["warnings"] == []

        # A base ref says where the earlier work is: nothing to warn about.
        built_on = await client.post(
            "/api/v1/runs",
            json={"plan_path": "DEPENDENT.md", "start_batch": 2, "base_ref": "cc/earlier-run"},
        )
        assert built_on.status_code == 202, built_on.text
        assert built_on.json()["warnings"] == []


async def test_a_selection_without_tasks_is_400(client: Client, plan_repo: GitSandbox) -> None:
    (plan_repo.repo / "EMPTY.md").write_text("# Empty\n\n## Batch 1: Nothing yet\n\nLater.\n")
    r = await client.post("/api/v1/runs", json={"plan_path": "EMPTY.md"})
    assert r.status_code == 400, r.text
    assert "no tasks" in r.json()["detail"]


async def test_missing_plan_names_the_path(client: Client, plan_repo: GitSandbox) -> None:
    r = await client.post("/api/v1/runs", json={"plan_path": "docs/plans/NOPE.md"})
    assert r.status_code == 404
    assert str(plan_repo.repo / "docs" / "plans" / "NOPE.md") in r.json()["detail"]


async def test_unreadable_plans_name_the_path(client: Client, plan_repo: GitSandbox) -> None:
    folder = plan_repo.repo / "docs" / "folder.md"
    folder.mkdir()
    r = await client.post("/api/v1/runs", json={"plan_path": str(folder)})
    assert r.status_code == 400
    assert str(folder) in r.json()["detail"]

    latin1 = plan_repo.repo / "latin1.md"
    latin1.write_bytes("## Batch 1: Caf\xe9\n\n### Task 1.1: x\n".encode("latin-1"))
    r = await client.post("/api/v1/runs", json={"plan_path": "latin1.md"})
    assert r.status_code == 400
    assert str(latin1) in r.json()["detail"]
    assert r.json()["extra"][0]["key"] == "plan_path"


async def test_plan_outside_any_repository_needs_repo(
    client: Client, tmp_path_factory: pytest.TempPathFactory
) -> None:
    lonely = tmp_path_factory.mktemp("no-repo") / "PLAN.md"
    lonely.write_text("## Batch 1: One\n\n### Task 1.1: Do it\n")
    r = await client.post("/api/v1/runs", json={"plan_path": str(lonely)})
    assert r.status_code == 400
    assert r.json()["extra"][0]["key"] == "repo"

    elsewhere = tmp_path_factory.mktemp("elsewhere")
    r = await client.post(
        "/api/v1/runs", json={"plan_path": str(lonely), "repo": str(elsewhere / "missing")}
    )
    assert r.status_code == 404
    assert str(elsewhere / "missing") in r.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "plan_path"),
        ({"plan_path": ""}, "plan_path"),
        ({"plan_path": 7}, "plan_path"),
        ({"plan_path": "p.md", "execution_mode": "kubernetes"}, "execution_mode"),
        ({"plan_path": "p.md", "mode": "remote"}, "mode"),
        ({"plan_path": "p.md", "start_batch": True}, "start_batch"),
        ({"plan_path": "p.md", "start_batch": -1}, "start_batch"),
        ({"plan_path": "p.md", "end_batch": [1]}, "end_batch"),
        ({"plan_path": "p.md", "agent": "gpt"}, "agent"),
        ({"plan_path": "p.md", "agent_argv": "ls -la"}, "agent_argv"),
        ({"plan_path": "p.md", "timeout_s": 0}, "timeout_s"),
        ({"plan_path": "p.md", "base_ref": "--upload-pack=evil"}, "base_ref"),
        ({"plan_path": "p.md", "continue_on_failure": "yes"}, "continue_on_failure"),
        ({"plan_path": "p.md", "surprise": 1}, "surprise"),
    ],
)
async def test_bad_bodies_are_400_naming_the_field(
    client: Client, body: dict[str, object], field: str
) -> None:
    r = await client.post("/api/v1/runs", json=body)
    assert r.status_code == 400, r.text
    assert field in r.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"agent": "command"}, "agent_argv"),
        ({"agent": "claude", "agent_argv": ["x"]}, "agent_argv"),
        ({"mode": "local", "execution_mode": "dagger"}, "mode"),
        ({"repo": "https://example.invalid/r.git"}, "repo"),
    ],
)
async def test_inconsistent_requests_are_400_naming_the_field(
    client: Client, body: dict[str, object], field: str
) -> None:
    r = await client.post("/api/v1/runs", json={"plan_path": "docs/plans/SEED_PLAN.md", **body})
    assert r.status_code == 400, r.text
    assert r.json()["extra"][0]["key"] == field


async def test_malformed_json_is_400(client: Client) -> None:
    for endpoint in ("/api/v1/runs", "/api/v1/autonomous/start", "/api/v1/plans/parse"):
        r = await client.post(
            endpoint, content=b'{"plan_path": ', headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 400, (endpoint, r.text)
        assert r.json()["status_code"] == 400


async def test_idempotency_key_returns_the_same_run_once(
    client: Client, js: JetStreamContext
) -> None:
    body = {"plan_path": "docs/plans/TWO.md"}
    headers = {"Idempotency-Key": "retry-me-1"}
    first = await client.post("/api/v1/runs", json=body, headers=headers)
    second = await client.post("/api/v1/runs", json=body, headers=headers)
    assert first.status_code == 202, first.text
    assert second.status_code == 202, second.text
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers

    # Concurrent retries with one key: still a single run.
    burst = await asyncio.gather(
        *(
            client.post("/api/v1/runs", json=body, headers={"Idempotency-Key": "burst"})
            for _ in range(4)
        )
    )
    assert {r.status_code for r in burst} == {202}
    assert len({r.json()["id"] for r in burst}) == 1

    other = await client.post("/api/v1/runs", json=body)
    assert other.json()["id"] != first.json()["id"]

    runs = (await client.get("/api/v1/runs")).json()
    assert runs["count"] == 3
    await phase_starts(js, 3)
    assert await phase_start_count(js) == 3

    reused = await client.post("/api/v1/runs", json={**body, "start_batch": 2}, headers=headers)
    assert reused.status_code == 422
    assert "Idempotency-Key" in reused.text


async def test_unknown_or_malformed_run_ids_are_404(client: Client) -> None:
    for path in (
        f"/api/v1/runs/{uuid.uuid4()}",
        "/api/v1/runs/not-a-uuid",
        "/api/v1/autonomous/%F0%9F%92%A5/status",
        f"/api/v1/runs/{uuid.uuid4()}/events",
        "/api/v1/runs/zzz/events",
        f"/api/v1/runs/{uuid.uuid4()}/tasks/{uuid.uuid4()}/log",
        f"/api/v1/runs/{uuid.uuid4()}/tasks/a.b.c/log",
    ):
        r = await client.get(path)
        assert r.status_code == 404, (path, r.text)
        assert "not found" in r.json()["detail"]


async def test_list_runs_newest_first_with_filters(client: Client) -> None:
    ids = []
    for _ in range(3):
        r = await client.post("/api/v1/runs", json={"plan_path": "docs/plans/TWO.md"})
        ids.append(r.json()["id"])
    listed = (await client.get("/api/v1/runs")).json()
    assert [item["id"] for item in listed["items"]] == ids[::-1]
    assert listed["items"][0]["status"] == "accepted"
    limited = (await client.get("/api/v1/runs", params={"limit": 2})).json()
    assert limited["count"] == 2
    assert (await client.get("/api/v1/runs", params={"status": "succeeded"})).json()["count"] == 0
    for params in ({"limit": 0}, {"limit": 501}, {"limit": "x"}, {"status": "bogus"}):
        r = await client.get("/api/v1/runs", params=params)
        assert r.status_code == 400, (params, r.text)


async def test_nothing_published_for_refused_requests(client: Client, js: JetStreamContext) -> None:
    await client.post("/api/v1/runs", json={"plan_path": "docs/plans/NOPE.md"})
    await client.post("/api/v1/runs", json={"plan_path": "docs/plans/TWO.md", "agent": "x"})
    assert await phase_start_count(js) == 0
    with pytest.raises(NotFoundError):
        await js.get_last_msg(subjects.STREAM_STATUS, subjects.STATUS_ALL)
