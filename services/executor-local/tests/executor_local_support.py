"""Helpers for the local executor's integration tests: tasks, status readers, processes."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from commandcenter.gitfixtures import GitSandbox
from commandcenter.servers import NatsServer
from commandcenter_contracts import (
    TaskDispatched,
    subjects,
)
from executor_local import Settings, create_app
from executor_local.service import LocalExecutor

from tests.support.executors import (
    FENCE,
    PYTHON,
    Bus,
    ExecutorProcess,
    create_body,
    python_agent,
    read_lines,
    running,
    spawn_module,
    status_bus,
    task_for,
)


def make_task(
    sandbox: GitSandbox, run_id: str, number: str = "1.1", **overrides: Any
) -> TaskDispatched:
    """Local mode works in the repository itself."""
    return task_for(str(sandbox.repo), run_id, number, **overrides)


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


def running_app(settings: Settings) -> contextlib.AbstractAsyncContextManager[LocalExecutor]:
    """The executor in this process (the same `create_app` as `python -m executor_local`)."""
    return running(create_app(settings))


def spawn_executor(env: dict[str, str], log_path: Path) -> ExecutorProcess:
    """`python -m executor_local`, as `commandcenter up` starts it."""
    return spawn_module("executor_local", env, log_path)


def bus(server: NatsServer) -> contextlib.AbstractAsyncContextManager[Bus]:
    return status_bus(server, subjects.CONSUMER_EXECUTOR_LOCAL)


def exists(path: Path) -> bool:
    return path.exists()


# Re-exported for the tests: the shared helpers live in tests/support/executors.py.
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
    "python_agent",
    "read_lines",
    "running_app",
    "settings_for",
    "spawn_executor",
]
