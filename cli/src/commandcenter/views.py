"""A run (`status RUN_ID`) and the list of runs (`runs`, `status`) from the gateway's JSON: as
plain lines and as rich tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from commandcenter_contracts import TASK_REPLAYABLE, RunStatus
from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from commandcenter.terminal import cells, money, short, status_text


# --- one run ----------------------------------------------------------------------------------
def _spent(view: dict[str, Any]) -> str:
    budget = f" of ${view['max_cost_usd']:.2f}" if view.get("max_cost_usd") else ""
    return f"${view.get('cost_usd', 0):.4f}{budget}" if view.get("cost_usd") or budget else ""


def _replayable(view: dict[str, Any], task: dict[str, Any]) -> bool:
    return task["status"] in TASK_REPLAYABLE and view["status"] != RunStatus.CANCELLED


def _run_header(view: dict[str, Any]) -> list[str]:
    lines = []
    if view.get("integration_branch"):
        tip = short(view.get("integration_commit")) or "not created yet"
        lines.append(
            f"integration branch {view['integration_branch']} @ {tip}  (land: {view['land']})"
        )
    if view.get("pull_request"):
        pr = view["pull_request"]
        lines.append(f"pull request #{pr['number']} ({pr['state']}): {pr['url']}")
    return lines


def _counts(view: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in view.get("counts", {}).items())


def run_lines(view: dict[str, Any]) -> list[str]:
    """`status RUN_ID` as plain lines (scripts and the docs read these: keep them stable)."""
    spent = f"  {_spent(view)}" if _spent(view) else ""
    lines = [f"run {view['id']}  {view['status']}  ({view['mode']}){spent}"]
    lines += [f"  {line}" for line in _run_header(view)]
    for batch in view["batches"]:
        phase = f"phase {batch['phase']} " if batch.get("phase") else ""
        lines.append(f"  {phase}batch {batch['number']}: {batch['title']}  [{batch['status']}]")
        for task in batch["tasks"]:
            error = (
                f"  {task['error_code']}: {task.get('error') or ''}"
                if task.get("error_code")
                else ""
            )
            landed = (
                f"  → {short(task['integrated_commit'])}" if task.get("integrated_commit") else ""
            )
            task_id, state = task["plan_task_id"], task["status"]
            lines.append(f"    {task_id:<8} {state:<10} {task['branch']}{landed}{error}")
            if _replayable(view, task):
                lines.append(f"             replay: commandcenter replay {task['task_id']}")
    lines.append("  " + _counts(view))
    return lines


def run_renderable(view: dict[str, Any]) -> RenderableType:
    """`status RUN_ID` on a terminal: a heading, then one table of every task by batch."""
    title = Text.assemble(
        ("run ", "bold"),
        (view["id"], "bold"),
        "  ",
        status_text(view["status"]),
        f"  ({view['mode']})",
        f"  {_spent(view)}" if _spent(view) else "",
    )
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in ("Batch", "Task", "Title", "Status", "Att.", "Branch", "Integrated", "Cost"):
        table.add_column(name, no_wrap=name in ("Task", "Status", "Integrated"))
    hints: list[str] = []
    for batch in view["batches"]:
        phase = f"p{batch['phase']} " if batch.get("phase") else ""
        label = Text(f"{phase}{batch['number']} ") + status_text(batch["status"])
        for task in batch["tasks"]:
            status = status_text(task["status"])
            if task.get("error_code"):
                status += Text(f" {task['error_code']}", style="red")
            table.add_row(
                *cells(
                    label,
                    task["plan_task_id"],
                    task["title"],
                    status,
                    str(task.get("attempt", 1)),
                    task["branch"],
                    short(task.get("integrated_commit")),
                    money(task.get("cost_usd")),
                )
            )
            label = Text("")
            if _replayable(view, task):
                error = f": {task['error']}" if task.get("error") else ""
                hints.append(f"{task['plan_task_id']}{error}")
                hints.append(f"  replay: commandcenter replay {task['task_id']}")
    parts: list[RenderableType] = [title, *(Text(line) for line in _run_header(view)), table]
    parts += [Text(line, style="red" if not line.startswith(" ") else "") for line in hints]
    counts = view.get("counts", {})
    parts.append(Text(", ".join(f"{k} {v}" for k, v in counts.items() if v), style="dim"))
    return Group(*parts)


# --- the list of runs ------------------------------------------------------------------------
def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def started(item: dict[str, Any]) -> str:
    moment = _when(item.get("created_at"))
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment else ""


def duration(item: dict[str, Any], now: datetime | None = None) -> str:
    """How long the run took, or has been going (until now)."""
    begin = _when(item.get("created_at"))
    if begin is None:
        return ""
    end = _when(item.get("finished_at")) or now or datetime.now(UTC)
    seconds = max(0, int((end - begin).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def progress(item: dict[str, Any]) -> str:
    counts = item.get("counts") or {}
    return f"{counts.get('succeeded', 0)}/{counts.get('total', 0)}"


def status_line(item: dict[str, Any]) -> str:
    """One run in `status` without a run id (the line it always printed)."""
    return f"{item['id']}  {item['status']:<10} {item['mode']:<7} {item['plan_path']}"


def runs_line(item: dict[str, Any], now: datetime | None = None) -> str:
    """One run in `runs`, plain: the table's columns in the same order."""
    return (
        f"{item['id']}  {item['status']:<10} {item['mode']:<7} {progress(item):>7}  "
        f"{money(item.get('cost_usd')) or '-':>9}  {started(item) or '-':<16}  "
        f"{duration(item, now):>7}  {item['plan_path']}"
    )


RUNS_COLUMNS = ("Run", "Status", "Mode", "Done", "Cost", "Started", "Took", "Plan")


def runs_table(items: list[dict[str, Any]], now: datetime | None = None) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in RUNS_COLUMNS:
        right = name in ("Done", "Cost", "Took")
        table.add_column(name, justify="right" if right else "left", no_wrap=name != "Plan")
    for item in items:
        table.add_row(
            *cells(
                item["id"],
                status_text(item["status"]),
                item["mode"],
                progress(item),
                money(item.get("cost_usd")),
                started(item),
                duration(item, now),
                item["plan_path"],
            )
        )
    return table
