"""What the CLI's tests against a real gateway share: putting messages on the bus as the
services would, reading what the gateway stored, waiting for the read model."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from typing import Any

import cc_bus
import httpx
from commandcenter_contracts import (
    BatchSelection,
    DeadLetter,
    FailureCode,
    LogLine,
    PlannedBatch,
    PlannedTask,
    RunAccepted,
    RunHalted,
    RunPlanned,
    StatusEvent,
    TaskFailed,
    TaskSucceeded,
)


def bus(nats_url: str, *messages: StatusEvent | DeadLetter) -> None:
    async def go() -> None:
        nc = await cc_bus.connect(nats_url, name="cli-tests")
        try:
            js = nc.jetstream()
            for message in messages:
                if isinstance(message, DeadLetter):
                    await cc_bus.publish_dead_letter(js, message)
                else:
                    await cc_bus.publish_status(js, message)
        finally:
            await nc.close()

    asyncio.run(go())


def stored(nats_url: str, stream: str, subject: str) -> list[bytes]:
    async def go() -> list[bytes]:
        nc = await cc_bus.connect(nats_url, name="cli-tests")
        try:
            js = nc.jetstream()
            info = await js.stream_info(stream)
            found = []
            for seq in range(max(1, info.state.first_seq), info.state.last_seq + 1):
                msg = await js.get_msg(stream, seq)
                if msg.subject == subject:
                    found.append(msg.data or b"")
            return found
        finally:
            await nc.close()

    return asyncio.run(go())


def auth_headers() -> dict[str, str]:
    """The `Authorization` the CLI sends in these tests (the `gateway` fixture's `CC_TOKEN`)."""
    return {"Authorization": f"Bearer {os.environ['CC_TOKEN']}"}


def wait(url: str, path: str, check: Any, what: str) -> Any:
    deadline = time.monotonic() + 30
    while True:
        body = httpx.get(f"{url}{path}", timeout=10, headers=auth_headers()).json()
        if check(body):
            return body
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {body}"
        time.sleep(0.1)


def halted_run(nats_url: str, url: str) -> tuple[str, list[str]]:
    """A halted run with one succeeded and two failed tasks in its only batch."""
    run_id = str(uuid.uuid4())
    tasks = [str(uuid.uuid4()) for _ in range(3)]
    bus(
        nats_url,
        RunAccepted(
            run_id=run_id,
            mode="local",
            plan_path="/p.md",
            selection=BatchSelection(),
            repo="/r",
        ),
        RunPlanned(
            run_id=run_id,
            batches=[
                PlannedBatch(
                    index=0,
                    phase=None,
                    number="1",
                    title="One",
                    tasks=[
                        PlannedTask(
                            task_id=t, plan_task_id=f"1.{i + 1}", title=f"T{i}", branch=f"cc/x/{i}"
                        )
                        for i, t in enumerate(tasks)
                    ],
                )
            ],
        ),
        TaskSucceeded(run_id=run_id, task_id=tasks[0], branch="cc/x/0", commit="a" * 40),
        TaskFailed(run_id=run_id, task_id=tasks[1], error_code=FailureCode.NO_CHANGES),
        TaskFailed(run_id=run_id, task_id=tasks[2], error_code=FailureCode.VERIFICATION_FAILED),
        RunHalted(run_id=run_id, batch_index=0),
    )
    wait(url, f"/api/v1/runs/{run_id}", lambda v: v.get("status") == "halted", "the halt")
    return run_id, tasks


def publish_logs(nats_url: str, *lines: LogLine, first_seq: int = 1) -> None:
    """Lines of agent output as an executor publishes them (`seq`: the line's number)."""

    async def go() -> None:
        nc = await cc_bus.connect(nats_url, name="cli-tests")
        try:
            js = nc.jetstream()
            for seq, line in enumerate(lines, start=first_seq):
                await cc_bus.publish_log(js, line, seq=seq)
        finally:
            await nc.close()

    asyncio.run(go())
