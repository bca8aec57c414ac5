"""Helpers shared by the planner's tests: plans, requests, executor-side events, a status
log and a test executor that fetches from the real durable."""

from __future__ import annotations

import time
import uuid
from typing import Any

import cc_bus
from commandcenter_contracts import (
    BatchSelection,
    FailureCode,
    PhaseStartRequested,
    Plan,
    PlanBatch,
    PlanTask,
    StatusEvent,
    TaskDispatched,
    TaskFailed,
    TaskQueued,
    TaskStarted,
    TaskSucceeded,
    TaskUsage,
    status_decoder,
    subjects,
    task_decoder,
)
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from typing_extensions import Unpack

from tests.support.polling import Patience, eventually


def make_plan(*batch_sizes: int, phase: str | None = None, title: str = "Test plan") -> Plan:
    """Batches numbered 1..n, each with `size` tasks `<batch>.<task>`."""
    return Plan(
        title=title,
        batches=[
            PlanBatch(
                phase=phase,
                number=str(b),
                title=f"Batch {b}",
                tasks=[
                    PlanTask(
                        id=f"{b}.{t}",
                        title=f"Task {b}.{t}",
                        body=f"Do task {b}.{t}",
                        files=[f"src/f{b}{t}.txt"],
                        verification=[f"test -s src/f{b}{t}.txt"],
                        verification_notes=["looks right"],
                        depends_on=[f"{b - 1}.1"] if b > 1 else [],
                        skill="operations",
                        commit_message=f"feat: task {b}.{t}",
                    )
                    for t in range(1, size + 1)
                ],
            )
            for b, size in enumerate(batch_sizes, start=1)
        ],
    )


def make_request(
    plan: Plan,
    *,
    run_id: str | None = None,
    selection: BatchSelection | None = None,
    continue_on_failure: bool = False,
    timeout_s: float | None = None,
    mode: str = "local",
    max_cost_usd: float | None = None,
) -> PhaseStartRequested:
    run_id = run_id or str(uuid.uuid4())
    return PhaseStartRequested(
        event_id=str(uuid.uuid4()),
        run_id=run_id,
        plan_path="/plans/MASTER_PLAN.md",
        plan=plan,
        selection=selection or BatchSelection(),
        mode=mode,  # type: ignore[arg-type]
        repo="/repos/target",
        base_ref="main",
        remote="origin",
        timeout_s=timeout_s,
        continue_on_failure=continue_on_failure,
        max_cost_usd=max_cost_usd,
    )


async def start_run(js: JetStreamContext, request: PhaseStartRequested, msg_id: str = "") -> str:
    """Publish the phase start as the gateway does (message id: the run id); the run id."""
    await cc_bus.publish(js, subjects.PHASE_START, request, msg_id=msg_id or request.run_id)
    return request.run_id


def succeeded(run_id: str, task_id: str, attempt: int = 1, *, cost: float = 0.0) -> TaskSucceeded:
    return TaskSucceeded(
        run_id=run_id,
        task_id=task_id,
        attempt=attempt,
        branch="cc/x/y",
        commit="0" * 40,
        pushed=True,
        usage=TaskUsage(cost_usd=cost, turns=1) if cost else None,
    )


def failed(
    run_id: str,
    task_id: str,
    attempt: int = 1,
    *,
    code: FailureCode = FailureCode.VERIFICATION_FAILED,
    will_retry: bool = False,
) -> TaskFailed:
    return TaskFailed(
        run_id=run_id,
        task_id=task_id,
        attempt=attempt,
        error_code=code,
        message="it broke",
        will_retry=will_retry,
    )


def started(run_id: str, task_id: str, attempt: int = 1) -> TaskStarted:
    return TaskStarted(run_id=run_id, task_id=task_id, attempt=attempt, executor="test")


def queued(run_id: str, task_id: str, attempt: int, batch_index: int) -> TaskQueued:
    return TaskQueued(
        run_id=run_id,
        task_id=task_id,
        attempt=attempt,
        batch_index=batch_index,
        plan_task_id="?",
        branch="cc/x/y",
    )


class StatusLog:
    """Every status event of the server, in stream order (an ordered push consumer)."""

    def __init__(self) -> None:
        self.events: list[StatusEvent] = []

    async def start(self, js: JetStreamContext) -> None:
        async def on_msg(msg: Any) -> None:
            self.events.append(status_decoder.decode(msg.data))

        await js.subscribe(subjects.STATUS_ALL, cb=on_msg, ordered_consumer=True)

    def of(self, run_id: str, type_: str | None = None) -> list[StatusEvent]:
        return [
            e
            for e in self.events
            if e.run_id == run_id and (type_ is None or e.__struct_config__.tag == type_)
        ]

    def types(self, run_id: str) -> list[str]:
        return [str(e.__struct_config__.tag) for e in self.of(run_id)]

    async def wait_for(
        self, run_id: str, type_: str, *, count: int = 1, within: float = 60
    ) -> list[StatusEvent]:
        return await eventually(  # type: ignore[no-any-return]
            lambda: len(self.of(run_id, type_)) >= count and self.of(run_id, type_),
            within_s=within,
            what=f"{count} x {type_} of run {run_id}",
        )


class TestExecutor:
    """Plays the local executor: fetches from the real `executor-local` durable, reports an
    outcome as a status event, then acks (the order the executors follow)."""

    __test__ = False

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self.received: list[TaskDispatched] = []
        self._sub: Any = None

    async def start(self) -> None:
        await cc_bus.ensure_consumer(
            self.js, cc_bus.executor_local_consumer(ack_wait_s=60, max_deliver=5)
        )
        self._sub = await self.js.pull_subscribe_bind(
            durable=subjects.CONSUMER_EXECUTOR_LOCAL, stream=subjects.STREAM_TASKS
        )

    async def take(self, within: float = 60) -> tuple[TaskDispatched, Any]:
        """The next dispatch (unacked) and its raw message."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                msgs = await self._sub.fetch(1, timeout=1.0)
            except TimeoutError:
                continue
            task = task_decoder.decode(msgs[0].data)
            self.received.append(task)
            return task, msgs[0]
        raise AssertionError(f"no task dispatched within {within}s")

    async def nothing_more(self, wait: float = 2.0) -> bool:
        try:
            msgs = await self._sub.fetch(1, timeout=wait)
        except TimeoutError:
            return True
        self.received.append(task_decoder.decode(msgs[0].data))
        return False

    async def report_started(self, task: TaskDispatched) -> None:
        await cc_bus.publish_status(self.js, started(task.run_id, task.task_id, task.attempt))

    async def finish(self, raw: Any, *, outcome: StatusEvent) -> None:
        """Report `outcome` for the message `raw`, then ack it."""
        await cc_bus.publish_status(self.js, outcome)
        await raw.ack_sync()

    async def succeed(self, task: TaskDispatched, raw: Any) -> None:
        """Report the task's attempt succeeded, then ack its message `raw`."""
        await self.finish(raw, outcome=succeeded(task.run_id, task.task_id, task.attempt))

    async def fail(
        self, task: TaskDispatched, raw: Any, code: FailureCode = FailureCode.VERIFICATION_FAILED
    ) -> None:
        """Report the task's attempt failed, then ack its message `raw`."""
        await self.finish(raw, outcome=failed(task.run_id, task.task_id, task.attempt, code=code))


async def consumer_idle(js: JetStreamContext, stream: str, durable: str) -> bool:
    """True when the durable has delivered and had acked everything in its stream."""
    try:
        info = await js.consumer_info(stream, durable)
    except NotFoundError:
        return False
    return info.num_pending == 0 and info.num_ack_pending == 0


async def until_idle(
    js: JetStreamContext, spec: cc_bus.ConsumerSpec, **patience: Unpack[Patience]
) -> None:
    """Until the durable of `spec` has delivered and had acked everything in its stream."""
    await eventually(lambda: consumer_idle(js, spec.stream, spec.durable), **patience)
