"""An executor's task flow: its agents and skill catalog, and one `TaskRunner` per attempt.

`TaskFlow.run` with the isolation bound (`functools.partial(flow.run, isolation)`) is what
`cc_bus.executor.TaskMessageHandler` calls for each task message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from commandcenter_contracts import TaskDispatched

from cc_taskrunner.agents import default_agents
from cc_taskrunner.ports import Agent, EventSink, Isolation
from cc_taskrunner.reporting import Outcome
from cc_taskrunner.runner import TaskRunner
from cc_taskrunner.settings import RunnerSettings
from cc_taskrunner.skills import SkillCatalog


class TaskFlow:
    def __init__(self, settings: RunnerSettings, *, agents: Mapping[str, Agent] | None = None):
        """`agents`: by name (default: every adapter, `default_agents`)."""
        self.settings = settings
        self.agents = agents if agents is not None else default_agents(settings)
        # One catalog for all the executor's tasks, so each skill file is read once.
        self.skills = SkillCatalog(settings.skills_dir)

    async def run(
        self,
        isolation: Isolation,
        task: TaskDispatched,
        sink: EventSink,
        cancel: asyncio.Event,
        *,
        base_attempt: int,
    ) -> Outcome:
        """Attempt `task.attempt` on `isolation` (see `TaskRunner.run`)."""
        runner = TaskRunner(isolation, self.agents, sink, self.settings, skills=self.skills)
        return await runner.run(task, cancel, base_attempt=base_attempt)
