"""One task message, start to settle, the same in every executor (`cc_bus.consume` calls it).

Run the `TaskDispatched` as attempt `task.attempt + num_delivered - 1` with a `NatsEventSink`,
publish the outcome, THEN settle (ack). The order is the contract: a crash in between
redelivers the task (as the next attempt), and the task runner's idempotency checks (the
pushed branch, the integration branch's trailers) turn that redelivery into a success without
a second commit. A task stopped because this executor shuts down is handed back (retry now),
not failed. The consumer loop sends the in-progress acks while the task runs.

Before running, the dispatch is claimed for this stream message (`claims`): a dispatch that
came again in another message (published twice, past JetStream's memory of its id) is acked
and dropped, never run a second time.

The claim and the outcome are JetStream writes. While JetStream does not answer them (a
stream electing its leader after a node came back, a cluster without quorum) the handler
waits in place, holding the message (its in-progress acks go on): handing it back would
spend one of the message's `max_deliver` deliveries per try, and a few seconds of election
would fail a task whose work was done. Only a shutdown, or an error JetStream did answer,
hands the message back.

A failure is judged by `retries.judge`: a recoverable one with attempts left is published with
`will_retry=True` and retried after a jittered backoff; one that asks for a re-run from the
integration tip is published and acked (the planner dispatches the re-run); any other failure
is final: published, then given up on (a dead letter with the original task message; a cancel
is final without one).
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Protocol, TypeVar

import msgspec
from cc_observe.metrics import agent_spent, duplicate_dropped, task_finished
from commandcenter_contracts import (
    FailureCode,
    TaskDispatched,
    TaskFailed,
    TaskIntegrated,
    TaskSucceeded,
    task_decoder,
)
from nats.js import JetStreamContext

from cc_bus.consume import Ack, Delivery, GiveUp, Retry, Settle
from cc_bus.executor.cancels import CancelRegistry
from cc_bus.executor.claims import DispatchClaims
from cc_bus.executor.retries import NoSkillRules, RetryPolicy, SkillRules, attempt_of, judge
from cc_bus.executor.sink import NatsEventSink
from cc_bus.publish import publish_status, until_answered

log = logging.getLogger(__name__)

T = TypeVar("T")

Outcome = TaskSucceeded | TaskFailed

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
        claims: DispatchClaims,
        *,
        retry_delay_s: float,
        retry: RetryPolicy | None = None,
        rules: SkillRules | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._js = js
        self._run = run
        self.cancels = cancels
        self._claims = claims
        self._retry_delay_s = retry_delay_s
        self._retry = retry if retry is not None else RetryPolicy()
        self._rules = rules if rules is not None else NoSkillRules()
        self._rng = rng if rng is not None else random.Random()

    async def handle(self, task: TaskDispatched, delivery: Delivery) -> Settle:
        """What to do with this delivery of `task`, its outcome published first."""
        if self.cancels.shutting_down:
            return Retry(0)  # arrived while stopping: someone else takes it
        delivery_no = delivery.num_delivered
        attempt = msgspec.structs.replace(task, attempt=attempt_of(task, delivery_no))
        context = {"run_id": task.run_id, "task_id": task.task_id, "attempt": attempt.attempt}
        try:
            take = partial(self._claims.take, task, delivery.sequence)
            own = await self._until_answered(take, "the claim", context)
        except Exception as exc:
            log.warning("could not claim dispatch %s (%s); retry", task.msg_id, exc, extra=context)
            return Retry(self._retry_delay_s)
        if not own:
            log.warning(
                "dispatch %s came again in another message (published twice, after JetStream "
                "forgot its id): dropped, it was taken before",
                task.msg_id,
                extra=context,
            )
            duplicate_dropped(task.mode)
            return Ack()
        log.info(
            "task %s %r attempt %d (delivery %d)",
            task.plan_task_id,
            task.title,
            attempt.attempt,
            delivery_no,
            extra=context,
        )
        outcome = await self._run_task(attempt, base_attempt=task.attempt)
        if outcome.usage is not None:  # spent, whatever becomes of the attempt
            agent_spent(outcome.usage.model, outcome.usage.cost_usd)
        if isinstance(outcome, TaskFailed) and self._handed_back(task, outcome):
            log.info("task stopped by shutdown: handed back for redelivery", extra=context)
            return Retry(0)
        if isinstance(outcome, TaskFailed):
            return await self._failed(task, outcome, delivery_no, context)
        if not await self._published(outcome, context):
            return Retry(self._retry_delay_s)
        log.info("task %s: %s", task.plan_task_id, describe(outcome), extra=context)
        task_finished(task.mode, "succeeded")
        return Ack()

    async def _failed(
        self, task: TaskDispatched, failure: TaskFailed, delivery: int, context: dict[str, object]
    ) -> Settle:
        verdict = judge(
            task, failure, delivery=delivery, policy=self._retry, rules=self._rules, rng=self._rng
        )
        outcome = verdict.outcome
        if verdict.rework:
            # The planner dispatches the re-run from the integration tip when it sees this
            # failure: it must arrive before the message is done with.
            if not await self._published(outcome, context):
                return Retry(self._retry_delay_s)
            log.info(
                "task %s: %s; re-run from the integration branch",
                task.plan_task_id,
                describe(outcome),
                extra=context,
            )
            task_finished(task.mode, "rework")
            return Ack()
        if verdict.retry_in_s is not None:
            # The retry happens whether or not this event gets through: it only informs.
            try:
                await publish_status(self._js, outcome)
            except Exception as exc:
                log.warning("could not publish the failure (%s)", exc, extra=context)
            log.info(
                "task %s: %s; retry in %.1fs",
                task.plan_task_id,
                describe(outcome),
                verdict.retry_in_s,
                extra=context,
            )
            task_finished(task.mode, "retrying")
            return Retry(verdict.retry_in_s)
        if not await self._published(outcome, context):
            return Retry(self._retry_delay_s)
        log.info("task %s: %s (final)", task.plan_task_id, describe(outcome), extra=context)
        cancelled = outcome.error_code is FailureCode.CANCELLED
        task_finished(task.mode, "cancelled" if cancelled else "failed")
        if verdict.dead_letter:
            return GiveUp(outcome.error_code, outcome.message, task=task)
        return Ack()

    async def _published(self, outcome: Outcome, context: dict[str, object]) -> bool:
        try:
            for event in outcome_events(outcome):
                publish = partial(publish_status, self._js, event)
                await self._until_answered(publish, "the outcome", context)
        except Exception as exc:
            # Not settled: the task comes back, and the redelivery finds the pushed work.
            log.warning("could not publish the outcome (%s); retry", exc, extra=context)
            return False
        return True

    async def _until_answered(
        self, write: Callable[[], Awaitable[T]], what: str, context: dict[str, object]
    ) -> T:
        """`write()`, waited for while JetStream does not answer (see the module's docstring)."""
        stopping = lambda: self.cancels.shutting_down  # noqa: E731 - read at each try
        return await until_answered(write, what, stopping=stopping, extra=context)

    async def _run_task(self, task: TaskDispatched, *, base_attempt: int) -> Outcome:
        sink = NatsEventSink(self._js)
        cancel = self.cancels.register(task.run_id)
        try:
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


def decode_task(delivery: Delivery) -> TaskDispatched:
    return task_decoder.decode(delivery.data)


def describe(outcome: Outcome) -> str:
    if isinstance(outcome, TaskFailed):
        return f"attempt {outcome.attempt} failed {outcome.error_code}: {outcome.message}"
    landed = (
        f", integrated as {outcome.integrated_commit[:12]}" if outcome.integrated_commit else ""
    )
    return f"succeeded at {outcome.commit[:12]} (pushed: {outcome.pushed}{landed})"
