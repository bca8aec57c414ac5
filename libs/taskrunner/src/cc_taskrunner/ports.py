"""The seams of the task runner: where events go, where commands run, who does the work.

The runner never touches a file system or starts a process itself: every git step, the agent
and the verification commands go through the `Workspace` the `Isolation` handed out, as argv
lists (`exec`) and files (`write_file`, `write_scratch`). A local workspace (a git worktree, a
fresh clone) runs them as child processes in a folder; a container workspace (the Dagger
backend) chains them onto a container. So both executors and every backend run ONE flow.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path, PurePath
from typing import Literal, Protocol

from commandcenter_contracts import FailureCode, LogLine, StatusEvent, TaskDispatched, TaskUsage

from cc_taskrunner.environment import ExecKind
from cc_taskrunner.process import LineCallback, ProcessResult

LogStream = Literal["stdout", "stderr", "system"]
LogFn = Callable[[LogStream, str], Awaitable[None]]
"""Forward one line of output (without its newline) to the task's log."""

__all__ = [
    "NO_TURNS",
    "Agent",
    "AgentContext",
    "AgentResult",
    "EventSink",
    "ExecKind",
    "ExecRequest",
    "FixRound",
    "Isolation",
    "LineCallback",
    "LogFn",
    "LogStream",
    "NoTurns",
    "ProcessResult",
    "Turn",
    "Turns",
    "Workspace",
]


class EventSink(Protocol):
    """Where a running task reports. Implementations decide what a failed publish means."""

    async def status(self, event: StatusEvent) -> None: ...

    async def log(self, line: LogLine) -> None: ...


@dataclass(frozen=True)
class ExecRequest:
    """A command for `Workspace.exec`: an argv (no shell) and how it runs."""

    argv: Sequence[str]
    _: KW_ONLY
    kind: ExecKind
    """Which credentials the command sees."""
    timeout_s: float
    stdin: str | None = None
    env: Mapping[str, str] | None = None
    """Variables on top of what `kind` gets."""
    cancel: asyncio.Event | None = None
    on_line: LineCallback | None = None
    """Sees each line of output."""
    capture_stdout: bool = False
    """Keep all of stdout in the result (git's answers)."""
    dies_with_executor: bool = True
    """Killed by the kernel when the executor dies (`run_process`); False only for git's own
    plumbing, which runs no hook and is over in milliseconds."""


class Workspace(Protocol):
    """A checkout of the task's branch that nothing else uses while the task runs."""

    @property
    def path(self) -> PurePath:
        """The checkout, as its commands see it (a folder here, `/work` in a container)."""
        ...

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

    @property
    def sandboxed(self) -> bool:
        """Whether the checkout is a sandbox of its own (a fresh clone, a container) rather than
        a worktree of the user's repository: agents may then run with permissions bypassed."""
        ...

    @property
    def integration_remote(self) -> str | None:
        """Where the run's integration branch lives (a remote name or URL usable in `path`);
        None: in the checkout's own ref store (a worktree of a repository without a remote)."""
        ...

    @property
    def integration_tip(self) -> str | None:
        """The integration branch's tip, if the isolation read it when it made the checkout
        (which then starts on it); None: read by `start_from_integration`, unless
        `integration_read`."""
        ...

    @property
    def integration_read(self) -> bool:
        """Whether the isolation read the integration branch where it lives: `integration_tip`
        None then means the branch did not exist yet (the run's first tasks create it)."""
        ...

    async def exec(self, request: ExecRequest) -> ProcessResult:
        """Run the request's argv in the checkout.

        Raises `CommandNotFound` when the program cannot be started.
        """
        ...

    async def write_file(self, relative: str, content: str) -> None:
        """Write a file of the checkout; raises `UnsafePath` if it would land outside it."""
        ...

    async def write_scratch(self, name: str, content: str) -> PurePath:
        """Write a file OUTSIDE the checkout (never committed), gone after `cleanup`."""
        ...

    async def resolve_program(self, program: str) -> str | None:
        """An argv[0] that will start `program` here, or None when it is known to be missing."""
        ...

    async def private_home(self) -> PurePath:
        """A folder outside the checkout for an agent's configuration (its `HOME`): the same
        for the whole attempt (a resumed session finds its state), private to it, gone after
        `cleanup`. The isolation's agent files (a credentials file) are copied into it."""
        ...

    async def cleanup(self) -> None: ...


class Isolation(Protocol):
    async def prepare(self, task: TaskDispatched) -> Workspace:
        """A checkout of a new branch `task.branch` at the task's base (raises `GitError`)."""
        ...


@dataclass(frozen=True, kw_only=True)
class FixRound:
    """The agent is sent back to its work: a check failed."""

    number: int
    """1 for the first fix round of the attempt."""
    command: str
    failure: str
    """How it failed: the exit status and the tail of its output."""
    combined: bool = False
    """The check failed on the integration branch combined with this task's work."""
    session_id: str | None = None
    """The agent's session to continue (Claude Code `--resume`), when it has one."""


@dataclass(frozen=True, kw_only=True)
class AgentContext:
    task: TaskDispatched
    workdir: PurePath
    prompt: str
    timeout_s: float
    cancel: asyncio.Event
    log: LogFn
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment for subprocess agents."""
    workspace: Workspace | None = None
    """Where the agent's commands and files go; None: local processes in `workdir`."""
    fix: FixRound | None = None
    """Set when the agent is sent back to fix a failed check (the prompt says what failed)."""

    def target(self) -> Workspace:
        if self.workspace is not None:
            return self.workspace
        from cc_taskrunner.workspace import LocalWorkspace  # here: workspace imports ports

        return LocalWorkspace.plain(Path(self.workdir))


@dataclass(frozen=True)
class AgentResult:
    failure: FailureCode | None = None
    message: str = ""
    usage: TaskUsage | None = None
    """What the agent spent (cost, tokens, turns, model, its session), when it says."""
    denials: tuple[str, ...] = ()
    """Tool calls the agent's permissions refused (e.g. `Bash pytest -q`)."""

    @property
    def ok(self) -> bool:
        return self.failure is None


class Agent(Protocol):
    """Changes the files of the task's checkout as the task asks. May commit; need not."""

    async def run(self, ctx: AgentContext) -> AgentResult: ...


class Turn(Protocol):
    """A turn on an integration branch, as its holder sees it."""

    tip: str | None
    """Where the previous holder left the branch (None: not known); the holder sets it to
    where it leaves the branch, for the next one."""


class Turns(Protocol):
    """Integrators of one integration branch in different processes (executor replicas) take
    turns, so that they do not all combine and push at once only for one to win the
    compare-and-set. Advisory: the compare-and-set alone keeps the branch right, so a turn
    that cannot be had (the bus is away, a holder died) is waited for a bounded time only."""

    def hold(self, key: str, cancel: asyncio.Event) -> contextlib.AbstractAsyncContextManager[Turn]:
        """The turn on `key` (one integration branch) until the block ends; stops waiting
        when `cancel` is set (the block then runs without the turn)."""
        ...


@dataclass
class UnsharedTurn:
    tip: str | None = None


class NoTurns:
    """One process's integrators only (they already take turns within the process)."""

    @contextlib.asynccontextmanager
    async def hold(self, key: str, cancel: asyncio.Event) -> AsyncIterator[Turn]:  # noqa: ARG002
        yield UnsharedTurn()


NO_TURNS: Turns = NoTurns()
