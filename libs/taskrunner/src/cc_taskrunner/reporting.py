"""What one task attempt tells the world: progress and log lines (best effort, through the
`EventSink`), and the outcome events the caller publishes."""

from __future__ import annotations

import logging
import uuid
from typing import TypedDict

from commandcenter_contracts import (
    FailureCode,
    LogLine,
    Rework,
    StatusEvent,
    TaskDispatched,
    TaskFailed,
    TaskProgress,
    TaskSucceeded,
    is_recoverable,
)

from cc_taskrunner.output_limits import OutputBudget, OutputLimits
from cc_taskrunner.ports import EventSink, LogFn, LogStream

log = logging.getLogger(__name__)

Outcome = TaskSucceeded | TaskFailed

OUTCOME_NAMESPACE = uuid.UUID("6f0b1c2e-9a4d-5d57-8a61-3c0e7b1f4a20")


def outcome_event_id(task: TaskDispatched) -> str:
    """One outcome per attempt: a redelivered attempt's outcome is deduplicated by JetStream."""
    return str(uuid.uuid5(OUTCOME_NAMESPACE, f"{task.task_id}/{task.attempt}/outcome"))


class AttemptIds(TypedDict):
    run_id: str
    task_id: str
    attempt: int


def attempt_ids(task: TaskDispatched) -> AttemptIds:
    """The fields that name the task attempt, in every event and log line about it."""
    return {"run_id": task.run_id, "task_id": task.task_id, "attempt": task.attempt}


def context(task: TaskDispatched) -> dict[str, object]:
    """Log record fields naming the task attempt."""
    return dict(attempt_ids(task))


class Reporter:
    """Events of one attempt of `task`."""

    def __init__(
        self, sink: EventSink, task: TaskDispatched, limits: OutputLimits | None = None
    ) -> None:
        self._sink = sink
        self.task = task
        self.output = OutputBudget(limits or OutputLimits())

    async def status(self, event: StatusEvent) -> None:
        # Progress is best effort: only the outcome (published by the caller) must arrive.
        try:
            await self._sink.status(event)
        except Exception:
            log.warning("could not report %s", type(event).__name__, exc_info=True)

    async def progress(self, step: str, message: str = "", *, fix_round: int | None = None) -> None:
        await self.status(
            TaskProgress(**attempt_ids(self.task), step=step, message=message, fix_round=fix_round)
        )

    async def line(self, stream: LogStream, line: str) -> None:
        admitted = self.output.admit(line)
        if admitted is None:
            return
        if admitted.marker:
            log.warning("the attempt's output reached its limit", extra=context(self.task))
        stream = "system" if admitted.marker else stream
        try:
            await self._sink.log(
                LogLine(**attempt_ids(self.task), stream=stream, line=admitted.line)
            )
        except Exception:
            log.warning("could not forward a log line", exc_info=True)

    @property
    def log(self) -> LogFn:
        return self.line

    def succeeded(
        self,
        branch: str,
        commit: str,
        *,
        pushed: bool,
        integrated: str | None = None,
        depth: int = 0,
    ) -> TaskSucceeded:
        task = self.task
        return TaskSucceeded(
            event_id=outcome_event_id(task),
            **attempt_ids(task),
            branch=branch,
            commit=commit,
            pushed=pushed,
            integrated_commit=integrated,
            integration_branch=task.integration_branch if integrated else "",
            integration_depth=depth,
        )

    def failed(
        self, code: FailureCode, message: str, *, rework: Rework | None = None
    ) -> TaskFailed:
        task = self.task
        return TaskFailed(
            event_id=outcome_event_id(task),
            **attempt_ids(task),
            error_code=code,
            recoverable=is_recoverable(code),
            message=message,
            rework=rework,
        )
