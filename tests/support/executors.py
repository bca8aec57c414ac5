"""What the two executors' tests share (and the task runner's, the flow they both run): tasks
and agents, the steps and failures every executor reports, a status-event reader that
publishes tasks, executors in this process or started as `commandcenter up` starts them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import nats
from cc_bus import ensure_streams, publish_task
from commandcenter.servers import NatsServer
from commandcenter_contracts import (
    AgentSpec,
    FailureCode,
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


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def exists(path: Path) -> bool:
    """`path.exists()`, for async tests (where the lint refuses blocking path calls)."""
    return path.exists()


def create_body(path: str, content: str) -> str:
    """A task body the plan-follower carries out: it creates `path` with `content`."""
    return f"**Files:**\n- Create: {path}\n\nCreate `{path}`:\n{FENCE}\n{content}\n{FENCE}\n"


def python_agent(script: str, *args: str) -> AgentSpec:
    """A `command` agent running a Python snippet (argv, no shell)."""
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


SUCCESS_STEPS = ["isolated", "agent_started", "agent_finished", "committed", "verified", "pushed"]
"""The progress steps of a task that is verified and pushed, whatever runs it."""

FAILING_TASKS: dict[str, tuple[dict[str, Any], FailureCode]] = {
    "no_changes": (
        {"body": "**Implementation:**\nNothing to write down.\n"},
        FailureCode.NO_CHANGES,
    ),
    "verification": (
        {"verification": ["python3 -c 'import sys; sys.exit(1)'"]},
        FailureCode.VERIFICATION_FAILED,
    ),
    "command_missing": (
        {"agent": AgentSpec(name="command", argv=["cc-no-such-agent"])},
        FailureCode.AGENT_NOT_FOUND,
    ),
    "claude_missing": ({"agent": AgentSpec(name="claude")}, FailureCode.AGENT_NOT_FOUND),
}
"""Tasks that fail for a reason of their own, in every executor and backend: by case, the
fields that make them fail and the failure code."""


def failed_with(outcome: object, code: FailureCode) -> TaskFailed:
    """`outcome`, checked to be a failure with `code`."""
    assert isinstance(outcome, TaskFailed), outcome
    assert outcome.error_code is code, outcome.message
    return outcome


def write_skill(skills_dir: Path, name: str, text: str) -> Path:
    """`<skills_dir>/<name>/SKILL.md` (for `CC_SKILLS_DIR`); returns `skills_dir`."""
    (skills_dir / name).mkdir(parents=True)
    (skills_dir / name / "SKILL.md").write_text(text)
    return skills_dir


# Journals "start|end <task> <where> <time>" around a sleep of argv[2] seconds, then changes a
# file. <where> is the folder three levels above the agent's: with the engine-less backend
# CC_WORK_ROOT (<work root>/clones/<tmp>/repo), which tells replicas apart.
JOURNAL_AGENT = """
import os, pathlib, sys, time
journal, task = sys.argv[1], os.environ["CC_TASK_ID"]
where = pathlib.Path.cwd().parents[2].name
def note(what):
    with open(journal, "a") as fh:
        fh.write(f"{what} {task} {where} {time.time():.6f}\\n")
note("start")
time.sleep(float(sys.argv[2]))
pathlib.Path("work.txt").write_text(task + "\\n")
note("end")
"""


# Counts its runs in argv[1]; exits 1 on the runs listed in argv[2] ("1,2", or "always"), and
# on the others writes `result.txt` saying which run it was.
FAILING_AGENT = """
import pathlib, sys
counter = pathlib.Path(sys.argv[1])
run = len(counter.read_text().splitlines()) + 1 if counter.exists() else 1
with counter.open("a") as fh:
    fh.write(f"{run}\\n")
if sys.argv[2] == "always" or str(run) in sys.argv[2].split(","):
    sys.exit(f"run {run} fails")
pathlib.Path("result.txt").write_text(f"run {run}\\n")
"""

# Hangs on its first run (until stopped), its pid in argv[2] if given; a later run writes
# `done.txt` at once. Every run appends "run" to argv[1].
HANGS_FIRST_AGENT = """
import os, pathlib, sys, time
attempts = pathlib.Path(sys.argv[1])
first = not attempts.exists()
with attempts.open("a") as fh:
    fh.write("run\\n")
if first:
    if len(sys.argv) > 2:
        pathlib.Path(sys.argv[2]).write_text(str(os.getpid()))
    time.sleep(300)
pathlib.Path("done.txt").write_text("done\\n")
"""

FLAKY_SKILL = """---
name: flaky
description: work whose agent sometimes fails for no reason of the task
contract:
  version: '1.0'
  errors:
  - code: AGENT_FAILED
    description: the agent crashed; another run usually works
    recoverable: true
  retries:
    max_attempts: 2
---
# Flaky work
"""
"""A skill that makes the agent's failures recoverable, for two attempts at most."""


@dataclass(frozen=True)
class AgentRun:
    """One run of `JOURNAL_AGENT`; `end` is None while (or if) it has not ended."""

    task: str
    where: str
    start: float
    end: float | None


def journal_runs(journal: Path) -> list[AgentRun]:
    """One entry per agent run (a task run twice has two), ends matched by task and place."""
    found: dict[tuple[str, str], list[float | None]] = {}
    order: list[tuple[str, str]] = []
    for line in read_lines(journal):
        what, task, where, at = line.split()
        assert what in {"start", "end"}, line
        key = (task, where)
        if what == "start":
            found[key] = [float(at), None]
            order.append(key)
        else:
            found[key][1] = float(at)
    return [AgentRun(t, w, found[(t, w)][0] or 0.0, found[(t, w)][1]) for t, w in order]


def peak(intervals: list[tuple[float, float]]) -> int:
    """How many of the intervals overlap at most."""
    points = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    current = highest = 0
    for _, delta in points:  # an end at the same instant sorts before a start
        current += delta
        highest = max(highest, current)
    return highest


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


SettingsT = TypeVar("SettingsT")
AppT = TypeVar("AppT", bound=Startable)


@dataclass(frozen=True)
class ExecutorUnderTest(Generic[SettingsT, AppT]):
    """One executor as its tests start it: in this process, or as `python -m <module>`."""

    module: str
    durable: str
    """The durable consumer it takes tasks from (`Bus.settled_consumer` waits for its acks)."""
    own_env: Callable[[Path], dict[str, str]]
    """Its own variables for a test's folder: where its checkouts go."""
    from_env: Callable[[dict[str, str]], SettingsT]
    create_app: Callable[[SettingsT], AppT]

    def env(self, nats_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
        """Its variables in a test: a short ack_wait and kill grace, and no `claude`."""
        return {
            "CC_NATS_URL": nats_url,
            **self.own_env(tmp_path),
            "CC_ACK_WAIT_S": "30",
            "CC_KILL_GRACE_S": "1",
            "CC_CLAUDE_BIN": str(tmp_path / "no-such-claude"),
            **extra,
        }

    def settings_for(self, nats_url: str, tmp_path: Path, **extra: str) -> SettingsT:
        return self.from_env(self.env(nats_url, tmp_path, **extra))

    def running_app(self, settings: SettingsT) -> AbstractAsyncContextManager[AppT]:
        """The executor in this process (the same `create_app` as `python -m <module>`)."""
        return running(self.create_app(settings))

    def spawn(self, env: dict[str, str], log_path: Path) -> ExecutorProcess:
        """`python -m <module>`, as `commandcenter up` and the images start it."""
        return spawn_module(self.module, env, log_path)

    def bus(self, server: NatsServer) -> AbstractAsyncContextManager[Bus]:
        return status_bus(server, self.durable)
