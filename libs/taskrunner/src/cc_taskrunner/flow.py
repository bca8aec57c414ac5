"""An executor's task flow: its agents and skill catalog, and one `TaskRunner` per attempt.

`TaskFlow.run` with the isolation bound (`functools.partial(flow.run, isolation)`) is what
`cc_bus.executor.TaskMessageHandler` calls for each task message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from cc_observe import tracing
from cc_observe.metrics import task_metrics
from commandcenter_contracts import TaskDispatched, TaskFailed

from cc_taskrunner.agents import default_agents
from cc_taskrunner.metering import StepMeter
from cc_taskrunner.ports import NO_TURNS, Agent, EventSink, Isolation, Turns
from cc_taskrunner.reporting import Outcome
from cc_taskrunner.runner import TaskRunner
from cc_taskrunner.settings import RunnerSettings
from cc_taskrunner.skills import SkillCatalog
from cc_taskrunner.steps import TASK_STEPS


class TaskFlow:
    def __init__(self, settings: RunnerSettings, *, agents: Mapping[str, Agent] | None = None):
        """`agents`: by name (default: every adapter, `default_agents`)."""
        self.settings = settings
        self.agents = agents if agents is not None else default_agents(settings)
        # One catalog for all the executor's tasks, so each skill file is read once.
        self.skills = SkillCatalog(settings.skills_dir)
        task_metrics()  # the task metrics are listed from the start, before any task ran

    async def run(
        self,
        isolation: Isolation,
        task: TaskDispatched,
        sink: EventSink,
        cancel: asyncio.Event,
        *,
        base_attempt: int,
        turns: Turns = NO_TURNS,
    ) -> Outcome:
        """Attempt `task.attempt` on `isolation` (see `TaskRunner.run`): one span, `task`, with
        a child per step, ended when the outcome is known (before it is published and acked).
        `turns`: how its integration takes turns with other replicas'."""
        meter = StepMeter()  # cc_task_step_seconds, recorded once the attempt is over
        runner = TaskRunner(
            meter.isolation(isolation),
            self.agents,
            sink,
            self.settings,
            skills=self.skills,
            steps=meter.steps(TASK_STEPS),
            turns=turns,
        )
        with tracing.span("task", _task_attributes(task)) as span:
            try:
                outcome = await runner.run(task, cancel, base_attempt=base_attempt)
            finally:
                meter.record(task.mode)
            failed = isinstance(outcome, TaskFailed)
            span.set_attribute("cc.outcome", "failed" if failed else "succeeded")
            if isinstance(outcome, TaskFailed):
                span.set_attribute("cc.error_code", str(outcome.error_code))
            return outcome


def _task_attributes(task: TaskDispatched) -> dict[str, str | int]:
    return {
        "cc.run_id": task.run_id,
        "cc.task_id": task.task_id,
        "cc.plan_task_id": task.plan_task_id,
        "cc.attempt": task.attempt,
        "cc.mode": str(task.mode),
        "cc.agent": task.agent.name,
    }
