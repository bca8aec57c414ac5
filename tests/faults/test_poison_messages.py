"""An undecodable message on every subject a service consumes: the consumer survives (same
process, nothing stuck, a later run completes) and the message lands in `CC_DEAD` with error
code BAD_MESSAGE and the subject it came from."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable

import pytest
from commandcenter.stack import service_available
from commandcenter_contracts import FailureCode, subjects

from tests.faults.checker import dead_letters
from tests.faults.harness import Bus, FaultStack, agent_argv, batch_of, plan_markdown, start_run
from tests.faults.report import FaultReport
from tests.support.polling import eventually

pytestmark = [pytest.mark.faults, pytest.mark.integration]

NOT_JSON = b"\xff\x00 this is not json {"
# Valid JSON of the wrong shape for each subject (a missing or mistyped required field).
WRONG_SHAPE = {
    "phase": b'{"event_id": "e1", "run_id": 42}',
    "task": b'{"run_id": "r1", "task_id": 5, "attempt": "one"}',
    "status": b'{"type": "task.succeeded", "run_id": "r1"}',
}


async def test_undecodable_messages_on_every_consumed_subject(
    launch: Callable[..., FaultStack], fault: FaultReport
) -> None:
    dagger = service_available("executor_dagger")
    fault.scenario(
        "7. an undecodable message on each consumed subject",
        injected="non-JSON and wrongly shaped JSON on `cc.phase.start`, `cc.task.dispatch.local`"
        + (", `cc.task.dispatch.dagger`" if dagger else "")
        + ", `cc.status.<run>` (a stray run, and a live run's own subject mid-run)",
    )
    fs = launch(dagger_executors=1 if dagger else 0)
    bus = await Bus.open(fs)
    js = bus.js
    try:
        pids = fs.pids()
        said_before = len(fs.said)
        poison: dict[str, list[bytes]] = {
            subjects.PHASE_START: [NOT_JSON, WRONG_SHAPE["phase"]],
            subjects.TASK_DISPATCH_LOCAL: [NOT_JSON, WRONG_SHAPE["task"]],
            subjects.status_subject(str(uuid.uuid4())): [NOT_JSON, WRONG_SHAPE["status"]],
        }
        if dagger:
            poison[subjects.TASK_DISPATCH_DAGGER] = [NOT_JSON, WRONG_SHAPE["task"]]
        for subject, payloads in poison.items():
            for payload in payloads:
                await js.publish(subject, payload)  # a broken producer: no Nats-Msg-Id either

        # A valid run after the poison, through the same consumers; more poison on its own
        # status subject while it runs.
        plan, base = fs.commit_plan(plan_markdown([batch_of(1, 2), batch_of(2, 1)]))
        run_id = await start_run(fs.stack, plan, argv=agent_argv(fs.marks, 0.2))
        own = subjects.status_subject(run_id)
        poison[own] = [NOT_JSON, WRONG_SHAPE["status"]]
        for payload in poison[own]:
            await js.publish(own, payload)
        # The checker also finds the poison in the run's own subject dead-lettered.
        summary = await bus.run_succeeded(run_id, base)
        fs.assert_work_of_last_agent(summary.commits)
        if dagger:  # the dagger executor's consumer survived too: a dagger-mode run completes
            dagger_run = await start_run(
                fs.stack,
                plan,
                argv=agent_argv(fs.marks, 0.2),
                execution_mode="dagger",
                remote=str(fs.sandbox.remote),
            )
            await bus.run_succeeded(dagger_run, base)

        # Each consumer of a status subject (the planner's progress and the gateway's
        # projector) dead-letters the message: two letters; one for the other subjects.
        def expected(subject: str) -> int:
            return 2 if subject.startswith(subjects.STATUS_PREFIX + ".") else 1

        async def all_letters() -> Counter[tuple[str, bytes]] | None:
            letters = await dead_letters(js)
            assert {d.error_code for d in letters} == {FailureCode.BAD_MESSAGE}, letters
            found = Counter((d.subject, d.raw) for d in letters)
            missing = {
                (s, p): found[(s, p)]
                for s, payloads in poison.items()
                for p in payloads
                if found[(s, p)] != expected(s)
            }
            assert not missing, f"dead letters per poison message (expected 1 or 2): {missing}"
            return found

        found = await eventually(
            all_letters, within_s=60, what="every poison message dead-lettered"
        )
        assert sum(found.values()) == sum(expected(s) * len(p) for s, p in poison.items())

        # Nothing is stuck in any consumer, and no service crashed (same processes).
        durables = [
            (subjects.STREAM_PHASES, subjects.CONSUMER_PLANNER),
            (subjects.STREAM_TASKS, subjects.CONSUMER_EXECUTOR_LOCAL),
            (subjects.STREAM_STATUS, subjects.CONSUMER_PLANNER_PROGRESS),
            (subjects.STREAM_STATUS, subjects.CONSUMER_PROJECTOR),
        ]
        if dagger:
            durables.append((subjects.STREAM_TASKS, subjects.CONSUMER_EXECUTOR_DAGGER))

        async def drained() -> bool:
            for stream, durable in durables:
                info = await js.consumer_info(stream, durable)
                assert (info.num_pending, info.num_ack_pending) == (0, 0), (durable, info)
            return True

        await eventually(drained, within_s=30, what="every consumer drained")
        assert fs.pids() == pids, "a service was restarted"
        assert not [m for m in fs.said[said_before:] if m.startswith("supervisor:")]
    finally:
        await bus.nc.close()
    fault.note(
        f"{sum(found.values())} dead letters (BAD_MESSAGE, with subject and raw bytes): one per "
        "poison message, two on status subjects (planner-progress and projector each); "
        "no consumer stuck, no process restarted"
        + ("" if dagger else "; `cc.task.dispatch.dagger` not covered: no executor-dagger service")
    )
