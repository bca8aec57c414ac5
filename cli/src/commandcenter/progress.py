"""Live progress of a run from its status events: a bar per batch, a line per task outcome,
and the state of every task (what the rich view draws as a table, `live.py`).

Events are decoded with the contracts' decoder and dispatched by one `match` ending in
`assert_never`: a new event type is a mypy error here until the view decides what to show.
An event this CLI does not know (a newer gateway) is skipped, as every consumer does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import assert_never

import msgspec
from commandcenter_contracts import (
    BatchCompleted,
    BatchIntegrated,
    BatchStarted,
    PullRequestUpdated,
    RunAccepted,
    RunBudgetChanged,
    RunCancelled,
    RunFailed,
    RunHalted,
    RunLanded,
    RunPlanned,
    RunResumed,
    RunStarted,
    RunSucceeded,
    StatusEvent,
    TaskFailed,
    TaskIntegrated,
    TaskProgress,
    TaskQueued,
    TaskReplayRefused,
    TaskStarted,
    TaskSucceeded,
    TaskUsage,
    status_decoder,
)

BAR_WIDTH = 20
RunEnd = RunSucceeded | RunFailed | RunHalted | RunCancelled


@dataclass
class BatchState:
    label: str
    tasks: list[str] = field(default_factory=list)
    done: set[str] = field(default_factory=set)


@dataclass
class TaskState:
    """One task as the events tell it so far."""

    plan_task_id: str
    title: str
    batch_index: int
    branch: str
    status: str = "pending"
    """pending, queued, running, retrying, succeeded, failed or cancelled."""
    attempt: int = 1
    step: str = ""
    commit: str = ""
    integrated_commit: str = ""
    cost_usd: float = 0.0
    error_code: str = ""


@dataclass
class RunProgress:
    say: Callable[[str], None] = print
    text_bars: bool = True
    """Say a text bar whenever a batch advances (off when something else draws the bars)."""
    batches: dict[int, BatchState] = field(default_factory=dict)
    tasks: dict[str, TaskState] = field(default_factory=dict)
    task_names: dict[str, str] = field(default_factory=dict)
    task_batch: dict[str, int] = field(default_factory=dict)
    current_batch: int | None = None
    final: RunEnd | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def cost_usd(self) -> float:
        return sum(task.cost_usd for task in self.tasks.values())

    @property
    def succeeded(self) -> bool:
        return isinstance(self.final, RunSucceeded)

    def bar(self, index: int) -> str:
        batch = self.batches[index]
        total = max(1, len(batch.tasks))
        filled = round(BAR_WIDTH * len(batch.done) / total)
        return (
            f"{batch.label:<40} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
            f"{len(batch.done)}/{len(batch.tasks)}"
        )

    def feed(self, data: str | bytes) -> None:
        """One server-sent event's data: a status event as the bus carries it."""
        try:
            event = status_decoder.decode(data)
        except msgspec.DecodeError:
            return  # not an event this CLI knows (or not an event): skip it
        self.show(event)

    def show(self, event: StatusEvent) -> None:  # noqa: C901 - one case per event type
        match event:
            case RunPlanned():
                self._planned(event)
            case BatchStarted():
                self.current_batch = event.batch_index
                if event.batch_index in self.batches and self.text_bars:
                    self.say(self.bar(event.batch_index))
            case TaskQueued():
                self._update(event.task_id, status="queued", attempt=event.attempt, step="")
            case TaskStarted():
                self._update(event.task_id, status="running", attempt=event.attempt)
                attempt = f" (attempt {event.attempt})" if event.attempt > 1 else ""
                self.say(f"  ▶ {self._name(event.task_id)}{attempt}")
            case TaskProgress():
                self._update(event.task_id, step=event.step)
                task = self.tasks.get(event.task_id)
                if task is not None and task.status in ("pending", "queued"):
                    task.status = "running"  # its start event may be on its way still
            case TaskSucceeded():
                self._succeeded(event)
            case TaskIntegrated():
                self._update(event.task_id, integrated_commit=event.commit)
                self.say(
                    f"  ⇢ {self._name(event.task_id)}  integrated into "
                    f"{event.integration_branch} @ {event.commit[:10]}"
                )
            case TaskFailed():
                self._failed(event)
            case BatchIntegrated():
                where = f"{event.integration_branch} @ {event.commit[:10]}"
                self.say(f"{self._label(event.batch_index)} integrated: {where}")
            case BatchCompleted():
                state = "completed" if event.succeeded else "completed with failures"
                self.say(f"{self._label(event.batch_index)} {state}")
            case PullRequestUpdated():
                pr = event.pull_request
                self.say(f"pull request #{pr.number} ({pr.state}): {pr.url}")
            case RunLanded():
                self.say(f"landed ({event.land}) on {event.target} @ {event.commit[:10]}")
            case TaskReplayRefused():
                self.say(f"  ✗ replay of {self._name(event.task_id)} refused: {event.reason}")
            case RunBudgetChanged():
                self.say(f"budget set to ${event.max_cost_usd:.2f} by {event.requested_by}")
            case RunResumed():
                self.say(f"run resumed{f': {event.reason}' if event.reason else ''}")
            case RunSucceeded():
                self._finish(event, "run succeeded")
            case RunHalted():
                after = f"after batch {event.batch_index + 1}: {event.reason}"
                self._finish(event, f"run halted {after}")
            case RunFailed():
                self._finish(event, f"run failed: {event.error}")
            case RunCancelled():
                for task in self.tasks.values():
                    if task.status not in ("succeeded", "failed"):
                        task.status = "cancelled"
                self._finish(event, "run cancelled")
            case RunAccepted() | RunStarted():
                pass  # the bars and outcome lines say enough
            case _:
                assert_never(event)

    def _planned(self, event: RunPlanned) -> None:
        for batch in event.batches:
            phase = f"phase {batch.phase} " if batch.phase else ""
            label = f"{phase}batch {batch.number}: {batch.title}"[:40]
            self.batches[batch.index] = BatchState(label, [t.task_id for t in batch.tasks])
            for task in batch.tasks:
                self.task_names[task.task_id] = f"{task.plan_task_id} {task.title}"
                self.task_batch[task.task_id] = batch.index
                self.tasks[task.task_id] = TaskState(
                    task.plan_task_id, task.title, batch.index, task.branch
                )
        self.say(
            f"planned {len(self.batches)} batch(es), "
            f"{sum(len(b.tasks) for b in self.batches.values())} task(s)"
        )

    def _succeeded(self, event: TaskSucceeded) -> None:
        pushed = "pushed" if event.pushed else "not pushed"
        cost = f", ${event.usage.cost_usd:.4f}" if event.usage and event.usage.cost_usd else ""
        fixes = f", {event.fix_rounds} fix round(s)" if event.fix_rounds else ""
        self._update(
            event.task_id,
            status="succeeded",
            attempt=event.attempt,
            step="",
            commit=event.commit,
            error_code="",
        )
        if event.integrated_commit:  # else a `task.integrated` (before or after) says where
            self._update(event.task_id, integrated_commit=event.integrated_commit)
        self._add_cost(event.task_id, event.usage)
        self.say(
            f"  ✔ {self._name(event.task_id)}  {event.branch} @ {event.commit[:10]} "
            f"({pushed}{cost}{fixes})"
        )
        self._done(event.task_id)

    def _failed(self, event: TaskFailed) -> None:
        name = self._name(event.task_id)
        if event.rework is not None:
            retry = "  (re-run from the integration branch)"
        else:
            retry = "  (will retry)" if event.will_retry else ""
        self._update(
            event.task_id,
            status="retrying" if event.will_retry else "failed",
            attempt=event.attempt,
            step="",
            error_code=str(event.error_code),
        )
        self._add_cost(event.task_id, event.usage)
        self.say(f"  ✘ {name}  {event.error_code}: {event.message}{retry}")
        if not event.will_retry:
            self.failures.append(f"{name}: {event.error_code}")
            self._done(event.task_id)

    def _update(self, task_id: str, **changes: str | int) -> None:
        task = self.tasks.get(task_id)
        if task is not None:
            for name, value in changes.items():
                setattr(task, name, value)

    def _add_cost(self, task_id: str, usage: TaskUsage | None) -> None:
        task = self.tasks.get(task_id)
        if task is not None and usage is not None:
            task.cost_usd += usage.cost_usd

    def _name(self, task_id: str) -> str:
        return self.task_names.get(task_id, task_id)

    def _label(self, batch_index: int) -> str:
        batch = self.batches.get(batch_index)
        return batch.label if batch else "batch"

    def _done(self, task_id: str) -> None:
        index = self.task_batch.get(task_id)
        if index is not None:
            self.batches[index].done.add(task_id)
            if self.text_bars:
                self.say(self.bar(index))

    def _finish(self, event: RunEnd, text: str) -> None:
        self.final = event
        self.say(text)
