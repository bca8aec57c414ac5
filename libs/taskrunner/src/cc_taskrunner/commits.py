"""Commit messages of task commits and the trailers that tie a commit to one task attempt."""

from __future__ import annotations

import re

from commandcenter_contracts import TaskDispatched

RUN_TRAILER = "CommandCenter-Run"
TASK_TRAILER = "CommandCenter-Task"
ATTEMPT_TRAILER = "CommandCenter-Attempt"
_TRAILER = re.compile(r"^(CommandCenter-[A-Za-z]+):\s*(.+?)\s*$")


def trailers(task: TaskDispatched) -> str:
    return (
        f"{RUN_TRAILER}: {task.run_id}\n"
        f"{TASK_TRAILER}: {task.task_id}\n"
        f"{ATTEMPT_TRAILER}: {task.attempt}"
    )


def task_commit_message(task: TaskDispatched) -> str:
    """The `**Commit:**` message of the task (or its title), then the trailers."""
    subject = (task.commit_message or task.title).strip() or f"CommandCenter task {task.task_id}"
    return f"{subject}\n\n{trailers(task)}\n"


def with_trailers(message: str, task: TaskDispatched) -> str:
    """`message` (a commit the agent made itself) with this attempt's trailers appended."""
    kept = "\n".join(
        line for line in message.rstrip().splitlines() if not _TRAILER.match(line)
    ).rstrip()
    return f"{kept or task.title}\n\n{trailers(task)}\n"


def parse_trailers(message: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in message.splitlines():
        match = _TRAILER.match(line.strip())
        if match:
            found[match.group(1)] = match.group(2)
    return found


def is_commit_of(message: str, task: TaskDispatched, *, since_attempt: int | None = None) -> bool:
    """Whether a commit message carries this task's trailers: of this very attempt, or with
    `since_attempt`, of any attempt from that one on (the deliveries of one task message)."""
    found = parse_trailers(message)
    if found.get(TASK_TRAILER) != task.task_id:
        return False
    try:
        attempt = int(found.get(ATTEMPT_TRAILER, ""))
    except ValueError:
        return False
    if since_attempt is None:
        return attempt == task.attempt
    return attempt >= since_attempt
