"""`run --follow` and `demo` on a terminal: a live progress bar per batch and a task table,
with each task's outcome printed above them as it happens.

The display is redrawn after each event (no refresh thread): what is drawn is only ever read
and written by the thread that reads the event stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from commandcenter.progress import RunProgress, TaskState
from commandcenter.terminal import cells, line_style, money, short, status_text

ALL_TASKS_UP_TO = 20
"""Runs with more tasks than this show the current batch's tasks only."""


class LiveRunView:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = RunProgress(say=self._say, text_bars=False)
        self._live: Live | None = None

    def feed(self, data: str | bytes) -> None:
        self.progress.feed(data)
        if self._live is not None:
            self._live.update(self.render(), refresh=True)

    @contextmanager
    def shown(self) -> Iterator[LiveRunView]:
        """Draw the display while the block runs; it stays on screen afterwards."""
        with Live(self.render(), console=self.console, auto_refresh=False, transient=False) as live:
            self._live = live
            try:
                yield self
            finally:
                self._live = None

    def _say(self, line: str) -> None:
        self.console.print(Text(line, style=line_style(line)))

    # --- what is drawn ------------------------------------------------------------------------
    def render(self) -> RenderableType:
        if not self.progress.batches:
            return Text("waiting for the planner…", style="dim")
        return Group(self.bars(), self.task_table())

    def bars(self) -> Table:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(width=30)
        grid.add_column(justify="right", no_wrap=True)
        for index, batch in sorted(self.progress.batches.items()):
            total = max(1, len(batch.tasks))
            failed = any(self.progress.tasks[t].status == "failed" for t in batch.done)
            bar = ProgressBar(
                total=total,
                completed=len(batch.done),
                width=30,
                complete_style="red" if failed else "green",
                finished_style="red" if failed else "green",
            )
            current = "▸ " if index == self.progress.current_batch else "  "
            grid.add_row(
                *cells(f"{current}{batch.label}", bar, f"{len(batch.done)}/{len(batch.tasks)}")
            )
        return grid

    def shown_tasks(self) -> list[TaskState]:
        tasks = list(self.progress.tasks.values())
        if len(tasks) <= ALL_TASKS_UP_TO:
            return tasks
        current = self.progress.current_batch or 0
        return [task for task in tasks if task.batch_index == current]

    def task_table(self) -> Table:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for name in ("Task", "Title", "Status", "Att.", "Step", "Commit", "Cost"):
            table.add_column(name, no_wrap=name != "Title")
        for task in self.shown_tasks():
            status = status_text(task.status)
            if task.error_code and task.status in ("failed", "retrying"):
                status += Text(f" {task.error_code}", style="red")
            table.add_row(
                *cells(
                    task.plan_task_id,
                    task.title,
                    status,
                    str(task.attempt),
                    task.step,
                    short(task.integrated_commit or task.commit),
                    money(task.cost_usd),
                )
            )
        return table
