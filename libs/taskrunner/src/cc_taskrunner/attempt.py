"""One attempt of one task on its way through the steps, and what each step learned."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from commandcenter_contracts import TaskDispatched, TaskUsage

from cc_taskrunner.integration import IntegrationTarget
from cc_taskrunner.ports import NO_TURNS, Agent, Turns, Workspace
from cc_taskrunner.reporting import Outcome, Reporter
from cc_taskrunner.settings import RunnerSettings
from cc_taskrunner.skills import SkillCatalog


@dataclass(kw_only=True)
class Attempt:
    task: TaskDispatched
    agent: Agent
    workspace: Workspace
    cancel: asyncio.Event
    since: int
    """The first attempt of the task message this attempt is a delivery of: work pushed by any
    attempt from there on is this message's work, done already."""
    report: Reporter
    settings: RunnerSettings
    skills: SkillCatalog
    integration: IntegrationTarget | None
    """The run's integration branch; None for a task message from before integration."""
    turns: Turns = NO_TURNS
    """How integrators of the branch in other processes take turns with this one."""

    base: str = ""
    """The commit the task's branch starts from (the integration tip, else the base ref)."""
    start_tip: str | None = None
    """The integration branch's tip when the task started (None: no integration)."""
    remote_tip: str | None = None
    """The task's branch on the remote before this attempt (the lease of its push)."""
    tip: str | None = None
    """The task's own commit: made by this attempt, or found pushed by an earlier delivery."""
    recovered: bool = False
    """The work was found on the remote (an earlier delivery pushed it): no agent runs."""
    pushed: bool = False
    integrated: str | None = None
    """The commit on the integration branch that holds the task's work."""
    branch_released: bool = False
    """The task's local branch went with the compare-and-set that integrated it."""
    depth: int = 0
    usage: TaskUsage | None = None
    """What the agent spent, all rounds of this attempt together."""
    session_id: str | None = None
    """The agent's session (Claude Code), continued by a fix round."""
    fix_rounds: int = 0
    """Fix rounds so far: times the agent was sent back because a check failed."""
    denials: tuple[str, ...] = ()
    """Tool calls the agent's permissions refused, all rounds."""

    @property
    def is_redelivery(self) -> bool:
        return self.task.attempt > self.since

    def spent(self, usage: TaskUsage | None) -> None:
        """Add one agent run's usage to the attempt's."""
        if usage is None:
            return
        self.session_id = usage.session_id or self.session_id
        before = self.usage or TaskUsage()
        self.usage = TaskUsage(
            cost_usd=before.cost_usd + usage.cost_usd,
            input_tokens=before.input_tokens + usage.input_tokens,
            output_tokens=before.output_tokens + usage.output_tokens,
            cache_read_tokens=before.cache_read_tokens + usage.cache_read_tokens,
            cache_creation_tokens=before.cache_creation_tokens + usage.cache_creation_tokens,
            turns=before.turns + usage.turns,
            model=usage.model or before.model,
            session_id=self.session_id,
        )


Step = Callable[[Attempt], Awaitable[Outcome | None]]
"""One step of a task's flow: None to go on, an outcome to end the attempt with."""
