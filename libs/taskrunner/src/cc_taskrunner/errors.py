"""The one exception of the task runner: a failure code and a message for the outcome."""

from __future__ import annotations

from commandcenter_contracts import FailureCode


class TaskRunnerError(Exception):
    """A step of a task failed in a way the outcome should report with `code`."""

    def __init__(self, code: FailureCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class GitError(TaskRunnerError):
    """A git command failed (its stderr is in the message)."""

    def __init__(self, message: str) -> None:
        super().__init__(FailureCode.GIT_ERROR, message)
