"""One task message of the work queue, start to ack, the same in every executor.

Decode the `TaskDispatched` (an undecodable message goes to the dead letters and is
terminated), run it as attempt `task.attempt + num_delivered - 1` with in-progress acks as
heartbeats and a `NatsEventSink`, publish the outcome, THEN ack. The order is the contract: a
crash in between redelivers the task (as the next attempt), and the task runner's idempotency
check (the pushed branch of any attempt of this message) turns that redelivery into a success
without a second commit. A task stopped because this executor shuts down is handed back (nak),
not failed.

A failure is judged by `retries.judge`: a recoverable one with attempts left is published with
`will_retry=True` and the message is nacked with a jittered backoff; any other failure is
final: published, sent to the dead letters with the original task message (cancels excepted),
then acked. See `cc_bus.executor.retries` for the rules.

Works on nats-py messages: what a pull loop fetches, and `NatsMessage.raw_message` in faststream.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from typing import Protocol

import msgspec
from commandcenter_contracts import (
    DeadLetter,
    FailureCode,
    TaskDispatched,
    TaskFailed,
    TaskIntegrated,
    TaskSucceeded,
    task_decoder,
)
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from cc_bus.executor.cancels import CancelRegistry
from cc_bus.executor.retries import NoSkillRules, RetryPolicy, SkillRules, attempt_of, judge
from cc_bus.executor.sink import NatsEventSink
from cc_bus.heartbeat import heartbeat
from cc_bus.publish import publish_dead_letter, publish_status

log = logging.getLogger(__name__)

Outcome = TaskSucceeded | TaskFailed

DEAD_LETTER_NAMESPACE = uuid.UUID("0d6c3f8e-52a1-5b0e-9c44-7e2f1a9b8c31")
INTEGRATED_NAMESPACE = uuid.UUID("6f0b1c2e-9a4d-5d57-8a61-3c0e7b1f4a21")


def outcome_events(outcome: Outcome) -> list[TaskIntegrated | TaskSucceeded | TaskFailed]:
    """What publishing `outcome` means: a success that landed on the integration branch is
    announced as `task.integrated` first, then `task.succeeded` (ids fixed per attempt, so a
    redelivered attempt publishes duplicates JetStream drops)."""
    if not isinstance(outcome, TaskSucceeded) or not outcome.integrated_commit:
        return [outcome]
    integrated = TaskIntegrated(
        event_id=str(
            uuid.uuid5(INTEGRATED_NAMESPACE, f"{outcome.task_id}/{outcome.attempt}/integrated")
        ),
        run_id=outcome.run_id,
        task_id=outcome.task_id,
        attempt=outcome.attempt,
        integration_branch=outcome.integration_branch,
        commit=outcome.integrated_commit,
        depth=outcome.integration_depth,
        at=outcome.at,
    )
    return [integrated, outcome]


class RunTask(Protocol):
    """Carry out attempt `task.attempt` (a `TaskRunner.run`), reporting through `sink`;
    `base_attempt` is the message's own attempt, the first of its deliveries."""

    async def __call__(
        self,
        task: TaskDispatched,
        sink: NatsEventSink,
        cancel: asyncio.Event,
        *,
        base_attempt: int,
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
        retry: RetryPolicy | None = None,
        rules: SkillRules | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._js = js
        self._run = run
        self.cancels = cancels
        self._heartbeat_s = heartbeat_s
        self._retry_delay_s = retry_delay_s
        self._retry = retry if retry is not None else RetryPolicy()
        self._rules = rules if rules is not None else NoSkillRules()
        self._rng = rng if rng is not None else random.Random()

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
        delivery = num_delivered(msg)
        attempt = msgspec.structs.replace(task, attempt=attempt_of(task, delivery))
        context = {"run_id": task.run_id, "task_id": task.task_id, "attempt": attempt.attempt}
        if self.cancels.shutting_down:
            await msg.nak(delay=0)  # arrived while stopping: someone else takes it
            return
        log.info(
            "task %s %r attempt %d (delivery %d)",
            task.plan_task_id,
            task.title,
            attempt.attempt,
            delivery,
            extra=context,
        )
        outcome = await self._run_with_heartbeat(attempt, msg, base_attempt=task.attempt)
        if isinstance(outcome, TaskFailed) and self._handed_back(task, outcome):
            log.info("task stopped by shutdown: handed back for redelivery", extra=context)
            await msg.nak(delay=0)
            return
        if isinstance(outcome, TaskFailed):
            await self._failed(msg, task, outcome, delivery, context)
            return
        if await self._published(msg, outcome, context):
            await msg.ack()
            log.info("task %s: %s", task.plan_task_id, describe(outcome), extra=context)

    async def _failed(
        self,
        msg: Msg,
        task: TaskDispatched,
        failure: TaskFailed,
        delivery: int,
        context: dict[str, object],
    ) -> None:
        verdict = judge(
            task, failure, delivery=delivery, policy=self._retry, rules=self._rules, rng=self._rng
        )
        outcome = verdict.outcome
        if verdict.rework:
            # The planner dispatches the re-run from the integration tip when it sees this
            # failure: it must arrive before the message is done with.
            if await self._published(msg, outcome, context):
                await msg.ack()
                log.info(
                    "task %s: %s; re-run from the integration branch",
                    task.plan_task_id,
                    describe(outcome),
                    extra=context,
                )
            return
        if verdict.retry_in_s is not None:
            # The retry happens whether or not this event gets through: it only informs.
            try:
                await publish_status(self._js, outcome)
            except Exception as exc:
                log.warning("could not publish the failure (%s)", exc, extra=context)
            await msg.nak(delay=verdict.retry_in_s)
            log.info(
                "task %s: %s; retry in %.1fs",
                task.plan_task_id,
                describe(outcome),
                verdict.retry_in_s,
                extra=context,
            )
            return
        if not await self._published(msg, outcome, context):
            return
        if verdict.dead_letter:
            letter = DeadLetter(
                event_id=final_letter_id(outcome),
                subject=msg.subject,
                error_code=outcome.error_code,
                error=outcome.message,
                task=task,
                num_delivered=delivery,
            )
            try:
                await publish_dead_letter(self._js, letter)
            except Exception as exc:
                # Like an outcome that could not be published: the message comes back.
                log.warning("could not publish the dead letter (%s); nak", exc, extra=context)
                await msg.nak(delay=self._retry_delay_s)
                return
        await msg.ack()
        log.info("task %s: %s (final)", task.plan_task_id, describe(outcome), extra=context)

    async def _published(self, msg: Msg, outcome: Outcome, context: dict[str, object]) -> bool:
        try:
            for event in outcome_events(outcome):
                await publish_status(self._js, event)
        except Exception as exc:
            # Not acked: the task comes back, and the redelivery finds the pushed branch.
            log.warning("could not publish the outcome (%s); nak", exc, extra=context)
            await msg.nak(delay=self._retry_delay_s)
            return False
        return True

    async def _run_with_heartbeat(
        self, task: TaskDispatched, msg: Msg, *, base_attempt: int
    ) -> Outcome:
        sink = NatsEventSink(self._js)
        cancel = self.cancels.register(task.run_id)
        try:
            async with heartbeat(msg.in_progress, self._heartbeat_s):
                return await self._run(task, sink, cancel, base_attempt=base_attempt)
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


def final_letter_id(outcome: TaskFailed) -> str:
    """One dead letter per final attempt: publishing it again is deduplicated."""
    return str(uuid.uuid5(DEAD_LETTER_NAMESPACE, f"{outcome.task_id}/{outcome.attempt}/final"))


def num_delivered(msg: Msg) -> int:
    try:
        return int(msg.metadata.num_delivered)
    except Exception:
        return 0


def describe(outcome: Outcome) -> str:
    if isinstance(outcome, TaskFailed):
        return f"attempt {outcome.attempt} failed {outcome.error_code}: {outcome.message}"
    landed = (
        f", integrated as {outcome.integrated_commit[:12]}" if outcome.integrated_commit else ""
    )
    return f"succeeded at {outcome.commit[:12]} (pushed: {outcome.pushed}{landed})"
