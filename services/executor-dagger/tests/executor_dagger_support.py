"""The dagger executor in its tests: tasks in dagger mode, its settings (engine-less), this
process or `python -m executor_dagger`. What both executors' tests share is in
tests/support/executors.py."""

from __future__ import annotations

from typing import Any

from commandcenter.gitfixtures import GitSandbox
from commandcenter_contracts import ExecutionMode, TaskDispatched, subjects
from executor_dagger import Settings, create_app

from tests.support.executors import ExecutorUnderTest, task_for

DAGGER = ExecutorUnderTest(
    module="executor_dagger",
    durable=subjects.CONSUMER_EXECUTOR_DAGGER,
    own_env=lambda tmp_path: {
        "CC_DAGGER_BACKEND": "engineless",
        "CC_WORK_ROOT": str(tmp_path / "work"),
    },
    from_env=Settings.from_env,
    create_app=create_app,
)
executor_env = DAGGER.env
settings_for = DAGGER.settings_for
running_app = DAGGER.running_app
spawn_executor = DAGGER.spawn
bus = DAGGER.bus


def repo_url(sandbox: GitSandbox) -> str:
    """Dagger mode reaches the repository by URL: the sandbox's bare remote."""
    return f"file://{sandbox.remote}"


def make_task(
    sandbox: GitSandbox, run_id: str, number: str = "1.1", **overrides: Any
) -> TaskDispatched:
    return task_for(repo_url(sandbox), run_id, number, mode=ExecutionMode.DAGGER, **overrides)
