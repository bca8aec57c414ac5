"""`commandcenter dead-letters`: what the system gave up on, newest first.

Letters whose task has succeeded since (a replay fixed it) are resolved: left out unless
`--all`, and marked when shown. `--json` gives one short object per letter (what a person or a
script acts on); `--full` gives the gateway's whole letters, task message and raw bytes included.
"""

from __future__ import annotations

import json
from typing import Any

from commandcenter.gateway_client import Gateway, client, get_json

ERROR_CHARS = 300
"""The error text of a short letter is cut to this many characters."""


def short(item: dict[str, Any]) -> dict[str, Any]:
    """A letter without its task message and raw bytes: what it is about and why."""
    task = item.get("task") or {}
    error = str(item.get("error") or "")
    return {
        "id": item["id"],
        "at": item["at"],
        "run_id": item.get("run_id"),
        "task_id": item.get("task_id"),
        "plan_task_id": task.get("plan_task_id"),
        "attempt": item.get("attempt"),
        "error_code": item["error_code"],
        "error": error if len(error) <= ERROR_CHARS else error[: ERROR_CHARS - 1] + "…",
        "num_delivered": item.get("num_delivered"),
        "resolved": item.get("resolved", False),
    }


def describe(item: dict[str, Any]) -> str:
    """Two lines: when, code, subject and what it is about; the error."""
    task = item.get("task") or {}
    if task:
        what = f"task {task.get('plan_task_id', '?')} attempt {item['attempt']}"
        what += f" of run {item['run_id']}"
    else:
        what = f"run {item['run_id']}" if item.get("run_id") else "no task"
    mark = "  [resolved: the task has succeeded since]" if item.get("resolved") else ""
    return (
        f"{item['at']}  {item['error_code']:<12} {item['subject']}  {what}{mark}\n"
        f"    {item['error']} (delivered {item['num_delivered']}x)"
    )


def dead_letters(
    *,
    gateway: Gateway,
    run_id: str | None,
    limit: int,
    as_json: bool,
    include_resolved: bool = False,
    full: bool = False,
) -> int:
    params: dict[str, Any] = {"limit": limit}
    if run_id:
        params["run_id"] = run_id
    if include_resolved:
        params["include_resolved"] = "true"
    with client(gateway) as http:
        items = get_json(http, "/api/v1/dead-letters", params=params)["items"]
    if as_json or full:
        print(json.dumps(items if full else [short(i) for i in items], indent=2))
        return 0
    for item in items:
        print(describe(item))
    if not items:
        print("no dead letters" if include_resolved else "no unresolved dead letters (--all: all)")
    return 0
