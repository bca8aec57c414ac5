"""The Dagger backend against a live engine: skipped where none answers (these machines).

Set CC_TEST_DAGGER_REPO to a repository URL the engine can clone and push to (a scratch
repository: the test pushes a branch), with CC_GIT_TOKEN if it needs one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest
from cc_taskrunner import TaskRunner, default_agents
from commandcenter_contracts import (
    AgentSpec,
    LogLine,
    StatusEvent,
    TaskDispatched,
    TaskSucceeded,
    new_id,
)
from executor_dagger import Settings

from tests.support.executors import create_body

pytestmark = pytest.mark.dagger_engine


@dataclass
class Recorder:
    events: list[StatusEvent] = field(default_factory=list)

    async def status(self, event: StatusEvent) -> None:
        self.events.append(event)

    async def log(self, _line: LogLine) -> None:
        return None


async def test_a_task_runs_in_a_container_on_a_live_engine() -> None:
    repo = os.environ.get("CC_TEST_DAGGER_REPO")
    if not repo:
        pytest.skip("CC_TEST_DAGGER_REPO is not set (a scratch repository URL for the engine)")
    from executor_dagger.container_backend import DaggerIsolation, connect_engine

    settings = Settings.from_env({"CC_DAGGER_CONNECT_TIMEOUT_S": "30"})
    try:
        engine = await connect_engine(settings)
    except Exception as exc:
        pytest.skip(f"no Dagger engine reachable: {type(exc).__name__}")
    try:
        run_id = new_id()
        task = TaskDispatched(
            run_id=run_id,
            task_id=new_id(),
            plan_task_id="1.1",
            batch_index=0,
            title="Live engine check",
            body=create_body("cc-live/check.txt", run_id),
            branch=f"cc/{run_id[:8]}/live-engine-check",
            repo=repo,
            agent=AgentSpec(name="plan-follower"),
            verification=["test -s cc-live/check.txt"],
            mode="dagger",
        )
        runner = TaskRunner(
            DaggerIsolation(engine.client, settings),
            default_agents(settings.runner),
            Recorder(),
            settings.runner,
        )
        outcome = await runner.run(task)
        assert isinstance(outcome, TaskSucceeded), outcome
        assert outcome.pushed
    finally:
        await engine.close()
