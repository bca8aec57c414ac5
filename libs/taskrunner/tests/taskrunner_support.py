"""Test helpers for cc_taskrunner: a recording event sink, task factories, a runner harness.
What the executors' tests share with these (agents, steps, failures) is in
tests/support/executors.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cc_taskrunner import (
    AgentContext,
    AgentResult,
    GitIdentity,
    PlanFollowerAgent,
    RunnerSettings,
    TaskRunner,
    WorktreeIsolation,
    default_agents,
)
from cc_taskrunner.ports import NO_TURNS, Agent, Isolation, Turns
from commandcenter.gitfixtures import GitSandbox, git, make_git_sandbox
from commandcenter_contracts import AgentSpec, LogLine, StatusEvent, TaskDispatched, new_id

from tests.support.executors import FENCE


def create_body(path: str, content: str) -> str:
    """A task body in the shape of the real plans: Files list, then `Create \\`path\\`:` + block."""
    return (
        f"**Files:**\n- Create: {path}\n\n**Implementation:**\nCreate the file.\n\n"
        f"Create `{path}`:\n{FENCE}\n{content}\n{FENCE}\n"
    )


# A parent that starts a sleeping child, records both pids in argv[1], then sleeps itself.
PROCESS_TREE = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
with open(sys.argv[1], "w") as fh:
    fh.write(f"{os.getpid()} {child.pid}")
print("started", flush=True)
time.sleep(300)
"""


def make_task(sandbox: GitSandbox, **overrides: Any) -> TaskDispatched:
    run_id = overrides.pop("run_id", new_id())
    fields: dict[str, Any] = {
        "run_id": run_id,
        "task_id": new_id(),
        "plan_task_id": "1.1",
        "batch_index": 0,
        "title": "Create alpha",
        "body": create_body("src/alpha.txt", "alpha"),
        "branch": f"cc/{run_id[:8]}/1-1-create-alpha",
        "repo": str(sandbox.repo),
        "agent": AgentSpec(name="plan-follower"),
        "timeout_s": 60.0,
    }
    fields.update(overrides)
    return TaskDispatched(**fields)


def sandbox_without_remote(path: Path) -> GitSandbox:
    """A sandbox whose repository has no `origin`: nothing to push to."""
    sandbox = make_git_sandbox(path)
    git(sandbox.repo, "remote", "remove", "origin")
    return sandbox


@dataclass
class RecordingSink:
    """An EventSink that keeps what it was given (and can be told to fail)."""

    events: list[StatusEvent] = field(default_factory=list)
    lines: list[LogLine] = field(default_factory=list)
    fail: bool = False

    async def status(self, event: StatusEvent) -> None:
        if self.fail:
            raise ConnectionError("sink down")
        self.events.append(event)

    async def log(self, line: LogLine) -> None:
        if self.fail:
            raise ConnectionError("sink down")
        self.lines.append(line)

    @property
    def types(self) -> list[str]:
        return [type(e).__name__ for e in self.events]

    def steps(self) -> list[str]:
        return [e.step for e in self.events if hasattr(e, "step")]

    def text(self) -> str:
        return "\n".join(line.line for line in self.lines)


@dataclass
class CountingAgent:
    """Wraps an agent and counts its runs."""

    inner: Agent
    runs: int = 0

    async def run(self, ctx: AgentContext) -> AgentResult:
        self.runs += 1
        return await self.inner.run(ctx)


@dataclass
class Harness:
    runner: TaskRunner
    sink: RecordingSink
    settings: RunnerSettings
    worktree_root: Path
    agents: dict[str, Agent]

    def runner_on(self, isolation: Isolation, *, turns: Turns = NO_TURNS) -> TaskRunner:
        """A runner with the same agents, sink and settings on another isolation."""
        return TaskRunner(isolation, self.agents, self.sink, self.settings, turns=turns)


def make_harness(
    tmp_path: Path, *, agents: dict[str, Agent] | None = None, **settings: Any
) -> Harness:
    config = RunnerSettings(
        executor_id="test-executor", kill_grace_s=1.0, verification_timeout_s=60.0, **settings
    )
    root = tmp_path / "worktrees"
    sink = RecordingSink()
    all_agents = {**default_agents(config), **(agents or {})}
    isolation = WorktreeIsolation(
        root, GitIdentity(config.git_author_name, config.git_author_email)
    )
    return Harness(TaskRunner(isolation, all_agents, sink, config), sink, config, root, all_agents)


def counting_harness(tmp_path: Path) -> tuple[Harness, CountingAgent]:
    """A harness whose plan-follower counts its runs."""
    counting = CountingAgent(PlanFollowerAgent())
    return make_harness(tmp_path, agents={"plan-follower": counting}), counting


def is_empty_dir(path: Path) -> bool:
    return not any(path.iterdir())
