"""Live progress of a run from its status events: a bar per batch, a line per task outcome."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

BAR_WIDTH = 20


@dataclass
class _Batch:
    label: str
    tasks: list[str] = field(default_factory=list)
    done: set[str] = field(default_factory=set)


@dataclass
class RunProgress:
    say: Callable[[str], None] = print
    batches: dict[int, _Batch] = field(default_factory=dict)
    task_names: dict[str, str] = field(default_factory=dict)
    task_batch: dict[str, int] = field(default_factory=dict)
    final_type: str | None = None
    failures: list[str] = field(default_factory=list)

    def bar(self, index: int) -> str:
        batch = self.batches[index]
        total = max(1, len(batch.tasks))
        filled = round(BAR_WIDTH * len(batch.done) / total)
        return (
            f"{batch.label:<40} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
            f"{len(batch.done)}/{len(batch.tasks)}"
        )

    def feed(self, event_type: str, data: str) -> None:
        try:
            event: dict[str, Any] = json.loads(data)
        except ValueError:
            return
        handler = getattr(self, "_on_" + event_type.replace(".", "_"), None)
        if handler is not None:
            handler(event)

    def _on_run_planned(self, event: dict[str, Any]) -> None:
        for batch in event["batches"]:
            phase = f"phase {batch['phase']} " if batch.get("phase") else ""
            label = f"{phase}batch {batch['number']}: {batch['title']}"[:40]
            self.batches[batch["index"]] = _Batch(label, [t["task_id"] for t in batch["tasks"]])
            for task in batch["tasks"]:
                self.task_names[task["task_id"]] = f"{task['plan_task_id']} {task['title']}"
                self.task_batch[task["task_id"]] = batch["index"]
        self.say(
            f"planned {len(self.batches)} batch(es), "
            f"{sum(len(b.tasks) for b in self.batches.values())} task(s)"
        )

    def _on_batch_started(self, event: dict[str, Any]) -> None:
        if event["batch_index"] in self.batches:
            self.say(self.bar(event["batch_index"]))

    def _on_task_started(self, event: dict[str, Any]) -> None:
        name = self.task_names.get(event["task_id"], event["task_id"])
        attempt = f" (attempt {event['attempt']})" if event.get("attempt", 1) > 1 else ""
        self.say(f"  ▶ {name}{attempt}")

    def _on_task_succeeded(self, event: dict[str, Any]) -> None:
        name = self.task_names.get(event["task_id"], event["task_id"])
        pushed = "pushed" if event.get("pushed") else "not pushed"
        usage = event.get("usage") or {}
        cost = f", ${usage['cost_usd']:.4f}" if usage.get("cost_usd") else ""
        fixes = f", {event['fix_rounds']} fix round(s)" if event.get("fix_rounds") else ""
        self.say(f"  ✔ {name}  {event['branch']} @ {event['commit'][:10]} ({pushed}{cost}{fixes})")
        self._done(event["task_id"])

    def _on_task_integrated(self, event: dict[str, Any]) -> None:
        name = self.task_names.get(event["task_id"], event["task_id"])
        self.say(
            f"  ⇢ {name}  integrated into {event['integration_branch']} @ {event['commit'][:10]}"
        )

    def _on_batch_integrated(self, event: dict[str, Any]) -> None:
        label = self.batches.get(event["batch_index"])
        where = f"{event['integration_branch']} @ {event['commit'][:10]}"
        self.say(f"{label.label if label else 'batch'} integrated: {where}")

    def _on_run_pull_request(self, event: dict[str, Any]) -> None:
        pr = event["pull_request"]
        self.say(f"pull request #{pr['number']} ({pr['state']}): {pr['url']}")

    def _on_run_landed(self, event: dict[str, Any]) -> None:
        self.say(f"landed ({event['land']}) on {event['target']} @ {event['commit'][:10]}")

    def _on_task_failed(self, event: dict[str, Any]) -> None:
        name = self.task_names.get(event["task_id"], event["task_id"])
        if event.get("rework"):
            retry = "  (re-run from the integration branch)"
        else:
            retry = "  (will retry)" if event.get("will_retry") else ""
        self.say(f"  ✘ {name}  {event['error_code']}: {event.get('message', '')}{retry}")
        if not event.get("will_retry"):
            self.failures.append(f"{name}: {event['error_code']}")
            self._done(event["task_id"])

    def _done(self, task_id: str) -> None:
        index = self.task_batch.get(task_id)
        if index is not None:
            self.batches[index].done.add(task_id)
            self.say(self.bar(index))

    def _on_batch_completed(self, event: dict[str, Any]) -> None:
        state = "completed" if event["succeeded"] else "completed with failures"
        label = self.batches.get(event["batch_index"])
        self.say(f"{label.label if label else 'batch'} {state}")

    def _finish(self, event: dict[str, Any], text: str) -> None:
        self.final_type = event["type"]
        self.say(text)

    def _on_run_succeeded(self, event: dict[str, Any]) -> None:
        self._finish(event, "run succeeded")

    def _on_run_halted(self, event: dict[str, Any]) -> None:
        self._finish(event, f"run halted after batch {event['batch_index'] + 1}: {event['reason']}")

    def _on_run_failed(self, event: dict[str, Any]) -> None:
        self._finish(event, f"run failed: {event['error']}")

    def _on_run_cancelled(self, event: dict[str, Any]) -> None:
        self._finish(event, "run cancelled")
