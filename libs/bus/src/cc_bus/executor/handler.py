"""One task message of the work queue, start to ack, the same in every executor.

Decode the `TaskDispatched` (an undecodable message goes to the dead letters and is
terminated), run it with in-progress acks as heartbeats and a `NatsEventSink`, publish the
outcome, THEN ack. The order is the contract: a crash in between redelivers the task, and the
task runner's idempotency check turns that redelivery into the same outcome without a second
commit. A task stopped because this executor shuts down is handed back (nak), not failed.

Works on nats-py messages: what a pull loop fetches, and `NatsMessage.raw_message` in faststream.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Protocol

import msgspec
from commandcenter_contracts import (
    DeadLetter,
    FailureCode,
    TaskDispatched,
    TaskFailed,
    TaskSucceeded,
    task_decoder,
)
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from cc_bus.executor.cancels import CancelRegistry
from cc_bus.executor.heartbeat import heartbeat
from cc_bus.executor.sink import NatsEventSink
from cc_bus.publish import publish_dead_letter, publish_status

log = logging.getLogger(__name__)

Outcome = TaskSucceeded | TaskFailed

DEAD_LETTER_NAMESPACE = uuid.UUID("0d6c3f8e-52a1-5b0e-9c44-7e2f1a9b8c31")


class RunTask(Protocol):
    """Carry out one task attempt (a `TaskRunner.run`), reporting through `sink`."""

    async def __call__(
        self, task: TaskDispatched, sink: NatsEventSink, cancel: asyncio.Event
    ) -> Outcome: ...


class TaskMessageHandler:
    def __init__(
        self,
        js: JetStreamContext,
        run: RunTask,
        cancels: CancelRegistry,
        *,
        heartbeat_s: float,
        retry_delay_s: float,
    ) -> None:
        self._js = js
        self._run = run
        self.cancels = cancels
        self._heartbeat_s = heartbeat_s
        self._retry_delay_s = retry_delay_s

    async def handle(self, msg: Msg) -> None:
        """Never raises: whatever goes wrong, the message is acked, nacked or terminated."""
        try:
            await self._handle(msg)
        except Exception:
            log.exception("handling a task message failed; it will be redelivered")
            try:
                await msg.nak(delay=self._retry_delay_s)
            except Exception:
                log.warning("nack failed: redelivery after ack_wait", exc_info=True)

    async def _handle(self, msg: Msg) -> None:
        try:
            task = task_decoder.decode(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            await self._dead_letter(msg, str(exc))
            return
        context = {"run_id": task.run_id, "task_id": task.task_id, "attempt": task.attempt}
        if self.cancels.shutting_down:
            await msg.nak(delay=0)  # arrived while stopping: someone else takes it
            return
        log.info(
            "task %s %r (delivery %d)",
            task.plan_task_id,
            task.title,
            num_delivered(msg),
            extra=context,
        )
        outcome = await self._run_with_heartbeat(task, msg)
        if isinstance(outcome, TaskFailed) and self._handed_back(task, outcome):
            log.info("task stopped by shutdown: handed back for redelivery", extra=context)
            await msg.nak(delay=0)
            return
        try:
            await publish_status(self._js, outcome)
        except Exception as exc:
            # Not acked: the task comes back, and the redelivery finds the pushed branch.
            log.warning("could not publish the outcome (%s); nak", exc, extra=context)
            await msg.nak(delay=self._retry_delay_s)
            return
        await msg.ack()
        log.info("task %s: %s", task.plan_task_id, describe(outcome), extra=context)

    async def _run_with_heartbeat(self, task: TaskDispatched, msg: Msg) -> Outcome:
        sink = NatsEventSink(self._js)
        cancel = self.cancels.register(task.run_id)
        try:
            async with heartbeat(msg.in_progress, self._heartbeat_s):
                return await self._run(task, sink, cancel)
        finally:
            self.cancels.unregister(task.run_id, cancel)
            await sink.aclose()

    def _handed_back(self, task: TaskDispatched, outcome: TaskFailed) -> bool:
        return (
            outcome.error_code is FailureCode.CANCELLED
            and self.cancels.shutting_down
            and not self.cancels.is_cancelled(task.run_id)
        )

    async def _dead_letter(self, msg: Msg, error: str) -> None:
        try:
            sequence = f"{msg.metadata.stream}:{msg.metadata.sequence.stream}"
        except Exception:  # not a JetStream message: nothing stable to derive an id from
            sequence = str(uuid.uuid4())
        letter = DeadLetter(
            event_id=str(uuid.uuid5(DEAD_LETTER_NAMESPACE, sequence)),
            subject=msg.subject,
            error_code=FailureCode.BAD_MESSAGE,
            error=error,
            raw=bytes(msg.data),
            num_delivered=num_delivered(msg),
        )
        try:
            await publish_dead_letter(self._js, letter)
        except Exception as exc:
            log.warning("could not publish a dead letter (%s); nak", exc)
            await msg.nak(delay=self._retry_delay_s)
            return
        log.warning("undecodable task message sent to the dead letters: %s", error)
        await msg.term()


def num_delivered(msg: Msg) -> int:
    try:
        return int(msg.metadata.num_delivered)
    except Exception:
        return 0


def describe(outcome: Outcome) -> str:
    if isinstance(outcome, TaskFailed):
        return f"failed {outcome.error_code}: {outcome.message}"
    return f"succeeded at {outcome.commit[:12]} (pushed: {outcome.pushed})"
