"""Running a stack, and talking to it the way a user's client does: HTTP and Server-Sent
Events; plans in a git sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from commandcenter.gitfixtures import GitSandbox, git, make_git_sandbox
from commandcenter.servers import free_port
from commandcenter.sse import SseMessage, messages
from commandcenter.stack import Stack
from commandcenter_contracts import RUN_ENDED

from tests.support.polling import eventually_sync
from tests.support.roots import pytest_roots

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


def sandbox_with_plan(
    root: Path, text: str, *, name: str = "MASTER_PLAN.md"
) -> tuple[GitSandbox, Path]:
    """A repository with a bare remote; the plan `text` committed and pushed on main."""
    sandbox = make_git_sandbox(root)
    plan = sandbox.repo / name
    plan.write_text(text)
    git(sandbox.repo, "add", name)
    git(sandbox.repo, "commit", "-q", "-m", "add the plan")
    git(sandbox.repo, "push", "-q", "origin", "main")
    return sandbox, plan


def api_client(stack: Stack) -> httpx.Client:
    """A client of the stack's API, sending the admin token its gateway made at start."""
    return httpx.Client(base_url=stack.gateway_url, timeout=30, headers=auth_headers(stack))


def auth_headers(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.admin_token()}"}


@contextmanager
def running_stack(data_dir: Path, **options: Any) -> Iterator[Stack]:
    """A whole stack on `data_dir` (`options` go to `Stack`), started the way `commandcenter up`
    starts it; stopped on the way out. When it does not start, its logs' tails are printed.
    On the way out it also fails when nats-server refused a service anything: the services
    ran with their own NATS users, and every refusal is a gap in `cc_bus.permissions`."""
    extra_env = {**pytest_roots(data_dir), **(options.pop("extra_env", None) or {})}
    stack = Stack(data_dir, gateway_port=free_port(), extra_env=extra_env, **options)
    try:
        stack.start(ready_timeout=90)
    except Exception:
        stack.stop()
        for log in sorted((data_dir / "logs").glob("*.log")):
            print(f"--- {log.name}\n{log.read_text()[-3000:]}")
        raise
    yield stack
    refused = nats_refusals(stack)
    stack.stop()
    assert not refused, "nats-server refused a service:\n" + "\n".join(refused)


def nats_refusals(stack: Stack) -> list[str]:
    """The permission and authorization violations nats-server logged."""
    logs = sorted((stack.data_dir / "nats").glob("**/nats-server.log"))  # a cluster: one a node
    lines = [line for log in logs for line in log.read_text(errors="replace").splitlines()]
    return [line for line in lines if "Violation" in line]


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
        for message in messages(response):
            events.append(_event(message))
            if limit is not None and len(events) >= limit:
                break
    return events


def _event(message: SseMessage) -> Event:
    assert message.id is not None
    return Event(seq=int(message.id), type=message.event, data=json.loads(message.data))


def start_run(client: httpx.Client, plan: Path, **body: Any) -> str:
    """Start a run of `plan` (`body`: the rest of the request; local mode unless it says
    otherwise); its id."""
    request = {"plan_path": str(plan), "execution_mode": "local", **body}
    response = client.post("/api/v1/runs", json=request)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def tasks_of(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The tasks of a run's view, by plan task id (`1.2`)."""
    return {t["plan_task_id"]: t for b in view["batches"] for t in b["tasks"]}


def wait_for_run(client: httpx.Client, run_id: str, *, timeout: float = 120) -> dict[str, Any]:
    """Poll the read model until the run is terminal there."""

    def ended() -> dict[str, Any] | None:
        view: dict[str, Any] = client.get(f"/api/v1/runs/{run_id}").json()
        return view if view.get("status") in RUN_ENDED else None

    found: dict[str, Any] = eventually_sync(
        ended, within_s=timeout, interval_s=0.3, what=f"run {run_id} to end"
    )
    return found
