"""The plan as text for people: `commandcenter plan show PLAN` without `--json`.

It shows what will run and how each task is checked, so a surprise is visible before a run:
each task's verification commands (run after the agent) and notes (given to the agent, never
run - a bare `- test -s a` without backticks is one), then the plan's notes and warnings with
their lines. `plan show --json` (`plan_document`) has everything else.
"""

from __future__ import annotations

import re

from commandcenter_contracts.plan import Plan, PlanBatch, PlanTask

_ID_WIDTH = 8
_COUNT_IN_TITLE = re.compile(r"\((\d+)\s+tasks?\)\s*$", re.IGNORECASE)


def plural(count: int, noun: str) -> str:
    """`1 task`, `2 tasks`."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _batch_line(batch: PlanBatch) -> str:
    phase = f"phase {batch.phase} " if batch.phase else ""
    line = f"  {phase}batch {batch.number}: {batch.title}"
    count = len(batch.tasks)
    written = _COUNT_IN_TITLE.search(batch.title)
    if written is None:
        return f"{line}  ({plural(count, 'task')})"
    if int(written.group(1)) != count:
        # The title says a number the plan does not hold: say what was read.
        return f"{line}  ({plural(count, 'task')} read)"
    return line  # "Foundations (2 tasks)" already says it


def _task_lines(task: PlanTask) -> list[str]:
    lines = [f"    {task.id:<{_ID_WIDTH}} {task.title}"]
    indent = " " * (4 + _ID_WIDTH + 3)
    lines += [f"{indent}check: {command}" for command in task.verification]
    for note in task.verification_notes:
        first, *more = note.splitlines() or [""]
        lines.append(f"{indent}note (not run): {first}")
        lines += [f"{indent}  {line}" for line in more]
    return lines


def render_text(plan: Plan) -> str:
    """The plan's title, batches with their tasks, then notes and warnings (one per line)."""
    lines = [plan.title]
    for batch in plan.batches:
        lines.append(_batch_line(batch))
        for task in batch.tasks:
            lines += _task_lines(task)
    for note in plan.notes:
        phase = f"phase {note.phase} " if note.phase else ""
        lines.append(f"  note: {phase}batch {note.batch}: {note.message}")
    for warning in plan.warnings:
        lines.append(f"  warning: line {warning.line}: {warning.message}")
    return "\n".join(lines)
