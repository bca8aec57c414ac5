"""A run's work adds up, in dagger mode (engine-less, 2 replicas x 2 slots): tasks of one batch
run in parallel from the integration tip, clash, heal by running again from the new tip, and
land exactly once; with their `Files:` declared they never run at the same time."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from commandcenter.gitfixtures import GitSandbox, git, make_git_sandbox
from commandcenter.stack import Stack

from tests.e2e.helpers import api_client, read_events, running_stack, start_run, wait_for_run
from tests.e2e.metrics_scrape import TASK_STEPS, scrape, scrape_services, total

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

# The agent appends its task's id to log.txt (after a pause, so the three tasks of batch 1 run
# at the same time) — three parallel changes to the end of one file, which git cannot combine.
AGENT = """
import json, os, pathlib, time
task = json.loads(pathlib.Path(os.environ["CC_TASK_FILE"]).read_text())
time.sleep(1.0)
log = pathlib.Path("log.txt")
if task["batch_index"] == 0:
    log.write_text((log.read_text() if log.exists() else "") + task["plan_task_id"] + "\\n")
else:
    pathlib.Path("seen.txt").write_text(log.read_text())
"""

ALL_THREE = (
    "python3 -c \"import sys; lines = open('log.txt').read().split(); "
    "sys.exit(0 if sorted(lines) == ['1.1', '1.2', '1.3'] else 1)\""
)


def _plan(*, declare_files: bool) -> str:
    files = "**Files:**\n- Modify: log.txt\n\n" if declare_files else ""
    tasks = [
        f"### Task 1.{n}: Append line {n}\n\n{files}Append this task's id to log.txt.\n\n"
        "**Verification:**\n- `test -s log.txt`\n"
        for n in (1, 2, 3)
    ]
    later = (
        "### Task 2.1: Read what batch 1 wrote\n\nCopy log.txt to seen.txt.\n\n"
        f"**Verification:**\n- `{ALL_THREE}`\n- `test -s seen.txt`\n"
    )
    return "\n".join(
        ["# Integration plan", "", "## Batch 1: Parallel", "", *tasks, "## Batch 2: After", later]
    )


@pytest.fixture(scope="module")
def dagger_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(
        tmp_path_factory.mktemp("stack"),
        local_executors=0,
        dagger_executors=2,
        extra_env={"CC_DAGGER_SLOTS": "2", "CC_DAGGER_BACKEND": "engineless"},
        say=lambda _: None,
    ) as running:
        yield running


def _run(stack: Stack, root: Path, *, declare_files: bool) -> tuple[GitSandbox, dict, list]:
    sandbox = make_git_sandbox(root)
    plan = sandbox.repo / "PLAN.md"
    plan.write_text(_plan(declare_files=declare_files))
    with api_client(stack) as client:
        run_id = start_run(
            client,
            plan,
            execution_mode="dagger",
            agent="command",
            agent_argv=[sys.executable, "-c", AGENT],
        )
        view = wait_for_run(client, run_id, timeout=240)
        events = read_events(client, run_id)
    return sandbox, view, events


def _landed_lines(sandbox: GitSandbox, view: dict) -> list[str]:
    return sandbox.file_at(view["integration_branch"], "log.txt").split()


def _intervals(events: list) -> list[tuple[datetime, datetime, str]]:
    """(started, finished, task id) of every attempt that finished, by start time."""
    starts = {
        (e.data["task_id"], e.data["attempt"]): e.data["at"]
        for e in events
        if e.type == "task.started"
    }
    return sorted(
        (
            datetime.fromisoformat(starts[(e.data["task_id"], e.data["attempt"])]),
            datetime.fromisoformat(e.data["at"]),
            e.data["task_id"],
        )
        for e in events
        if e.type in ("task.succeeded", "task.failed")
        and (e.data["task_id"], e.data["attempt"]) in starts
    )


def test_parallel_tasks_that_clash_heal_and_land_exactly_once(
    dagger_stack: Stack, tmp_path: Path
) -> None:
    sandbox, view, events = _run(dagger_stack, tmp_path / "git", declare_files=False)

    assert view["status"] == "succeeded", view
    # every line of batch 1 is on the integration branch exactly once
    assert sorted(_landed_lines(sandbox, view)) == ["1.1", "1.2", "1.3"]
    # the batch-2 task started from the tip holding all three (its check says so too)
    integration = view["integration_branch"]
    assert sorted(sandbox.file_at(integration, "seen.txt").split()) == ["1.1", "1.2", "1.3"]
    # one commit per task on the integration branch, nothing else
    base = git(sandbox.repo, "rev-parse", "main").strip()
    line = git(sandbox.remote, "rev-list", "--first-parent", f"{base}..{integration}").split()
    assert len(line) == 4
    # parallel tasks clashed, and the clash healed by running again from the new tip
    reworks = [e for e in events if e.type == "task.failed" and e.data.get("rework")]
    assert reworks, "the three parallel appends should have clashed at least once"
    assert all(e.data["will_retry"] for e in reworks)
    assert {e.data["rework"]["files"][0] for e in reworks} == {"log.txt"}
    tasks = {t["plan_task_id"]: t for b in view["batches"] for t in b["tasks"]}
    assert max(t["attempt"] for t in tasks.values()) > 1
    assert all(t["integrated_commit"] in line for t in tasks.values())
    assert git(sandbox.remote, "rev-parse", "main").strip() == base  # land "branch"


def test_tasks_whose_files_overlap_never_run_at_the_same_time(
    dagger_stack: Stack, tmp_path: Path
) -> None:
    sandbox, view, events = _run(dagger_stack, tmp_path / "git", declare_files=True)

    assert view["status"] == "succeeded", view
    assert _landed_lines(sandbox, view) == ["1.1", "1.2", "1.3"]  # in plan order
    batch_1 = {t["task_id"] for t in view["batches"][0]["tasks"]}
    intervals = [i for i in _intervals(events) if i[2] in batch_1]
    assert len(intervals) == 3
    for (_, end, _), (start, _, _) in itertools.pairwise(intervals):
        assert end <= start, f"overlapping tasks ran at the same time: {intervals}"
    # no clash, so no re-run
    assert not [e for e in events if e.type == "task.failed"]


def test_the_dagger_replicas_answer_metrics_with_the_tasks_they_ran(
    dagger_stack: Stack, tmp_path: Path
) -> None:
    sandbox = make_git_sandbox(tmp_path / "git")
    plan = sandbox.repo / "PLAN.md"
    plan.write_text(
        "# Metrics plan\n\n## Batch 1: One\n\n### Task 1.1: Write a file\n\n"
        "Create `one.txt`:\n```\none\n```\n\n**Verification:**\n- `test -s one.txt`\n"
    )
    with api_client(dagger_stack) as client:
        run_id = start_run(client, plan, execution_mode="dagger", agent="plan-follower")
        view = wait_for_run(client, run_id, timeout=120)
    assert view["status"] == "succeeded", view

    replicas = scrape_services(dagger_stack, "executor-dagger").values()
    assert len(replicas) == 2
    assert total(replicas, "cc_tasks_finished_total", mode="dagger", outcome="succeeded") >= 1
    for step in TASK_STEPS:
        assert total(replicas, "cc_task_step_seconds_count", mode="dagger", step=step) >= 1, step
    gateway = scrape(dagger_stack.metrics_urls["gateway"])
    assert "executor-dagger" in gateway.label_values("cc_queue_pending", "consumer")
