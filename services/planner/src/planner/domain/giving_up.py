"""A task message the executors gave up on (JetStream's MAX_DELIVERIES): the dead letter that
keeps it, and the `task.failed` that lets the run halt instead of waiting for it forever.

Ids come from the message's stream position, so handling the same advisory twice publishes
the same messages, which JetStream drops as duplicates.
"""

from __future__ import annotations

import msgspec
from cc_bus.dead_letters import dead_letter
from commandcenter_contracts import DeadLetter, FailureCode, RunStatus, TaskDispatched, TaskFailed

from planner.domain.naming import event_id
from planner.domain.progress import TASK_ENDED, RunProgress


class MaxDeliveries(msgspec.Struct, frozen=True, kw_only=True):
    """The message at `stream`/`seq` was delivered `deliveries` times to `consumer`, which
    will not deliver it again (the fields of JetStream's MAX_DELIVERIES advisory)."""

    stream: str
    consumer: str
    stream_seq: int
    deliveries: int

    def error(self) -> str:
        return (
            f"gave up after {self.deliveries} deliveries "
            f"(consumer {self.consumer}, {self.stream} #{self.stream_seq})"
        )

    def letter(self, *, subject: str, task: TaskDispatched | None, raw: bytes) -> DeadLetter:
        """The dead letter: the decoded task when there is one, else the raw bytes (its id is
        the message's stream position, as every letter's)."""
        return dead_letter(
            stream=self.stream,
            sequence=self.stream_seq,
            consumer=self.consumer,
            subject=subject,
            error_code=FailureCode.INFRA if task is not None else FailureCode.BAD_MESSAGE,
            error=self.error() if task is not None else f"undecodable task message; {self.error()}",
            num_delivered=self.deliveries,
            task=task,
            raw=raw,
        )

    def failure(
        self, task: TaskDispatched, progress: RunProgress | None, *, superseded: bool = False
    ) -> TaskFailed | None:
        """The task's final failure, or None when there is nothing to end: the run was
        cancelled, a replay superseded this message (`superseded`), or the task's latest
        attempt has an outcome already. Executors may number retries of one message as new
        attempts, so the failure is of the latest attempt the run's progress knows."""
        if superseded:
            return None
        attempt = task.attempt
        if progress is not None:
            if progress.status == RunStatus.CANCELLED:
                return None
            found = progress.find_task(task.task_id)
            if found is not None:
                known = found[1]
                if known.attempt >= task.attempt and known.status in TASK_ENDED:
                    return None
                attempt = max(attempt, known.attempt)
        return TaskFailed(
            event_id=event_id(task.run_id, f"task.failed/{task.task_id}/{attempt}/max-deliveries"),
            run_id=task.run_id,
            task_id=task.task_id,
            attempt=attempt,
            error_code=FailureCode.INFRA,
            recoverable=False,
            will_retry=False,
            message=self.error(),
        )
