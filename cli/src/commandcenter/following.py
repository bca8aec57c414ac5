"""Following a run that goes on without us: re-attaching to it (`status RUN --follow`, `replay
… --follow`), and letting go of it on Ctrl-C, saying how to come back.

A run lives in the stack, not in the command that started or follows it: Ctrl-C stops the
following only, so the command says that, and how to re-attach or cancel.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from commandcenter.gateway_client import get_json, path_part

INTERRUPTED = 130
"""The exit status of a command stopped by Ctrl-C (128 + SIGINT)."""
SHORT_ID = 8
"""How much of a run id the hints show: what branch names show, and enough to be unique."""
REPLAY_TAKEN_WITHIN_S = 30.0
"""How long `replay --follow` waits for the planner to take the replay before following."""


def short_id(run_id: str) -> str:
    return run_id[:SHORT_ID]


def detached(run_id: str) -> str:
    """What Ctrl-C during a follow says: the run goes on, and how to come back to it."""
    run = short_id(run_id)
    return (
        f"stopped following; run {run} goes on.\n"
        f"  re-attach: commandcenter status {run} --follow\n"
        f"  cancel:    commandcenter cancel {run}"
    )


def detachable(run_id: str, follow: Callable[[], int]) -> int:
    """`follow()`'s exit status; on Ctrl-C, say that the run goes on and how to re-attach or
    cancel it (exit status 130)."""
    try:
        return follow()
    except KeyboardInterrupt:
        print(f"\n{detached(run_id)}", file=sys.stderr, flush=True)
        return INTERRUPTED


def _tasks(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["task_id"]: t for b in view.get("batches", []) for t in b.get("tasks", [])}


def replays_taken(view: dict[str, Any], attempts: dict[str, int]) -> bool:
    """Whether the run's view has each replayed task (`task id: the attempt it replays as`) at
    that attempt or later: the planner has taken the replays."""
    found = _tasks(view)
    return all(found.get(task, {}).get("attempt", 0) >= n for task, n in attempts.items())


def replays_refused(view: dict[str, Any], replays: Iterable[dict[str, Any]]) -> dict[str, str]:
    """The replays (each `ReplayAccepted`) the planner refused: task id → why (the view keeps
    a task's last refusal, by request id)."""
    found = _tasks(view)
    refused = {}
    for item in replays:
        refusal = found.get(item["task_id"], {}).get("replay_refused") or {}
        if refusal.get("request_id") == item["request_id"]:
            refused[item["task_id"]] = str(refusal.get("reason", ""))
    return refused


@dataclass(frozen=True)
class ReplaysSettled:
    taken: bool
    """Every replay the planner did not refuse was taken (False: not within the wait)."""
    refused: dict[str, str]
    """Task id → the planner's reason, for each replay it refused."""


def wait_for_replays(
    http: httpx.Client,
    run_id: str,
    replays: Iterable[dict[str, Any]],
    *,
    within_s: float = REPLAY_TAKEN_WITHIN_S,
) -> ReplaysSettled:
    """Wait until the planner has taken or refused each replay (each `ReplayAccepted`): a
    halted run's event stream ends at its halt, until a replayed task is queued again. Not
    taken within `within_s`: the planner may be down (then the run is followed as it is)."""
    replays = list(replays)
    deadline = time.monotonic() + within_s
    while True:
        view = get_json(http, f"/api/v1/runs/{path_part(run_id)}")
        refused = replays_refused(view, replays)
        attempts = {r["task_id"]: r["attempt"] for r in replays if r["task_id"] not in refused}
        if replays_taken(view, attempts):
            return ReplaysSettled(taken=True, refused=refused)
        if time.monotonic() > deadline:
            return ReplaysSettled(taken=False, refused=refused)
        time.sleep(0.2)
