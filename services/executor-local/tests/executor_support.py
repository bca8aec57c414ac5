"""Helpers for the local executor's integration tests: tasks, status readers, processes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from commandcenter.gitfixtures import GitSandbox
from commandcenter.servers import NatsServer
from commandcenter_contracts import (
    AgentSpec,
    TaskDispatched,
    new_id,
    subjects,
)
from executor_local import Settings, create_app

from tests.support.executor_testkit import (
    FENCE,
    PYTHON,
    Bus,
    ExecutorProcess,
    create_body,
    poll,
    python_agent,
    read_lines,
    spawn_module,
    status_bus,
)


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
        "repo": str(sandbox.repo),
        "agent": AgentSpec(name="plan-follower"),
        "timeout_s": 120.0,
    }
    fields.update(overrides)
    return TaskDispatched(**fields)


def executor_env(nats_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "CC_NATS_URL": nats_url,
        "CC_WORKTREE_ROOT": str(tmp_path / "worktrees"),
        "CC_ACK_WAIT_S": "30",
        "CC_KILL_GRACE_S": "1",
        "CC_CLAUDE_BIN": str(tmp_path / "no-such-claude"),
        **extra,
    }


def settings_for(nats_url: str, tmp_path: Path, **extra: str) -> Settings:
    return Settings.from_env(executor_env(nats_url, tmp_path, **extra))


@contextlib.asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[None]:
    """The executor in this process (the same `create_app` as `python -m executor_local`)."""
    app = create_app(settings)
    await app.start()
    try:
        yield
    finally:
        await app.stop()


def spawn_executor(env: dict[str, str], log_path: Path) -> ExecutorProcess:
    """`python -m executor_local`, as `commandcenter up` starts it."""
    return spawn_module("executor_local", env, log_path)


def bus(server: NatsServer) -> contextlib.AbstractAsyncContextManager[Bus]:
    return status_bus(server, subjects.CONSUMER_EXECUTOR_LOCAL)


def exists(path: Path) -> bool:
    return path.exists()


# Re-exported for the tests: the shared helpers live in tests/support/executor_testkit.py.
__all__ = [
    "FENCE",
    "PYTHON",
    "Bus",
    "ExecutorProcess",
    "bus",
    "create_body",
    "executor_env",
    "exists",
    "make_task",
    "poll",
    "python_agent",
    "read_lines",
    "running_app",
    "settings_for",
    "spawn_executor",
]
