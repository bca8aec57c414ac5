"""What the two executors' tests share: tasks, a status-event reader that publishes them,
executors in this process or started as `commandcenter up` starts them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import nats
from cc_bus import ensure_streams, publish_task
from commandcenter.servers import NatsServer
from commandcenter_contracts import (
    AgentSpec,
    StatusEvent,
    TaskDispatched,
    TaskFailed,
    TaskSucceeded,
    new_id,
    status_decoder,
    subjects,
)
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo, DeliverPolicy

from tests.support.polling import eventually

FENCE = "```"
PYTHON = sys.executable


def create_body(path: str, content: str) -> str:
    """A task body the plan-follower carries out: it creates `path` with `content`."""
    return f"**Files:**\n- Create: {path}\n\nCreate `{path}`:\n{FENCE}\n{content}\n{FENCE}\n"


def python_agent(script: str, *args: str) -> AgentSpec:
    return AgentSpec(name="command", argv=[PYTHON, "-c", script, *args])


def task_for(repo: str, run_id: str, number: str = "1.1", **overrides: Any) -> TaskDispatched:
    """A plan-follower task of `repo` creating `out/<number>.txt`; `overrides` set any field."""
    slug = number.replace(".", "-")
    fields: dict[str, Any] = {
        "run_id": run_id,
        "task_id": new_id(),
        "plan_task_id": number,
        "batch_index": 0,
        "title": f"Create file {number}",
        "body": create_body(f"out/{slug}.txt", f"task {number}"),
        "branch": f"cc/{run_id[:8]}/{slug}-create-file",
        "repo": repo,
        "agent": AgentSpec(name="plan-follower"),
        "timeout_s": 120.0,
    }
    fields.update(overrides)
    return TaskDispatched(**fields)


class Startable(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


S = TypeVar("S", bound=Startable)


@contextlib.asynccontextmanager
async def running(app: S) -> AsyncIterator[S]:
    """An executor in this process, started and (whatever happens) stopped."""
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@dataclass
class ExecutorProcess:
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def spawn_module(module: str, env: dict[str, str], log_path: Path) -> ExecutorProcess:
    """`python -m <module>`, as `commandcenter up` and the images start it."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - fixed argv
            [PYTHON, "-m", module],
            env={**os.environ, "CC_LOG_FORMAT": "console", **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return ExecutorProcess(process, log_path)


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@dataclass
class Bus:
    """A test client: publishes tasks and records every status event of the server."""

    nc: Client
    js: JetStreamContext
    durable: str
    """The executor durable whose acks `settled_consumer` waits for."""
    events: list[StatusEvent] = field(default_factory=list)

    async def publish(self, task: TaskDispatched) -> None:
        await publish_task(self.js, task)

    def of(self, task_id: str, kind: type[Any] | tuple[type[Any], ...]) -> list[Any]:
        return [
            e for e in self.events if isinstance(e, kind) and getattr(e, "task_id", "") == task_id
        ]

    def outcome(self, task_id: str) -> TaskSucceeded | TaskFailed | None:
        found = self.of(task_id, (TaskSucceeded, TaskFailed))
        return found[0] if found else None

    async def wait_for(self, predicate: Callable[[], bool], *, within_s: float = 60.0) -> None:
        await eventually(
            predicate, within_s=within_s, what="the events", detail=lambda: self.events
        )

    async def consumer(self) -> ConsumerInfo:
        info: ConsumerInfo = await self.js.consumer_info(subjects.STREAM_TASKS, self.durable)
        return info

    async def settled_consumer(self, *, within_s: float = 30.0) -> ConsumerInfo:
        """The durable's info once nothing waits for an ack (the ack follows the outcome)."""

        async def settled() -> ConsumerInfo | None:
            info = await self.consumer()
            return info if info.num_ack_pending == 0 else None

        found: ConsumerInfo = await eventually(
            settled, within_s=within_s, what="every message acked"
        )
        return found

    async def outcomes(
        self, tasks: list[TaskDispatched], *, within_s: float = 90.0
    ) -> list[TaskSucceeded | TaskFailed]:
        await self.wait_for(lambda: all(self.outcome(t.task_id) for t in tasks), within_s=within_s)
        return [o for t in tasks if (o := self.outcome(t.task_id)) is not None]


@contextlib.asynccontextmanager
async def status_bus(server: NatsServer, durable: str) -> AsyncIterator[Bus]:
    nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream()
    await ensure_streams(js)
    client = Bus(nc, js, durable)

    async def on_status(msg: Any) -> None:
        client.events.append(status_decoder.decode(msg.data))

    sub = await js.subscribe(
        subjects.STATUS_ALL,
        stream=subjects.STREAM_STATUS,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL,
        cb=on_status,
    )
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
        await nc.close()
