"""`commandcenter logs TASK_ID`: which task is meant, and its agent output (now, or live).

A task is named by its id (what `status RUN_ID` and `replay` show) or by its plan id (`1.2`).
The gateway serves a log per run and task, so without `--run` the newest runs are searched,
newest first, and the first run that has the task is taken: `logs 1.2` is task 1.2 of the
latest run that has one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
from commandcenter_contracts import LogLine, log_decoder

from commandcenter.gateway_client import (
    CliError,
    get_json,
    path_part,
    refused,
    unreachable,
)
from commandcenter.sse import follow

RUNS_SEARCHED = 50


@dataclass(frozen=True)
class TaskRef:
    run_id: str
    task_id: str
    plan_task_id: str
    title: str
    attempt: int
    status: str

    @property
    def log_path(self) -> str:
        return f"/api/v1/runs/{path_part(self.run_id)}/tasks/{path_part(self.task_id)}/log"

    def describe(self) -> str:
        return (
            f"task {self.plan_task_id} {self.title} ({self.task_id}) of run {self.run_id}: "
            f"attempt {self.attempt}, {self.status}"
        )


def _matches(view: dict[str, Any], wanted: str) -> list[TaskRef]:
    found = []
    for batch in view.get("batches", []):
        for task in batch.get("tasks", []):
            if wanted in (task["task_id"], task["plan_task_id"]):
                found.append(
                    TaskRef(
                        run_id=view["id"],
                        task_id=task["task_id"],
                        plan_task_id=task["plan_task_id"],
                        title=task["title"],
                        attempt=task.get("attempt", 1),
                        status=task["status"],
                    )
                )
    return found


def _one(view: dict[str, Any], wanted: str) -> TaskRef | None:
    found = _matches(view, wanted)
    if len(found) > 1:
        ids = ", ".join(ref.task_id for ref in found)
        raise CliError(f"run {view['id']} has {len(found)} tasks {wanted}: name one by id ({ids})")
    return found[0] if found else None


def find_task(client: httpx.Client, wanted: str, run_id: str | None) -> TaskRef:
    """The task `wanted` names: in `run_id`, or in the newest run that has it."""
    if run_id is not None:
        ref = _one(get_json(client, f"/api/v1/runs/{path_part(run_id)}"), wanted)
        if ref is None:
            raise CliError(f"run {run_id} has no task {wanted} (`status {run_id}` lists them)")
        return ref
    runs = get_json(client, "/api/v1/runs", params={"limit": RUNS_SEARCHED})["items"]
    for item in runs:
        ref = _one(get_json(client, f"/api/v1/runs/{path_part(item['id'])}"), wanted)
        if ref is not None:
            return ref
    raise CliError(
        f"no task {wanted} in the {len(runs)} newest run(s); name its run with --run RUN_ID"
    )


def log_text(client: httpx.Client, ref: TaskRef) -> Iterator[str]:
    """The task's output as it is now, in chunks of text."""
    try:
        with client.stream("GET", ref.log_path, timeout=httpx.Timeout(30, read=120)) as response:
            if response.is_error:
                response.read()
                raise refused("GET", ref.log_path, response)
            yield from response.iter_text()
    except httpx.TransportError as exc:
        raise unreachable(client, exc) from exc


def log_lines(client: httpx.Client, ref: TaskRef) -> Iterator[LogLine]:
    """The task's output line by line, live, until the task has finished and its output is
    all there (a dropped connection resumes where it stopped)."""
    try:
        for message in follow(client, ref.log_path):
            try:
                yield log_decoder.decode(message.data)
            except msgspec.DecodeError:
                continue  # not a log line this CLI knows: skip it
    except httpx.HTTPStatusError as exc:
        raise refused("GET", ref.log_path, exc.response) from exc
    except httpx.TransportError as exc:
        raise unreachable(client, exc) from exc


def attempt_marker(previous: int | None, line: LogLine) -> str | None:
    """A heading where a new attempt's output begins (a replay, a retry)."""
    if previous is not None and line.attempt != previous:
        return f"── attempt {line.attempt} ──"
    return None
