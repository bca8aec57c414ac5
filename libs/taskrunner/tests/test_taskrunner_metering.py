"""`cc_task_step_seconds`: the task flow times the steps that had work to do, once per attempt.

Real git (a worktree of a repository with a bare remote) and the plan-follower agent."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cc_taskrunner import GitIdentity, TaskFlow, WorktreeIsolation
from cc_taskrunner.metering import StepMeter
from cc_taskrunner.steps import TASK_STEPS, step_name
from commandcenter.gitfixtures import GitSandbox
from commandcenter_contracts import TaskSucceeded
from prometheus_client import REGISTRY
from taskrunner_support import Harness, RecordingSink, make_task, sandbox_without_remote

pytestmark = pytest.mark.integration

STEPS = ("isolate", "agent", "commit", "verify", "push", "integrate")


def counts() -> dict[str, float]:
    return {
        step: REGISTRY.get_sample_value(
            "cc_task_step_seconds_count", {"mode": "local", "step": step}
        )
        or 0.0
        for step in STEPS
    }


async def run_flow(harness: Harness, sandbox: GitSandbox, **task: object) -> dict[str, float]:
    """Run one task through an executor's flow; how many observations each step gained."""
    flow = TaskFlow(harness.settings, agents=harness.agents)
    isolation = WorktreeIsolation(harness.worktree_root, GitIdentity("CC", "cc@localhost"))
    before = counts()
    outcome = await flow.run(
        isolation, make_task(sandbox, **task), RecordingSink(), asyncio.Event(), base_attempt=1
    )
    assert isinstance(outcome, TaskSucceeded), outcome
    after = counts()
    return {step: after[step] - before[step] for step in STEPS}


async def test_every_step_with_work_is_observed_once(
    harness: Harness, git_sandbox: GitSandbox
) -> None:
    gained = await run_flow(
        harness,
        git_sandbox,
        verification=["test -s src/alpha.txt"],
        integration_branch="cc/metering/integration",
    )
    assert gained == dict.fromkeys(STEPS, 1.0)


async def test_steps_with_nothing_to_do_are_not_observed(harness: Harness, tmp_path: Path) -> None:
    # No checks, no remote, no integration branch: only the checkout, the agent and the commit.
    gained = await run_flow(harness, sandbox_without_remote(tmp_path / "alone"))
    assert gained == {
        "isolate": 1.0,
        "agent": 1.0,
        "commit": 1.0,
        "verify": 0.0,
        "push": 0.0,
        "integrate": 0.0,
    }


def test_metered_steps_keep_the_names_traces_give_them() -> None:
    metered = StepMeter().steps(TASK_STEPS)
    assert [step_name(s) for s in metered] == [step_name(s) for s in TASK_STEPS]
