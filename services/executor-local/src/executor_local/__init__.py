"""The local executor: tasks from `cc.task.dispatch.local`, one at a time, in git worktrees."""

from executor_local.app import create_app
from executor_local.settings import Settings

__all__ = ["Settings", "create_app"]
