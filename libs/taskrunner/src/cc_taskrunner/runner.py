"""One attempt of one task, start to outcome: the steps of `cc_taskrunner.steps` in a workspace.

`TaskRunner.run` reports progress through the `EventSink` and returns the outcome event; it
never publishes the outcome itself (the service publishes it, then acks the message).

This is the one flow of every executor and backend: the steps only talk to the `Workspace`
the `Isolation` prepared, so a git worktree, a fresh clone and a container run the same steps
and end in the same outcomes and failure codes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import msgspec
from cc_observe import tracing
from commandcenter_contracts import (
    FailureCode,
    TaskDispatched,
    TaskFailed,
    TaskStarted,
    TaskSucceeded,
)

from cc_taskrunner.attempt import Attempt, Step
from cc_taskrunner.branches import check_branch_name
from cc_taskrunner.errors import TaskRunnerError
from cc_taskrunner.integration import IntegrationTarget
from cc_taskrunner.ports import NO_TURNS, Agent, EventSink, Isolation, Turns, Workspace
from cc_taskrunner.reporting import Outcome, Reporter, attempt_ids, context, outcome_event_id
from cc_taskrunner.settings import RunnerSettings
from cc_taskrunner.skills import SkillCatalog
from cc_taskrunner.steps import TASK_STEPS, step_name
from cc_taskrunner.task_branch import release_task_branch

log = logging.getLogger(__name__)

__all__ = ["Outcome", "TaskRunner", "outcome_event_id"]


class TaskRunner:
    def __init__(
        self,
        isolation: Isolation,
        agents: Mapping[str, Agent],
        sink: EventSink,
        settings: RunnerSettings,
        *,
        skills: SkillCatalog | None = None,
        steps: tuple[Step, ...] = TASK_STEPS,
        turns: Turns = NO_TURNS,
    ) -> None:
        self._isolation = isolation
        self._agents = agents
        self._sink = sink
        self._settings = settings
        # Executors pass one catalog for all their tasks, so each skill file is read once.
        self._skills = skills if skills is not None else SkillCatalog(settings.skills_dir)
        self._steps = steps
        self._turns = turns

    async def run(
        self,
        task: TaskDispatched,
        cancel: asyncio.Event | None = None,
        *,
        base_attempt: int | None = None,
    ) -> Outcome:
        """Carry out attempt `task.attempt`. `base_attempt` is the first attempt of the task
        message this attempt is a delivery of (default: this one): a pushed branch made by
        any attempt from it on is this message's work, done already."""
        cancel = cancel if cancel is not None else asyncio.Event()
        since = task.attempt if base_attempt is None else min(base_attempt, task.attempt)
        report = Reporter(self._sink, task, self._settings.output_limits)
        await report.status(TaskStarted(**attempt_ids(task), executor=self._settings.executor_id))
        try:
            return await self._run(task, cancel, since, report)
        except TaskRunnerError as exc:
            return report.failed(exc.code, exc.message)
        except Exception as exc:
            log.exception("task failed unexpectedly", extra=context(task))
            return report.failed(FailureCode.INFRA, f"{type(exc).__name__}: {exc}")

    async def _run(
        self, task: TaskDispatched, cancel: asyncio.Event, since: int, report: Reporter
    ) -> Outcome:
        agent = self._agents.get(task.agent.name)
        if agent is None:
            known = ", ".join(sorted(self._agents))
            return report.failed(
                FailureCode.AGENT_NOT_FOUND, f"unknown agent {task.agent.name!r} (known: {known})"
            )
        check_branch_name(task.branch)
        if task.integration_branch:
            check_branch_name(task.integration_branch)
        with tracing.span("isolate"):
            workspace = await self._isolation.prepare(task)
        try:
            attempt = Attempt(
                task=task,
                agent=agent,
                workspace=workspace,
                cancel=cancel,
                since=since,
                report=report,
                settings=self._settings,
                skills=self._skills,
                integration=_integration_target(task, workspace),
                turns=self._turns,
            )
            outcome = await self._through_steps(attempt)
            if isinstance(outcome, TaskSucceeded):
                released = attempt.branch_released
                await release_task_branch(workspace, task, outcome, report, released=released)
            return outcome
        finally:
            try:
                await workspace.cleanup()
            except Exception:
                log.warning("cleaning up %s failed", workspace.path, exc_info=True)

    async def _through_steps(self, attempt: Attempt) -> Outcome:
        report = attempt.report
        try:
            for step in self._steps:
                with tracing.span(step_name(step)):  # a child of the flow's `task` span
                    outcome = await step(attempt)
                if outcome is not None:
                    return _with_spending(outcome, attempt)
        except TaskRunnerError as exc:
            return _with_spending(report.failed(exc.code, exc.message), attempt)
        assert attempt.tip is not None, "the steps end with a commit"
        return _with_spending(
            report.succeeded(
                attempt.workspace.branch,
                attempt.tip,
                pushed=attempt.pushed,
                integrated=attempt.integrated,
                depth=attempt.depth,
            ),
            attempt,
        )


def _with_spending(outcome: Outcome, attempt: Attempt) -> Outcome:
    """The outcome with what the agent spent and its fix rounds; a failure also names the
    tool calls the agent's permissions refused (they may be why the task is undone)."""
    changes: dict[str, object] = {"usage": attempt.usage, "fix_rounds": attempt.fix_rounds}
    if isinstance(outcome, TaskFailed) and attempt.denials:
        refused = ", ".join(attempt.denials[:10])
        changes["message"] = f"{outcome.message} (the agent's permissions refused: {refused})"
    return msgspec.structs.replace(outcome, **changes)


def _integration_target(task: TaskDispatched, workspace: Workspace) -> IntegrationTarget | None:
    if not task.integration_branch:
        return None
    return IntegrationTarget(task.integration_branch, workspace.integration_remote)
