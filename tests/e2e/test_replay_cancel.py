"""Replay and cancel on the whole stack: gateway → planner → two local executors → git.

(a) A run halts on a failed verification; the task is replayed with a verification that
    passes (twice, with one Idempotency-Key: one attempt); the run resumes, its next batch
    runs, and the task's branch holds exactly the new attempt's commit over the base: a
    replay resets the old branch, locally and on the remote, instead of stacking on it.
(b) A run whose agent sleeps (and has a child process) is cancelled: the task is cancelled,
    both processes are gone, the run is cancelled and its next batch never starts.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from cc_bus import connect
from cc_bus.permissions import OPERATOR
from commandcenter.gitfixtures import git
from commandcenter.stack import Stack
from commandcenter_contracts import subjects

from tests.e2e.helpers import (
    api_client,
    create_task,
    plan_text,
    read_events,
    sandbox_with_plan,
    start_run,
    tasks_of,
    wait_for_run,
)
from tests.support.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_a_replayed_task_resumes_the_run_on_a_reset_branch(stack: Stack, tmp_path: Path) -> None:
    text = plan_text(
        [
            create_task("1.1", "ok.txt", "fine"),
            # creates made.txt, but checks a file nobody creates: VERIFICATION_FAILED
            create_task("1.2", "made.txt", "made by 1.2", verify="test -s missing.txt"),
        ],
        [create_task("2.1", "later.txt", "after the replay")],
    )
    sandbox, plan = sandbox_with_plan(tmp_path / "git", text)
    base = git(sandbox.repo, "rev-parse", "HEAD").strip()

    with api_client(stack) as client:
        run_id = start_run(client, plan, start_batch="1", end_batch="2", agent="plan-follower")
        halted = wait_for_run(client, run_id)
        assert halted["status"] == "halted", halted
        failed = tasks_of(halted)["1.2"]
        assert (failed["status"], failed["error_code"], failed["attempt"]) == (
            "failed",
            "VERIFICATION_FAILED",
            1,
        )
        assert tasks_of(halted)["2.1"]["status"] == "pending"
        branch = failed["branch"]
        # As if attempt 1 had pushed its work: its commit is on the remote branch now.
        git(sandbox.repo, "push", "-q", "origin", branch)
        old_tip = git(sandbox.remote, "rev-parse", branch).strip()
        assert len(sandbox.commits_between(halted["integration_commit"], branch)) == 1

        url = f"/api/v1/tasks/{failed['task_id']}/replay"
        body = {"verification": ["test -s made.txt"]}
        headers = {"Idempotency-Key": f"e2e-replay-{run_id}"}
        first = client.post(url, json=body, headers=headers)
        assert first.status_code == 202, first.text
        again = client.post(url, json=body, headers=headers)
        assert again.status_code == 202, again.text
        assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
        assert first.json()["attempt"] == 2

        done = eventually_sync(
            lambda: (
                (v := client.get(f"/api/v1/runs/{run_id}").json())["status"] == "succeeded" and v
            ),
            within_s=120,
            what="the resumed run to succeed",
        )
        events = read_events(client, run_id)

    tasks = tasks_of(done)
    assert (tasks["1.2"]["status"], tasks["1.2"]["attempt"]) == ("succeeded", 2)
    assert tasks["1.1"]["attempt"] == 1  # only the failed task ran again
    assert (tasks["2.1"]["status"], done["batches"][1]["status"]) == ("succeeded", "succeeded")
    assert done["counts"]["succeeded"] == 3

    # One replay, one attempt: attempt 2 queued and started once, no attempt 3.
    mine = [e for e in events if e.data.get("task_id") == failed["task_id"]]
    assert [e.data["attempt"] for e in mine if e.type == "task.queued"] == [1, 2]
    assert [e.data["attempt"] for e in mine if e.type == "task.started"] == [1, 2]
    types = [e.type for e in events]
    assert types.index("run.halted") < types.index("run.succeeded")
    assert types[-1] == "run.succeeded"

    # The branch was reset to the integration tip (1.1's work) and replaced with a lease:
    # exactly one commit of its own, attempt 2's; once integrated, the branch left the remote
    # (the failed attempt 1 kept it there until then) and the repository.
    integration = done["integration_branch"]
    tip_1_1 = tasks["1.1"]["integrated_commit"]
    (landed_2,) = [e.data["commit"] for e in mine if e.type == "task.succeeded"]
    (commit,) = sandbox.commits_between(tip_1_1, landed_2)
    assert commit == landed_2 != old_tip
    message = git(sandbox.remote, "log", "-1", "--format=%B", commit)
    assert "CommandCenter-Attempt: 2" in message
    assert sandbox.file_at(commit, "made.txt").strip() == "made by 1.2"
    assert sandbox.file_at(commit, "ok.txt").strip() == "fine"  # it started from the tip
    assert branch not in sandbox.remote_branches()
    assert git(sandbox.repo, "branch", "--list", branch) == ""
    # Attempt 2 landed once, after 1.1 and before 2.1; attempt 1 never did.
    line = git(sandbox.remote, "log", "--first-parent", "--format=%B%x00", f"{base}..{integration}")
    messages = [m for m in line.split("\x00") if m.strip()]
    assert len(messages) == 3
    assert "CommandCenter-Attempt: 2" in messages[1] and failed["task_id"] in messages[1]


AGENT = """
import os, subprocess, sys, time
pids = sys.argv[1]
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
with open(os.path.join(pids, "child.pid"), "w") as f:
    f.write(str(child.pid))
with open(os.path.join(pids, "agent.pid"), "w") as f:
    f.write(str(os.getpid()))
time.sleep(300)
"""


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; only its parent has not collected it yet


async def _planner_idle(nats_url: str) -> bool:
    nc = await connect(nats_url, name="e2e-check")
    try:
        info = await nc.jetstream().consumer_info(
            subjects.STREAM_STATUS, subjects.CONSUMER_PLANNER_PROGRESS
        )
        return info.num_pending == 0 and info.num_ack_pending == 0
    finally:
        await nc.close()


def test_cancel_kills_the_agents_process_tree_and_stops_the_run(
    stack: Stack, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    agent = tmp_path / "sleepy_agent.py"
    agent.write_text(AGENT)
    text = plan_text(
        [create_task("1.1", "slow.txt", "never written")],
        [create_task("2.1", "later.txt", "never written either")],
    )
    _, plan = sandbox_with_plan(tmp_path / "git", text)
    started: list[int] = []
    try:
        with api_client(stack) as client:
            run_id = start_run(
                client,
                plan,
                start_batch="1",
                end_batch="2",
                agent="command",
                agent_argv=[sys.executable, str(agent), str(pids)],
            )
            eventually_sync(
                lambda: (pids / "agent.pid").exists() and (pids / "child.pid").exists(),
                within_s=90,
                what="the agent and its child to start",
            )
            agent_pid = int((pids / "agent.pid").read_text())
            child_pid = int((pids / "child.pid").read_text())
            started += [agent_pid, child_pid]
            assert _alive(agent_pid) and _alive(child_pid)

            r = client.post(f"/api/v1/runs/{run_id}/cancel", json={"reason": "e2e: stop"})
            assert r.status_code == 202, r.text
            assert r.json()["previous_status"] == "running"

            # Well before the agent's 300 s sleep would end: both processes are gone.
            eventually_sync(
                lambda: not _alive(agent_pid) and not _alive(child_pid),
                within_s=30,
                what="the agent's process tree to be killed",
            )
            view = eventually_sync(
                lambda: (
                    (v := client.get(f"/api/v1/runs/{run_id}").json())["status"] == "cancelled"
                    and tasks_of(v)["1.1"]["error"] != "e2e: stop"  # the executor's own report
                    and v
                ),
                within_s=60,
                what="the run cancelled and the kill reported",
            )
            assert stack.nats is not None
            operator_url = stack.nats.url_as(OPERATOR)
            eventually_sync(
                lambda: asyncio.run(_planner_idle(operator_url)),
                within_s=60,
                what="the planner to have seen everything",
            )
            events = read_events(client, run_id)
            final = client.get(f"/api/v1/runs/{run_id}").json()
    finally:
        for pid in started:  # only if the test failed before the kill
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)

    task = tasks_of(view)["1.1"]
    assert (task["status"], task["error_code"]) == ("cancelled", "CANCELLED")
    assert final["status"] == "cancelled"
    assert final["batches"][1]["started_at"] is None
    assert final["batches"][1]["status"] == "cancelled"
    assert tasks_of(final)["2.1"]["status"] == "cancelled"
    assert not [e for e in events if e.type == "batch.started" and e.data["batch_index"] == 1]
    assert "run.cancelled" in [e.type for e in events]
    outcome = [e for e in events if e.type == "task.failed"]
    assert [e.data["error_code"] for e in outcome] == ["CANCELLED"]
    assert not [e for e in events if e.type in ("run.halted", "run.succeeded", "batch.completed")]
