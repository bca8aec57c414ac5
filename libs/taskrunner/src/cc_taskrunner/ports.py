"""The seams of the task runner: where events go, how a task is isolated, who does the work.

The local executor plugs in git worktrees and NATS; the dagger executor plugs in containers
or fresh clones. `TaskRunner` only knows these protocols.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from commandcenter_contracts import FailureCode, LogLine, StatusEvent, TaskDispatched

LogStream = Literal["stdout", "stderr", "system"]
LogFn = Callable[[LogStream, str], Awaitable[None]]
"""Forward one line of output (without its newline) to the task's log."""


class EventSink(Protocol):
    """Where a running task reports. Implementations decide what a failed publish means."""

    async def status(self, event: StatusEvent) -> None: ...

    async def log(self, line: LogLine) -> None: ...


class Workspace(Protocol):
    """A checkout of the task's branch that nothing else uses while the task runs."""

    @property
    def path(self) -> Path: ...

    @property
    def branch(self) -> str: ...

    @property
    def base_commit(self) -> str:
        """The commit the branch was created from: new commits are counted from here."""
        ...

    @property
    def remote(self) -> str | None:
        """Where the branch is pushed (a remote name or URL usable in `path`); None: no push."""
        ...

    async def cleanup(self) -> None: ...


class Isolation(Protocol):
    async def prepare(self, task: TaskDispatched) -> Workspace: ...

    async def push(self, workspace: Workspace, *, expected_tip: str | None) -> None:
        """Push the workspace's branch; `expected_tip` is what the remote had before (lease)."""
        ...


@dataclass(frozen=True, kw_only=True)
class AgentContext:
    task: TaskDispatched
    workdir: Path
    prompt: str
    timeout_s: float
    cancel: asyncio.Event
    log: LogFn
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment for subprocess agents (git identity, …)."""


@dataclass(frozen=True)
class AgentResult:
    failure: FailureCode | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.failure is None


class Agent(Protocol):
    """Changes the files of `ctx.workdir` as the task asks. May commit; need not."""

    async def run(self, ctx: AgentContext) -> AgentResult: ...
