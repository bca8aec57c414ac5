"""Helpers for the dagger executor's tests: tasks in dagger mode, a status reader, processes."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from commandcenter.gitfixtures import GitSandbox
from commandcenter.servers import NatsServer
from commandcenter_contracts import (
    ExecutionMode,
    TaskDispatched,
    subjects,
)
from executor_dagger import Settings, create_app
from executor_dagger.service import DaggerExecutor

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


def repo_url(sandbox: GitSandbox) -> str:
    """Dagger mode reaches the repository by URL: the sandbox's bare remote."""
    return f"file://{sandbox.remote}"


def make_task(
    sandbox: GitSandbox, run_id: str, number: str = "1.1", **overrides: Any
) -> TaskDispatched:
    return task_for(repo_url(sandbox), run_id, number, mode=ExecutionMode.DAGGER, **overrides)


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


def running_app(settings: Settings) -> contextlib.AbstractAsyncContextManager[DaggerExecutor]:
    """The executor in this process (the same `create_app` as `python -m executor_dagger`)."""
    return running(create_app(settings))


def spawn_executor(env: dict[str, str], log_path: Path) -> ExecutorProcess:
    """`python -m executor_dagger`, as `commandcenter up` and the images start it."""
    return spawn_module("executor_dagger", env, log_path)


def bus(server: NatsServer) -> contextlib.AbstractAsyncContextManager[Bus]:
    return status_bus(server, subjects.CONSUMER_EXECUTOR_DAGGER)


# Re-exported for the tests: the shared helpers live in tests/support/executors.py.
__all__ = [
    "FENCE",
    "PYTHON",
    "Bus",
    "ExecutorProcess",
    "bus",
    "create_body",
    "executor_env",
    "make_task",
    "python_agent",
    "read_lines",
    "repo_url",
    "running_app",
    "settings_for",
    "spawn_executor",
]
