"""Talking to a running stack the way a user's client does: HTTP and Server-Sent Events."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from commandcenter.sse import SseMessage, parse_sse
from commandcenter_contracts import RUN_ENDED

from tests.support.polling import eventually_sync

FENCE = "```"


def create_task(number: str, path: str, content: str, *, verify: str | None = None) -> str:
    verification = f"- `{verify}`" if verify else f"- `test -s {path}`"
    return f"""### Task {number}: Create {path}

**Files:**
- Create: {path}

Create `{path}`:
{FENCE}
{content}
{FENCE}

**Verification:**
{verification}

**Commit:** feat: add {path}
"""


def noop_task(number: str) -> str:
    return f"""### Task {number}: Think about it

**Implementation:**
Nothing in this task spells out a file, so the plan-follower changes nothing.

**Commit:** chore: nothing
"""


def plan_text(*batches: list[str]) -> str:
    parts = ["# E2E plan", ""]
    for i, tasks in enumerate(batches, start=1):
        parts += [f"## Batch {i}: Batch number {i}", "", *tasks]
    return "\n".join(parts)


@dataclass
class Event:
    seq: int
    type: str
    data: dict[str, Any]


def read_events(
    client: httpx.Client, run_id: str, *, last_event_id: str | None = None, limit: int | None = None
) -> list[Event]:
    """Read the run's SSE stream until the server ends it (run over) or `limit` events."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    events: list[Event] = []
    with client.stream(
        "GET", f"/api/v1/runs/{run_id}/events", headers=headers, timeout=httpx.Timeout(10, read=120)
    ) as response:
        assert response.status_code == 200, response.read()
        for message in parse_sse(response.iter_lines()):
            events.append(_event(message))
            if limit is not None and len(events) >= limit:
                break
    return events


def _event(message: SseMessage) -> Event:
    assert message.id is not None
    return Event(seq=int(message.id), type=message.event, data=json.loads(message.data))


def start_run(client: httpx.Client, **body: Any) -> str:
    response = client.post("/api/v1/runs", json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def wait_for_run(client: httpx.Client, run_id: str, *, timeout: float = 120) -> dict[str, Any]:
    """Poll the read model until the run is terminal there."""

    def ended() -> dict[str, Any] | None:
        view: dict[str, Any] = client.get(f"/api/v1/runs/{run_id}").json()
        return view if view.get("status") in RUN_ENDED else None

    found: dict[str, Any] = eventually_sync(
        ended, within_s=timeout, interval_s=0.3, what=f"run {run_id} to end"
    )
    return found
