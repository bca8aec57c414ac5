"""A task message its executor gave up on (JetStream's MAX_DELIVERIES advisory): the planner
dead-letters it with the task, fails the task so the run halts instead of waiting forever,
and removes the message from the work queue."""

from __future__ import annotations

import time
from typing import Any

import pytest
from cc_bus import ensure_consumer, executor_local_consumer, planner_advisories_consumer
from commandcenter_contracts import (
    DeadLetter,
    FailureCode,
    RunHalted,
    TaskFailed,
    dead_letter_decoder,
    subjects,
    task_decoder,
)
from nats.js import JetStreamContext
from planner_support import StatusLog, make_plan, make_request, start_run, until_idle

from tests.support.polling import eventually

pytestmark = pytest.mark.integration

MAX_DELIVER = 2


class NakkingExecutor:
    """An executor that never manages a task: it naks every delivery."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self.deliveries: list[Any] = []

    async def start(self) -> None:
        await ensure_consumer(
            self.js, executor_local_consumer(ack_wait_s=30, max_deliver=MAX_DELIVER)
        )
        self._sub = await self.js.pull_subscribe_bind(
            durable=subjects.CONSUMER_EXECUTOR_LOCAL, stream=subjects.STREAM_TASKS
        )

    async def nak_until(self, deliveries: int, within: float = 30) -> None:
        deadline = time.monotonic() + within
        while len(self.deliveries) < deliveries:
            assert time.monotonic() < deadline, f"only {len(self.deliveries)} deliveries"
            try:
                msgs = await self._sub.fetch(1, timeout=1.0)
            except TimeoutError:
                continue
            self.deliveries.append(msgs[0])
            await msgs[0].nak()

    async def pull_once(self) -> list[Any]:
        """One more pull: the server notices the exhausted message and says so (advisory)."""
        try:
            return list(await self._sub.fetch(1, timeout=1.0))
        except TimeoutError:
            return []


async def _letters(js: JetStreamContext) -> list[DeadLetter]:
    info = await js.stream_info(subjects.STREAM_DEAD)
    found = []
    for seq in range(max(1, info.state.first_seq), info.state.last_seq + 1):
        msg = await js.get_msg(subjects.STREAM_DEAD, seq)
        found.append(dead_letter_decoder.decode(msg.data or b""))
    return found


@pytest.mark.usefixtures("planner_app")
async def test_a_task_delivered_max_deliver_times_is_dead_lettered_and_halts_the_run(
    js: JetStreamContext, status_log: StatusLog
) -> None:
    nakker = NakkingExecutor(js)
    await nakker.start()
    run = await start_run(js, make_request(make_plan(1, 1)))

    await nakker.nak_until(MAX_DELIVER)
    task = task_decoder.decode(nakker.deliveries[0].data)
    assert {m.metadata.sequence.stream for m in nakker.deliveries} == {
        nakker.deliveries[0].metadata.sequence.stream
    }
    assert await nakker.pull_once() == []

    (failure,) = await status_log.wait_for(run, "task.failed")
    assert isinstance(failure, TaskFailed)
    assert (failure.task_id, failure.attempt) == (task.task_id, task.attempt)
    assert failure.error_code == FailureCode.INFRA
    assert not failure.will_retry and not failure.recoverable
    assert f"gave up after {MAX_DELIVER} deliveries" in failure.message
    (halted,) = await status_log.wait_for(run, "run.halted")
    assert isinstance(halted, RunHalted) and halted.failed_tasks == [task.task_id]

    (letter,) = await eventually(lambda: _letters(js), what="the dead letter")
    assert letter.task == task
    assert (letter.error_code, letter.num_delivered) == (FailureCode.INFRA, MAX_DELIVER)
    assert letter.subject == subjects.TASK_DISPATCH_LOCAL
    assert "executor-local" in letter.error

    async def queue_empty() -> bool:
        return (await js.stream_info(subjects.STREAM_TASKS)).state.messages == 0

    await eventually(queue_empty, what="the exhausted message removed from CC_TASKS")
    await until_idle(js, planner_advisories_consumer(), what="the advisory acked")
    assert len(await _letters(js)) == 1


@pytest.mark.usefixtures("planner_app")
async def test_an_unreadable_message_given_up_on_is_kept_raw(js: JetStreamContext) -> None:
    nakker = NakkingExecutor(js)
    await nakker.start()
    await js.publish(subjects.TASK_DISPATCH_LOCAL, b"{half a task", headers={"Nats-Msg-Id": "h"})
    await nakker.nak_until(MAX_DELIVER)
    await nakker.pull_once()

    (letter,) = await eventually(lambda: _letters(js), what="the dead letter")
    assert (letter.error_code, letter.raw, letter.task) == (
        FailureCode.BAD_MESSAGE,
        b"{half a task",
        None,
    )

    async def queue_empty() -> bool:
        return (await js.stream_info(subjects.STREAM_TASKS)).state.messages == 0

    await eventually(queue_empty, what="the message removed from CC_TASKS")
