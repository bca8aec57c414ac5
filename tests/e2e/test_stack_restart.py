"""A second `up` on the same data directory resumes with the data intact."""

from __future__ import annotations

from pathlib import Path

import pytest
from commandcenter.gitfixtures import git, make_git_sandbox
from commandcenter.servers import free_port
from commandcenter.stack import Stack

from tests.e2e.helpers import (
    api_client,
    create_task,
    plan_text,
    read_events,
    start_run,
    wait_for_run,
)
from tests.support.roots import pytest_roots

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_a_restarted_stack_keeps_its_runs_events_and_consumers(tmp_path: Path) -> None:
    data_dir = tmp_path / "cc"
    sandbox = make_git_sandbox(tmp_path / "git")
    plan = sandbox.repo / "PLAN.md"
    plan.write_text(plan_text([create_task("1.1", "kept.txt", "kept")]))
    git(sandbox.repo, "add", "PLAN.md")
    git(sandbox.repo, "commit", "-q", "-m", "plan")

    port, roots = free_port(), pytest_roots(tmp_path)
    first = Stack(
        data_dir, gateway_port=port, dagger_executors=0, say=lambda _: None, extra_env=roots
    )
    try:
        first.start(ready_timeout=90)
        with api_client(first) as client:
            run_id = start_run(client, plan, agent="plan-follower")
            before = read_events(client, run_id)
            assert wait_for_run(client, run_id)["status"] == "succeeded"
    finally:
        first.stop()
    assert not (data_dir / "stack.json").exists()

    second = Stack(
        data_dir, gateway_port=port, dagger_executors=0, say=lambda _: None, extra_env=roots
    )
    try:
        second.start(ready_timeout=90)
        with api_client(second) as client:
            view = client.get(f"/api/v1/runs/{run_id}").json()
            assert view["status"] == "succeeded"
            assert view["counts"]["succeeded"] == 1
            # the event history is still in JetStream's file store, sequence numbers included
            after = read_events(client, run_id)
            assert [(e.seq, e.data["event_id"]) for e in after] == [
                (e.seq, e.data["event_id"]) for e in before
            ]
            # and the restarted stack still runs new work
            again = start_run(client, plan, agent="plan-follower")
            assert wait_for_run(client, again)["status"] == "succeeded"
            listed = {r["id"] for r in client.get("/api/v1/runs").json()["items"]}
            assert {run_id, again} <= listed
    finally:
        second.stop()
