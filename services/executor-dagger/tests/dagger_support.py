"""Helpers for the dagger executor's tests: tasks in dagger mode, a status reader, processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
from cc_bus import ensure_streams, publish_task
from commandcenter.gitfixtures import GitSandbox
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
from executor_dagger import Settings, create_app
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo, DeliverPolicy

FENCE = "```"
PYTHON = sys.executable


def create_body(path: str, content: str) -> str:
    return f"**Files:**\n- Create: {path}\n\nCreate `{path}`:\n{FENCE}\n{content}\n{FENCE}\n"


def repo_url(sandbox: GitSandbox) -> str:
    """Dagger mode reaches the repository by URL: the sandbox's bare remote."""
    return f"file://{sandbox.remote}"


def make_task(
    sandbox: GitSandbox, run_id: str, number: str = "1.1", **overrides: Any
) -> TaskDispatched:
    slug = number.replace(".", "-")
    fields: dict[str, Any] = {
        "run_id": run_id,
        "task_id": new_id(),
        "plan_task_id": number,
        "batch_index": 0,
        "title": f"Create file {number}",
        "body": create_body(f"out/{slug}.txt", f"task {number}"),
        "branch": f"cc/{run_id[:8]}/{slug}-create-file",
        "repo": repo_url(sandbox),
        "agent": AgentSpec(name="plan-follower"),
        "timeout_s": 120.0,
        "mode": "dagger",
    }
    fields.update(overrides)
    return TaskDispatched(**fields)


def python_agent(script: str, *args: str) -> AgentSpec:
    return AgentSpec(name="command", argv=[PYTHON, "-c", script, *args])


def executor_env(nats_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "CC_NATS_URL": nats_url,
        "CC_DAGGER_BACKEND": "engineless",
        "CC_WORK_ROOT": str(tmp_path / "work"),
        "CC_ACK_WAIT_S": "30",
        "CC_KILL_GRACE_S": "1",
        "CC_CLAUDE_BIN": str(tmp_path / "no-such-claude"),
        **extra,
    }


def settings_for(nats_url: str, tmp_path: Path, **extra: str) -> Settings:
    return Settings.from_env(executor_env(nats_url, tmp_path, **extra))


@contextlib.asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[Any]:
    """The executor in this process (the same `create_app` as `python -m executor_dagger`)."""
    app = create_app(settings)
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


def spawn_executor(env: dict[str, str], log_path: Path) -> ExecutorProcess:
    """`python -m executor_dagger`, as `commandcenter up` and the images start it."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - fixed argv
            [PYTHON, "-m", "executor_dagger"],
            env={**os.environ, "CC_LOG_FORMAT": "console", **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return ExecutorProcess(process, log_path)


@dataclass
class Bus:
    """A test client: publishes tasks and records every status event of the server."""

    nc: Client
    js: JetStreamContext
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
        assert await poll(predicate, within_s=within_s), f"not within {within_s}s: {self.events}"

    async def outcomes(
        self, tasks: list[TaskDispatched], *, within_s: float = 90.0
    ) -> list[TaskSucceeded | TaskFailed]:
        await self.wait_for(lambda: all(self.outcome(t.task_id) for t in tasks), within_s=within_s)
        return [o for t in tasks if (o := self.outcome(t.task_id)) is not None]

    async def consumer(self) -> ConsumerInfo:
        return await self.js.consumer_info(subjects.STREAM_TASKS, subjects.CONSUMER_EXECUTOR_DAGGER)

    async def settled_consumer(self, *, within_s: float = 30.0) -> ConsumerInfo:
        """The durable's info once nothing waits for an ack (the ack follows the outcome)."""
        info = await self.consumer()
        for _ in range(int(within_s / 0.05)):
            info = await self.consumer()
            if info.num_ack_pending == 0:
                return info
            await asyncio.sleep(0.05)
        raise AssertionError(f"messages still unacked after {within_s}s: {info}")


@contextlib.asynccontextmanager
async def bus(server: NatsServer) -> AsyncIterator[Bus]:
    nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream()
    await ensure_streams(js)
    client = Bus(nc, js)

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


async def poll(predicate: Callable[[], bool], *, within_s: float = 30.0) -> bool:
    for _ in range(max(1, int(within_s / 0.05))):
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []
