"""One attempt of one task, start to outcome: isolate, run the agent, commit, verify, push.

`TaskRunner.run` reports progress through the `EventSink` and returns the outcome event; it
never publishes the outcome itself (the service publishes it, then acks the message).

This is the one flow of every executor and backend: the steps only talk to the `Workspace`
the `Isolation` prepared (`git_steps`, the agent, `run_verification` all go through its
`exec`), so a git worktree, a fresh clone and a container run the same steps and end in the
same outcomes and failure codes.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping

from commandcenter_contracts import (
    FailureCode,
    LogLine,
    StatusEvent,
    TaskDispatched,
    TaskFailed,
    TaskProgress,
    TaskStarted,
    TaskSucceeded,
    is_recoverable,
)

from cc_taskrunner import git_steps
from cc_taskrunner.branches import check_branch_name
from cc_taskrunner.commits import is_commit_of, task_commit_message, with_trailers
from cc_taskrunner.errors import GitError, TaskRunnerError
from cc_taskrunner.ports import (
    Agent,
    AgentContext,
    EventSink,
    Isolation,
    LogFn,
    LogStream,
    Workspace,
)
from cc_taskrunner.prompt import build_prompt
from cc_taskrunner.settings import RunnerSettings
from cc_taskrunner.skills import SkillCatalog
from cc_taskrunner.verification import run_verification

log = logging.getLogger(__name__)

Outcome = TaskSucceeded | TaskFailed

OUTCOME_NAMESPACE = uuid.UUID("6f0b1c2e-9a4d-5d57-8a61-3c0e7b1f4a20")


def outcome_event_id(task: TaskDispatched) -> str:
    """One outcome per attempt: a redelivered attempt's outcome is deduplicated by JetStream."""
    return str(uuid.uuid5(OUTCOME_NAMESPACE, f"{task.task_id}/{task.attempt}/outcome"))


class TaskRunner:
    def __init__(
        self,
        isolation: Isolation,
        agents: Mapping[str, Agent],
        sink: EventSink,
        settings: RunnerSettings,
        *,
        skills: SkillCatalog | None = None,
    ) -> None:
        self._isolation = isolation
        self._agents = agents
        self._sink = sink
        self._settings = settings
        # Executors pass one catalog for all their tasks, so each skill file is read once.
        self._skills = skills if skills is not None else SkillCatalog(settings.skills_dir)

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
        await self._status(
            TaskStarted(
                run_id=task.run_id,
                task_id=task.task_id,
                attempt=task.attempt,
                executor=self._settings.executor_id,
            )
        )
        try:
            return await self._run(task, cancel, since)
        except TaskRunnerError as exc:
            return self._failed(task, exc.code, exc.message)
        except Exception as exc:
            log.exception("task failed unexpectedly", extra=_context(task))
            return self._failed(task, FailureCode.INFRA, f"{type(exc).__name__}: {exc}")

    async def _run(self, task: TaskDispatched, cancel: asyncio.Event, since: int) -> Outcome:
        agent = self._agents.get(task.agent.name)
        if agent is None:
            known = ", ".join(sorted(self._agents))
            return self._failed(
                task,
                FailureCode.AGENT_NOT_FOUND,
                f"unknown agent {task.agent.name!r} (known: {known})",
            )
        check_branch_name(task.branch)
        workspace = await self._isolation.prepare(task)
        try:
            return await self._in_workspace(task, agent, workspace, cancel, since)
        finally:
            try:
                await workspace.cleanup()
            except Exception:
                log.warning("cleaning up %s failed", workspace.path, exc_info=True)

    async def _in_workspace(
        self,
        task: TaskDispatched,
        agent: Agent,
        workspace: Workspace,
        cancel: asyncio.Event,
        since: int,
    ) -> Outcome:
        await self._progress(
            task, "isolated", f"{workspace.branch} from {workspace.base_commit[:12]}"
        )
        git_timeout_s = self._settings.git_timeout_s
        remote_tip: str | None = None
        if workspace.remote is not None:
            try:
                remote_tip = await git_steps.remote_branch_tip(
                    workspace, workspace.remote, workspace.branch, timeout_s=git_timeout_s
                )
            except GitError as exc:
                return self._failed(task, FailureCode.PUSH_FAILED, exc.message)
            if remote_tip is not None and await self._already_done(workspace, task, since):
                await self._progress(task, "already_done", f"the remote has {remote_tip[:12]}")
                return self._succeeded(task, workspace.branch, remote_tip, pushed=True)

        if cancel.is_set():
            return self._failed(task, FailureCode.CANCELLED, "cancelled before the agent started")
        timeout_s = self._skills.timeout_s(task, self._settings.default_timeout_s)
        prompt = build_prompt(task, skill_text=self._skills.text(task.skill))
        ctx = AgentContext(
            task=task,
            workdir=workspace.path,
            prompt=prompt,
            timeout_s=timeout_s,
            cancel=cancel,
            log=self._log_fn(task),
            workspace=workspace,
        )
        await self._progress(task, "agent_started", task.agent.name)
        try:
            # Subprocess agents enforce the timeout themselves; this bounds in-process ones.
            async with asyncio.timeout(timeout_s + self._settings.kill_grace_s + 30):
                result = await agent.run(ctx)
        except TimeoutError:
            return self._failed(task, FailureCode.TIMEOUT, f"the agent ran over {timeout_s:g}s")
        await self._progress(task, "agent_finished", result.message)
        if not result.ok:
            assert result.failure is not None
            return self._failed(task, result.failure, result.message)

        tip, count = await self._commit(workspace, task)
        if tip is None:
            return self._failed(
                task, FailureCode.NO_CHANGES, "the agent changed nothing: no commit to push"
            )
        await self._progress(task, "committed", f"{count} commit(s), tip {tip[:12]}")

        if task.verification:
            failure = await run_verification(
                task.verification,
                workspace=workspace,
                log=self._log_fn(task),
                timeout_s=self._settings.verification_timeout_s,
                cancel=cancel,
            )
            if cancel.is_set():
                return self._failed(task, FailureCode.CANCELLED, "cancelled during verification")
            if failure is not None:
                return self._failed(task, FailureCode.VERIFICATION_FAILED, failure.message())
            await self._progress(task, "verified", f"{len(task.verification)} command(s) passed")

        if cancel.is_set():
            return self._failed(task, FailureCode.CANCELLED, "cancelled before the push")
        if workspace.remote is None:
            return self._succeeded(task, workspace.branch, tip, pushed=False)
        try:
            await git_steps.push_branch(
                workspace,
                workspace.remote,
                workspace.branch,
                expected_tip=remote_tip,
                timeout_s=git_timeout_s,
            )
        except GitError as exc:
            return self._failed(task, FailureCode.PUSH_FAILED, exc.message)
        await self._progress(task, "pushed", f"{workspace.branch} to {workspace.remote}")
        return self._succeeded(task, workspace.branch, tip, pushed=True)

    # --- git steps ----------------------------------------------------------------------------
    async def _commit(self, workspace: Workspace, task: TaskDispatched) -> tuple[str | None, int]:
        """Commit what the agent left; (tip, new commits since the base) or (None, 0)."""
        committed = await git_steps.commit_all(workspace, task_commit_message(task))
        count = await git_steps.count_commits(workspace, workspace.base_commit)
        if count == 0:
            return None, 0
        if committed is not None:
            return committed, count
        # The agent committed everything itself: its tip gets this attempt's trailers, so a
        # redelivery can recognise the work on the remote.
        message = await git_steps.commit_message(workspace)
        if is_commit_of(message, task):
            return await git_steps.head_commit(workspace), count
        return await git_steps.amend_message(workspace, with_trailers(message, task)), count

    async def _already_done(self, workspace: Workspace, task: TaskDispatched, since: int) -> bool:
        """Whether the remote branch's tip is the work of an earlier delivery of this task
        message (attempt `since` or later). A replay's `since` is above the attempts before
        it, so it never takes their commit: it redoes the work and replaces the branch."""
        assert workspace.remote is not None
        try:
            fetched = await git_steps.fetch_branch(
                workspace,
                workspace.remote,
                workspace.branch,
                timeout_s=self._settings.git_timeout_s,
            )
            message = await git_steps.commit_message(workspace, fetched)
        except GitError:
            log.warning("could not inspect the remote branch", exc_info=True, extra=_context(task))
            return False
        return is_commit_of(message, task, since_attempt=since)

    # --- events -------------------------------------------------------------------------------
    def _succeeded(
        self, task: TaskDispatched, branch: str, commit: str, *, pushed: bool
    ) -> TaskSucceeded:
        return TaskSucceeded(
            event_id=outcome_event_id(task),
            run_id=task.run_id,
            task_id=task.task_id,
            attempt=task.attempt,
            branch=branch,
            commit=commit,
            pushed=pushed,
        )

    def _failed(self, task: TaskDispatched, code: FailureCode, message: str) -> TaskFailed:
        return TaskFailed(
            event_id=outcome_event_id(task),
            run_id=task.run_id,
            task_id=task.task_id,
            attempt=task.attempt,
            error_code=code,
            recoverable=is_recoverable(code),
            message=message,
        )

    async def _progress(self, task: TaskDispatched, step: str, message: str = "") -> None:
        await self._status(
            TaskProgress(
                run_id=task.run_id,
                task_id=task.task_id,
                attempt=task.attempt,
                step=step,
                message=message,
            )
        )

    async def _status(self, event: StatusEvent) -> None:
        # Progress is best effort: only the outcome (published by the caller) must arrive.
        try:
            await self._sink.status(event)
        except Exception:
            log.warning("could not report %s", type(event).__name__, exc_info=True)

    def _log_fn(self, task: TaskDispatched) -> LogFn:
        async def emit(stream: LogStream, line: str) -> None:
            try:
                await self._sink.log(
                    LogLine(
                        run_id=task.run_id,
                        task_id=task.task_id,
                        attempt=task.attempt,
                        stream=stream,
                        line=line,
                    )
                )
            except Exception:
                log.warning("could not forward a log line", exc_info=True)

        return emit


def _context(task: TaskDispatched) -> dict[str, object]:
    return {"run_id": task.run_id, "task_id": task.task_id, "attempt": task.attempt}
