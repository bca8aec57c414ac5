"""A real plan, end to end: gateway → planner → two local executors → git → PostgreSQL → SSE.

Real nats-server, real PostgreSQL, real git repositories with a bare remote; nothing of ours
is mocked.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from commandcenter.gitfixtures import git
from commandcenter.main import main
from commandcenter.stack import Stack

from tests.e2e.helpers import (
    api_client,
    create_task,
    noop_task,
    plan_text,
    read_events,
    sandbox_with_plan,
    start_run,
    wait_for_run,
)
from tests.e2e.metrics_scrape import TASK_STEPS, scrape, scrape_services, total
from tests.support.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

TERMINAL_TASK = {"task.succeeded", "task.failed"}


def _pg_rows(stack: Stack, sql: str, *args: object) -> list[asyncpg.Record]:
    assert stack.postgres is not None

    async def query() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(stack.postgres.url)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return asyncio.run(query())


def test_a_two_batch_plan_runs_end_to_end(stack: Stack, tmp_path: Path) -> None:
    files = {
        "1.1": ("src/alpha.txt", "alpha"),
        "1.2": ("src/beta.txt", "beta"),
        "2.1": ("docs/gamma.md", "# gamma"),
        "2.2": ("docs/delta.md", "# delta"),
    }
    text = plan_text(
        [create_task(n, *files[n]) for n in ("1.1", "1.2")],
        # batch 2's check needs batch 1's file: it passes because 2.1 starts from that work
        [
            create_task("2.1", *files["2.1"], verify="test -s src/alpha.txt"),
            create_task("2.2", *files["2.2"]),
        ],
    )
    sandbox, plan = sandbox_with_plan(tmp_path / "git", text)
    base = git(sandbox.repo, "rev-parse", "HEAD").strip()
    user_head_before = git(sandbox.repo, "rev-parse", "--abbrev-ref", "HEAD").strip()

    with api_client(stack) as client:
        run_id = start_run(client, plan, start_batch="1", end_batch="2", agent="plan-follower")
        # A client that drops after 5 events and reconnects with Last-Event-ID.
        first = read_events(client, run_id, limit=5)
        rest = read_events(client, run_id, last_event_id=str(first[-1].seq))
        everything = read_events(client, run_id)  # a fresh client replays the whole history
        view = wait_for_run(client, run_id)

    # --- SSE: resumed stream has no gap and no duplicate ------------------------------------
    resumed = first + rest
    assert [e.seq for e in resumed] == [e.seq for e in everything]
    assert len({e.data["event_id"] for e in everything}) == len(everything)
    types = [e.type for e in everything]
    assert types[0] == "run.accepted"
    assert types[-1] == "run.succeeded"

    # --- order: per task queued < started < succeeded; batch 2 only after batch 1 ---------
    position = {
        (e.type, e.data.get("task_id"), e.data.get("batch_index")): i
        for i, e in enumerate(everything)
    }
    tasks = {e.data["task_id"]: e.data for e in everything if e.type == "task.queued"}
    assert len(tasks) == 4
    for task_id in tasks:
        queued = position[("task.queued", task_id, tasks[task_id]["batch_index"])]
        started = position[("task.started", task_id, None)]
        succeeded = position[("task.succeeded", task_id, None)]
        assert queued < started < succeeded
    batch_1_outcomes = [
        i
        for i, e in enumerate(everything)
        if e.type in TERMINAL_TASK and tasks[e.data["task_id"]]["batch_index"] == 0
    ]
    batch_2_start = position[("batch.started", None, 1)]
    assert max(batch_1_outcomes) < position[("batch.completed", None, 0)] < batch_2_start
    batch_2_starts = [
        e.data["at"]
        for e in everything
        if e.type == "task.started" and tasks[e.data["task_id"]]["batch_index"] == 1
    ]
    batch_1_ends = [
        e.data["at"]
        for e in everything
        if e.type == "task.succeeded" and tasks[e.data["task_id"]]["batch_index"] == 0
    ]
    assert max(map(datetime.fromisoformat, batch_1_ends)) <= min(
        map(datetime.fromisoformat, batch_2_starts)
    )

    # --- two executor replicas, yet no two tasks overlapped in time ---------------------
    intervals = []
    for task_id in tasks:
        start = next(
            e for e in everything if e.type == "task.started" and e.data["task_id"] == task_id
        )
        end = next(
            e for e in everything if e.type == "task.succeeded" and e.data["task_id"] == task_id
        )
        intervals.append(
            (
                datetime.fromisoformat(start.data["at"]),
                datetime.fromisoformat(end.data["at"]),
                start.data["executor"],
            )
        )
    intervals.sort()
    for (_, end, _), (next_start, _, _) in itertools.pairwise(intervals):
        assert end <= next_start, f"tasks overlapped: {intervals}"

    # --- git: every task's commit, with its file and exactly one new commit; its branch
    # left the remote when the task was integrated (the commit stays in the object store) --
    branches = {
        e.data["task_id"]: e.data["branch"] for e in everything if e.type == "task.succeeded"
    }
    commits = {
        e.data["task_id"]: e.data["commit"] for e in everything if e.type == "task.succeeded"
    }
    integration = view["integration_branch"]
    assert integration == f"cc/{run_id[:8]}/integration"
    view_tasks = {t["task_id"]: t["integrated_commit"] for b in view["batches"] for t in b["tasks"]}
    remote_branches = sandbox.remote_branches()
    for task_id, data in tasks.items():
        branch, commit = branches[task_id], commits[task_id]
        assert branch not in remote_branches
        assert branch.startswith(f"cc/{run_id[:8]}/")
        path, content = files[data["plan_task_id"]]
        assert sandbox.file_at(commit, path).strip() == content
        # one commit of its own, on the integration tip it started from (local mode runs one
        # task at a time, so that tip is the parent of the task's integrated commit)
        assert len(sandbox.commits_between(f"{view_tasks[task_id]}^", commit)) == 1
    # --- the run's work adds up: one commit per task on the integration branch -----------
    landed = git(sandbox.remote, "log", "--first-parent", "--format=%H", f"{base}..{integration}")
    assert len(landed.split()) == 4
    assert view["integration_commit"] == landed.split()[0]
    for path, content in files.values():
        assert sandbox.file_at(integration, path).strip() == content
    integrated = {
        e.data["task_id"]: e.data["commit"] for e in everything if e.type == "task.integrated"
    }
    assert set(integrated.values()) == set(landed.split())
    assert [e.type for e in everything].count("batch.integrated") == 2
    for batch in view["batches"]:
        assert batch["integrated_commit"] in landed.split()
        for task in batch["tasks"]:
            assert task["integrated_commit"] == integrated[task["task_id"]]
    # land "branch": the base branch did not move
    assert git(sandbox.remote, "rev-parse", "main").strip() == base
    # the user's checkout was never touched
    assert git(sandbox.repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == user_head_before
    assert git(sandbox.repo, "status", "--porcelain").strip() == ""

    # --- the read model: API view and PostgreSQL agree on the final state ----------------
    assert view["status"] == "succeeded"
    assert view["counts"]["succeeded"] == 4 and view["counts"]["total"] == 4
    assert [b["status"] for b in view["batches"]] == ["succeeded", "succeeded"]
    rows = _pg_rows(stack, "SELECT status, branch, attempt FROM tasks WHERE run_id = $1", run_id)
    assert sorted(r["status"] for r in rows) == ["succeeded"] * 4
    assert {r["branch"] for r in rows} == set(branches.values())
    (run_row,) = _pg_rows(stack, "SELECT status, finished_at FROM runs WHERE id = $1", run_id)
    assert run_row["status"] == "succeeded" and run_row["finished_at"] is not None
    stored = _pg_rows(stack, "SELECT count(*) AS n FROM events WHERE run_id = $1", run_id)
    assert stored[0]["n"] == len(everything)


@pytest.mark.parametrize(
    ("case", "expected_code"),
    [
        ("no_changes", "NO_CHANGES"),
        ("verification", "VERIFICATION_FAILED"),
        ("agent_missing", "AGENT_NOT_FOUND"),
    ],
)
def test_a_failed_task_halts_the_run_after_its_batch(
    stack: Stack, tmp_path: Path, case: str, expected_code: str
) -> None:
    batch_1 = [create_task("1.1", "ok.txt", "fine")]
    agent: dict[str, object] = {"agent": "plan-follower"}
    if case == "no_changes":
        batch_1.append(noop_task("1.2"))
    elif case == "verification":
        batch_1.append(create_task("1.2", "bad.txt", "x", verify="test -s missing.txt"))
    else:
        # The executors can run agent `command` (the gateway accepts the run): its program is
        # looked for per task, so a missing one still fails the task AGENT_NOT_FOUND. An agent
        # no live executor can run at all is refused first (the test below).
        batch_1.append(create_task("1.2", "never.txt", "x"))
        agent = {"agent": "command", "agent_argv": ["cc-no-such-agent-binary", "--go"]}
    text = plan_text(batch_1, [create_task("2.1", "later.txt", "never runs")])
    sandbox, plan = sandbox_with_plan(tmp_path / "git", text)

    with api_client(stack) as client:
        run_id = start_run(client, plan, **agent)
        events = read_events(client, run_id)
        view = wait_for_run(client, run_id)

    assert events[-1].type == "run.halted"
    failed = [e for e in events if e.type == "task.failed"]
    assert {e.data["error_code"] for e in failed} == {expected_code}
    assert all(not e.data["recoverable"] for e in failed)
    # batch 2 was never started, and its task never dispatched
    assert not [e for e in events if e.type == "batch.started" and e.data["batch_index"] == 1]
    assert view["status"] == "halted"
    assert view["batches"][1]["status"] == "pending"
    assert all(
        t["status"] not in {"running", "succeeded", "failed"} for t in view["batches"][1]["tasks"]
    )
    statuses = {t["plan_task_id"]: t for t in view["batches"][0]["tasks"]}
    assert statuses["1.2"]["status"] == "failed"
    assert statuses["1.2"]["error_code"] == expected_code
    if case != "agent_missing":
        # the other task of the batch still drained before the halt
        assert statuses["1.1"]["status"] == "succeeded"
    assert not any(b.startswith("cc/") and "2.1" in b for b in sandbox.remote_branches())


def test_a_run_for_an_agent_no_live_executor_can_run_is_refused_naming_it(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The stack's two local executors have no Claude CLI (CC_CLAUDE_BIN names none), and no
    # dagger executor runs.
    _, plan = sandbox_with_plan(tmp_path / "git", plan_text([create_task("1.1", "a.txt", "a")]))
    with api_client(stack) as client:

        def both_alive() -> list[dict[str, Any]] | None:
            items: list[dict[str, Any]] = client.get("/api/v1/executors").json()["items"]
            return items if len(items) == 2 else None

        executors = eventually_sync(both_alive, within_s=60, what="both executors announced")
        ids = sorted(e["executor_id"] for e in executors)
        for executor in executors:
            assert executor["mode"] == "local" and executor["version"]
            assert executor["agents"]["claude"]["available"] is False
            assert executor["agents"]["plan-follower"]["available"] is True

        refused = client.post(
            "/api/v1/runs", json={"plan_path": str(plan), "agent": "claude", "mode": "local"}
        )
        assert refused.status_code == 409, refused.text
        body = refused.json()
        assert "no live local executor can run agent 'claude' (checked 2: " in body["detail"]
        assert all(f"{i} can run command, plan-follower; claude: " in body["detail"] for i in ids)
        assert body["extra"]["agent"] == "claude"
        assert sorted(e["executor_id"] for e in body["extra"]["executors"]) == ids

        # No dagger executor is alive: accepted (KEDA may start one), with a warning.
        waiting = client.post(
            "/api/v1/runs", json={"plan_path": str(plan), "agent": "claude", "mode": "dagger"}
        )
        assert waiting.status_code == 202, waiting.text
        assert waiting.json()["warnings"] == [
            "no dagger executor is alive now: the run waits until one starts, and whether it "
            "can run agent 'claude' was not checked"
        ]
        run_id = waiting.json()["id"]
        assert client.post(f"/api/v1/runs/{run_id}/cancel", json={}).status_code == 202
        assert wait_for_run(client, run_id)["status"] == "cancelled"

    # The command line lists the same executors, found through the stack's data directory.
    capsys.readouterr()
    assert main(["executors", "--json", "--data-dir", str(stack.data_dir)]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted(e["executor_id"] for e in listed) == ids


# Waits (bounded) for the test to create the flag file, then does the task's work: the task is
# running, its message held, for exactly as long as the test needs to look.
WAITING_AGENT = """
import pathlib, sys, time
flag = pathlib.Path(sys.argv[1])
for _ in range(1200):
    if flag.exists():
        break
    time.sleep(0.05)
pathlib.Path("counted.txt").write_text("counted\\n")
"""


def test_every_service_answers_metrics_with_what_happened(stack: Stack, tmp_path: Path) -> None:
    flag = tmp_path / "go"
    text = plan_text([create_task("1.1", "counted.txt", "counted")])
    _, plan = sandbox_with_plan(tmp_path / "git", text)
    argv = [sys.executable, "-c", WAITING_AGENT, str(flag)]
    gateway = stack.metrics_urls["gateway"]

    with api_client(stack) as client:
        run_id = start_run(client, plan, agent="command", agent_argv=argv)
        headers = {"Accept": "text/event-stream"}
        with client.stream("GET", f"/api/v1/runs/{run_id}/events", headers=headers) as events:
            lines = events.iter_lines()
            next(lines)  # the stream is being served

            def while_it_runs() -> bool:
                now = scrape(gateway)
                return (
                    now.value("cc_sse_clients") >= 1
                    and now.value("cc_queue_pending", consumer="executor-local") >= 1
                )

            # The running task's message is ack-pending on its durable: the figure KEDA reads.
            eventually_sync(while_it_runs, within_s=60, what="an open stream and a held task")
            flag.touch()
            for _ in lines:  # to the run's end
                pass
        view = wait_for_run(client, run_id)
    assert view["status"] == "succeeded", view

    # --- gateway: runs, queues, streams, HTTP requests ----------------------------------------
    def settled() -> bool:
        now = scrape(gateway)
        return (
            now.value("cc_sse_clients") == 0
            and now.value("cc_queue_pending", consumer="executor-local") == 0
        )

    eventually_sync(settled, within_s=30, what="the stream closed and the queue drained")
    seen = scrape(gateway)
    assert seen.value("cc_runs", status="succeeded") >= 1
    assert {"accepted", "running", "halted", "failed", "cancelled"} <= seen.label_values(
        "cc_runs", "status"
    )
    assert {"executor-local", "planner", "planner-progress", "gateway-projector"} <= (
        seen.label_values("cc_queue_pending", "consumer")
    )
    started = {"method": "POST", "path": "/api/v1/runs", "status_code": "202"}
    assert seen.value("cc_http_requests_total", **started) >= 1
    assert seen.value("cc_http_request_duration_seconds_count", **started) >= 1
    assert "cc_http_requests_in_progress" in seen.families

    # --- planner: its durables settled the run's messages -------------------------------------
    planner = scrape(stack.metrics_urls["planner"])
    assert planner.value("cc_messages_settled_total", consumer="planner", result="ack") >= 1
    assert planner.value("cc_messages_settled_total", consumer="planner-progress") >= 1

    # --- executors: both list the task families; together they ran the task -------------------
    executors = scrape_services(stack, "executor-local").values()
    assert len(executors) == 2
    for one in executors:
        assert {"cc_tasks_finished_total", "cc_task_step_seconds", "cc_agent_cost_usd_total"} <= (
            one.families
        )
    succeeded = {"mode": "local", "outcome": "succeeded"}
    assert total(executors, "cc_tasks_finished_total", **succeeded) >= 1
    for step in TASK_STEPS:
        labels = {"mode": "local", "step": step}
        assert total(executors, "cc_task_step_seconds_count", **labels) >= 1, step
        assert total(executors, "cc_task_step_seconds_sum", **labels) > 0, step
    assert total(executors, "cc_messages_settled_total", consumer="executor-local") >= 1
