"""The local executor in its tests: tasks in the repository itself, its settings, this process
or `python -m executor_local`. What both executors' tests share is in tests/support/executors.py."""

from __future__ import annotations

from typing import Any

from commandcenter.gitfixtures import GitSandbox
from commandcenter_contracts import TaskDispatched, subjects
from executor_local import Settings, create_app

from tests.support.executors import ExecutorUnderTest, task_for

LOCAL = ExecutorUnderTest(
    module="executor_local",
    durable=subjects.CONSUMER_EXECUTOR_LOCAL,
    own_env=lambda tmp_path: {"CC_WORKTREE_ROOT": str(tmp_path / "worktrees")},
    from_env=Settings.from_env,
    create_app=create_app,
)
executor_env = LOCAL.env
settings_for = LOCAL.settings_for
running_app = LOCAL.running_app
spawn_executor = LOCAL.spawn
bus = LOCAL.bus


def make_task(
    sandbox: GitSandbox, run_id: str, number: str = "1.1", **overrides: Any
) -> TaskDispatched:
    """Local mode works in the repository itself."""
    return task_for(str(sandbox.repo), run_id, number, **overrides)
