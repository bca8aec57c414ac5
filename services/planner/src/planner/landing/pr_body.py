"""The pull request's title and body: what the run is, and each batch and task with its status.

Pure: the same progress gives the same text, so an update that changes nothing is no call.
"""

from __future__ import annotations

from commandcenter_contracts import RunStatus, TaskStatus

from planner.domain.planning import RunTasks
from planner.domain.progress import RunProgress

_MARK = {TaskStatus.SUCCEEDED: "x"}


def pr_title(title: str, run_id: str) -> str:
    name = title.strip() or "plan"
    return f"CommandCenter: {name} (run {run_id[:8]})"


def pr_body(
    progress: RunProgress,
    tasks: RunTasks | None,
    *,
    plan_path: str,
    integration_branch: str,
    base: str,
) -> str:
    titles = {t.task_id: t.title for batch in (tasks.batches if tasks else []) for t in batch}
    lines = [
        f"Run `{progress.run_id}` of `{plan_path}`: every task's work, one commit per task, "
        f"on `{integration_branch}` into `{base}`.",
        "",
    ]
    for batch in progress.batches:
        phase = f"Phase {batch.phase}, " if batch.phase else ""
        lines.append(f"### {phase}Batch {batch.number}: {batch.title} — {batch.status}")
        for task in batch.tasks:
            mark = _MARK.get(task.status, " ")
            title = titles.get(task.task_id, "")
            detail: str = task.status
            if task.integrated_commit:
                detail = f"`{task.integrated_commit[:12]}`"
            elif task.error_code:
                detail = f"{task.status} ({task.error_code})"
            lines.append(f"- [{mark}] {task.plan_task_id} {title} — {detail}")
        lines.append("")
    state = {
        RunStatus.RUNNING: "The run is going: this pull request is a draft until it succeeds.",
        RunStatus.LANDING: "Every task succeeded: ready for review.",
        RunStatus.SUCCEEDED: "Every task succeeded: ready for review.",
    }.get(progress.status, f"The run is {progress.status}.")
    lines.append(f"_{state} Updated by CommandCenter._")
    return "\n".join(lines) + "\n"
