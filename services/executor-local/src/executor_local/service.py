"""The local executor's message handling: decode a task, run it, publish the outcome, ack.

The order is the contract: the outcome is published before the ack, so a crash in between
redelivers the task, and the runner's idempotency check turns that redelivery into the same
outcome without a second commit.
"""

from __future__ import annotations

import logging
import uuid

import msgspec
from cc_bus import (
    ConsumerSpec,
    connect,
    ensure_consumer,
    ensure_streams,
    executor_local_consumer,
    publish_dead_letter,
    publish_status,
)
from cc_taskrunner import (
    GitIdentity,
    Outcome,
    TaskRunner,
    WorktreeIsolation,
    default_agents,
)
from cc_taskrunner.ports import Agent
from commandcenter_contracts import (
    DeadLetter,
    FailureCode,
    TaskDispatched,
    TaskFailed,
    cancel_decoder,
    task_decoder,
)
from faststream.nats import NatsMessage
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from executor_local.cancellation import CancelRegistry
from executor_local.heartbeat import heartbeat
from executor_local.settings import Settings
from executor_local.sink import NatsEventSink

log = logging.getLogger(__name__)

DEAD_LETTER_NAMESPACE = uuid.UUID("0d6c3f8e-52a1-5b0e-9c44-7e2f1a9b8c31")


class LocalExecutor:
    def __init__(self, settings: Settings, *, agents: dict[str, Agent] | None = None) -> None:
        self.settings = settings
        runner = settings.runner
        identity = GitIdentity(runner.git_author_name, runner.git_author_email)
        self._isolation = WorktreeIsolation(
            settings.worktree_root, identity, git_timeout_s=runner.git_timeout_s
        )
        self._agents = agents if agents is not None else default_agents(runner)
        self.cancels = CancelRegistry()
        self._nc: Client | None = None

    @property
    def js(self) -> JetStreamContext:
        assert self._nc is not None, "start() first"
        return self._nc.jetstream()

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect, and make the streams and the durable match this executor's settings.

        Runs before the broker subscribes, so a changed ack_wait or max_deliver reaches the
        server before faststream binds to the durable.
        """
        self._nc = await connect(self.settings.nats_url, name=f"{self.settings.executor_id}/pub")
        await ensure_streams(self.js)
        await ensure_consumer(self.js, self.consumer_spec())

    def consumer_spec(self) -> ConsumerSpec:
        return executor_local_consumer(
            ack_wait_s=self.settings.ack_wait_s, max_deliver=self.settings.max_deliver
        )

    def begin_shutdown(self) -> None:
        """Stop the running task (it is handed back, not failed) and take no new ones."""
        log.info("shutting down: the running task, if any, is handed back")
        self.cancels.shutdown()

    async def close(self) -> None:
        nc, self._nc = self._nc, None
        if nc is None or nc.is_closed:
            return
        try:
            await nc.drain()
        except NatsError as exc:  # NATS unreachable right now: nothing left to flush anyway
            log.warning("closing the NATS connection: %s", exc)
            await nc.close()

    # --- handlers -----------------------------------------------------------------------------
    async def on_task(self, msg: NatsMessage) -> None:
        """Never raises: whatever goes wrong, the message is acked, nacked or terminated."""
        try:
            await self._on_task(msg)
        except Exception:
            log.exception("handling a task message failed; it will be redelivered")
            try:
                await msg.nack(delay=self.settings.retry_delay_s)
            except Exception:
                log.warning("nack failed: redelivery after ack_wait", exc_info=True)

    async def on_cancel(self, msg: NatsMessage) -> None:
        try:
            request = cancel_decoder.decode(msg.body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("ignoring an unreadable cancel request: %s", exc)
            return
        running = self.cancels.cancel_run(request.run_id, request.reason)
        log.info("cancel requested (running here: %s)", running, extra={"run_id": request.run_id})

    async def _on_task(self, msg: NatsMessage) -> None:
        try:
            task = task_decoder.decode(msg.body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            await self._dead_letter(msg, str(exc))
            return
        context = {"run_id": task.run_id, "task_id": task.task_id, "attempt": task.attempt}
        if self.cancels.shutting_down:
            await msg.nack(delay=0)  # arrived while stopping: someone else takes it
            return
        log.info(
            "task %s %r (delivery %d)",
            task.plan_task_id,
            task.title,
            _num_delivered(msg),
            extra=context,
        )
        outcome = await self._run(task, msg)
        if isinstance(outcome, TaskFailed) and self._handed_back(task, outcome):
            log.info("task stopped by shutdown: handed back for redelivery", extra=context)
            await msg.nack(delay=0)
            return
        try:
            await publish_status(self.js, outcome)
        except Exception as exc:
            # Not acked: the task comes back, and the redelivery finds the pushed branch.
            log.warning("could not publish the outcome (%s); nak", exc, extra=context)
            await msg.nack(delay=self.settings.retry_delay_s)
            return
        await msg.ack()
        log.info("task %s: %s", task.plan_task_id, _describe(outcome), extra=context)

    async def _run(self, task: TaskDispatched, msg: NatsMessage) -> Outcome:
        sink = NatsEventSink(self.js)
        runner = TaskRunner(self._isolation, self._agents, sink, self.settings.runner)
        cancel = self.cancels.register(task.run_id)
        try:
            async with heartbeat(msg.in_progress, self.settings.heartbeat_s):
                return await runner.run(task, cancel)
        finally:
            self.cancels.unregister(task.run_id, cancel)
            await sink.aclose()

    def _handed_back(self, task: TaskDispatched, outcome: TaskFailed) -> bool:
        return (
            outcome.error_code is FailureCode.CANCELLED
            and self.cancels.shutting_down
            and not self.cancels.is_cancelled(task.run_id)
        )

    async def _dead_letter(self, msg: NatsMessage, error: str) -> None:
        raw = msg.raw_message
        try:
            sequence = f"{raw.metadata.stream}:{raw.metadata.sequence.stream}"
        except Exception:  # not a JetStream message: nothing stable to derive an id from
            sequence = str(uuid.uuid4())
        letter = DeadLetter(
            event_id=str(uuid.uuid5(DEAD_LETTER_NAMESPACE, sequence)),
            subject=raw.subject,
            error_code=FailureCode.BAD_MESSAGE,
            error=error,
            raw=bytes(msg.body),
            num_delivered=_num_delivered(msg),
        )
        try:
            await publish_dead_letter(self.js, letter)
        except Exception as exc:
            log.warning("could not publish a dead letter (%s); nak", exc)
            await msg.nack(delay=self.settings.retry_delay_s)
            return
        log.warning("undecodable task message sent to the dead letters: %s", error)
        await msg.reject()


def _num_delivered(msg: NatsMessage) -> int:
    try:
        return int(msg.raw_message.metadata.num_delivered)
    except Exception:
        return 0


def _describe(outcome: Outcome) -> str:
    if isinstance(outcome, TaskFailed):
        return f"failed {outcome.error_code}: {outcome.message}"
    return f"succeeded at {outcome.commit[:12]} (pushed: {outcome.pushed})"
