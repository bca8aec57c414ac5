"""Helpers shared by the gateway's tests (plans, reading JetStream, the read model through the
API); polling is the shared `tests.support.polling.eventually`."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NamedTuple

import cc_bus
import httpx
from commandcenter_contracts import (
    BatchCompleted,
    BatchSelection,
    BatchStarted,
    PlannedBatch,
    PlannedTask,
    RunAccepted,
    RunPlanned,
    StatusEvent,
    TaskQueued,
    TaskStarted,
    TaskSucceeded,
    new_id,
)
from gateway.settings import Settings
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

from tests.support.polling import eventually

Client = httpx.AsyncClient
"""The app's in-process test client (the `client` fixture) or a client of the live server."""

REPO_PLANS = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "plans"

SEED_PLAN = "".join(
    f"## Batch {n}: Step {n}\n\n### Task {n}.1: Write file {n}\n\n"
    f"**Files:**\n- Create: out/{n}.txt\n\n**Commit:** feat: step {n}\n\n"
    for n in range(30, 39)
)
"""Batches 30..38, one task each: the seed's curl body (31..37) selects 7 of them."""

TWO_BY_TWO_PLAN = """# Two by two

## Batch 1: First

### Task 1.1: Alpha

Do alpha.

### Task 1.2: Beta

Do beta.

## Batch 2: Second

### Task 2.1: Gamma

Do gamma.

### Task 2.2: Delta

Do delta.
"""


def admin_headers(settings: Settings) -> dict[str, str]:
    """`Authorization` with the admin token the app wrote at start (`bootstrap_token_file`)."""
    assert settings.bootstrap_token_file is not None
    token = settings.bootstrap_token_file.read_text().strip()
    return {"Authorization": f"Bearer {token}"}


def api_routes(app: Litestar) -> set[tuple[str, str]]:
    """(method, path template) of every API route `app` serves."""
    found = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler) and route.path_format.startswith("/api/"):
                found |= {
                    (m, route.path_format) for m in handler.http_methods - {"OPTIONS", "HEAD"}
                }
    return found


def fixture_plan(name: str) -> Path:
    """A real plan from the repository's copy of the fixtures (never skipped: it must exist)."""
    path = REPO_PLANS / name
    assert path.is_file(), f"fixture plan {path} is missing"
    return path


async def read_subject(
    js: JetStreamContext, stream: str, subject: str, *, expect: int, within: float = 20.0
) -> list[Any]:
    """The first `expect` messages on `subject` (raises if fewer arrive within `within` s)."""
    sub = await js.subscribe(subject, stream=stream, ordered_consumer=True)
    try:
        found = []
        deadline = time.monotonic() + within
        while len(found) < expect:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{len(found)} of {expect} messages on {subject}")
            try:
                found.append(await sub.next_msg(timeout=min(remaining, 1.0)))
            except TimeoutError:
                continue
        return found
    finally:
        await sub.unsubscribe()


async def stream_messages(
    js: JetStreamContext, stream: str, subject: str | None = None
) -> list[RawStreamMsg]:
    """Every message stored in `stream` (optionally on one subject), read by sequence: works on
    work-queue streams too, where a second consumer is not allowed."""
    info = await js.stream_info(stream)
    found: list[RawStreamMsg] = []
    for seq in range(max(1, info.state.first_seq), info.state.last_seq + 1):
        try:
            msg = await js.get_msg(stream, seq)
        except NotFoundError:
            continue
        if subject is None or msg.subject == subject:
            found.append(msg)
    return found


class SseEvent(NamedTuple):
    id: str | None
    event: str
    data: str


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[SseEvent | str]:
    """Server-Sent Events from response lines; comments are yielded as plain strings."""
    event_id: str | None = None
    event = "message"
    data: list[str] = []
    async for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            if data:
                yield SseEvent(event_id, event, "\n".join(data))
            event_id, event, data = None, "message", []
            continue
        if line.startswith(":"):
            yield line[1:].strip()
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            event_id = value
        elif name == "event":
            event = value
        elif name == "data":
            data.append(value)


async def only_events(stream: AsyncIterator[SseEvent | str]) -> AsyncIterator[SseEvent]:
    """The events of `sse_events`, without the comments."""
    async for item in stream:
        if isinstance(item, SseEvent):
            yield item


async def read_events(
    url: str, headers: dict[str, str] | None = None, *, auth: dict[str, str]
) -> list[SseEvent]:
    """Every event of a stream that ends by itself, read by a client of its own (`auth`: its
    `Authorization` header)."""
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(30.0), headers=auth) as http,
        http.stream("GET", url, headers=headers) as r,
    ):
        assert r.status_code == 200
        return [e async for e in only_events(sse_events(r.aiter_lines()))]


async def run_events(
    base_url: str, run_id: str, after: str | None = None, *, auth: dict[str, str]
) -> list[SseEvent]:
    """A run's event stream as an SSE client reads it (after the event id `after`, if given)."""
    headers = {"Accept": "text/event-stream"}
    if after is not None:
        headers["Last-Event-ID"] = after
    return await read_events(f"{base_url}/api/v1/runs/{run_id}/events", headers, auth=auth)


class Run:
    """A run of 2 batches x 2 tasks, as the planner would announce it."""

    def __init__(self) -> None:
        self.id = new_id()
        self.tasks = [[str(uuid.uuid4()) for _ in range(2)] for _ in range(2)]

    def branch(self, batch: int, pos: int) -> str:
        return f"cc/{self.id[:8]}/{batch + 1}-{pos + 1}-task"

    def accepted(self) -> RunAccepted:
        return RunAccepted(
            run_id=self.id,
            mode="local",
            plan_path="/plans/PLAN.md",
            selection=BatchSelection(start_batch="1", end_batch="2"),
            repo="/repo",
            agent="plan-follower",
        )

    def planned(self) -> RunPlanned:
        return RunPlanned(
            run_id=self.id,
            batches=[
                PlannedBatch(
                    index=b,
                    phase=None,
                    number=str(b + 1),
                    title=f"Batch {b + 1}",
                    tasks=[
                        PlannedTask(
                            task_id=task_id,
                            plan_task_id=f"{b + 1}.{p + 1}",
                            title=f"Task {b + 1}.{p + 1}",
                            branch=self.branch(b, p),
                        )
                        for p, task_id in enumerate(ids)
                    ],
                )
                for b, ids in enumerate(self.tasks)
            ],
        )

    def opened(self) -> list[StatusEvent]:
        """Accepted, planned, batch 1 started: how the scenarios here begin."""
        return [self.accepted(), self.planned(), *self.batch_started(0)]

    def batch_started(self, b: int) -> list[StatusEvent]:
        """Batch `b` started, both its tasks queued."""
        return [BatchStarted(run_id=self.id, batch_index=b), self.queued(b, 0), self.queued(b, 1)]

    def batch_completed(self, b: int, *, succeeded: bool = True) -> BatchCompleted:
        return BatchCompleted(run_id=self.id, batch_index=b, succeeded=succeeded)

    def queued(self, b: int, p: int, attempt: int = 1) -> TaskQueued:
        return TaskQueued(
            run_id=self.id,
            task_id=self.tasks[b][p],
            attempt=attempt,
            batch_index=b,
            plan_task_id=f"{b + 1}.{p + 1}",
            branch=self.branch(b, p),
        )

    def started(self, b: int, p: int, attempt: int = 1) -> TaskStarted:
        return TaskStarted(run_id=self.id, task_id=self.tasks[b][p], attempt=attempt)

    def succeeded(self, b: int, p: int, attempt: int = 1) -> TaskSucceeded:
        return TaskSucceeded(
            run_id=self.id,
            task_id=self.tasks[b][p],
            attempt=attempt,
            branch=self.branch(b, p),
            commit=f"{b}{p}" * 20,
            pushed=True,
        )


# --- the read model through the API ----------------------------------------------------------
async def publish_all(js: JetStreamContext, events: list[StatusEvent]) -> None:
    for event in events:
        await cc_bus.publish_status(js, event)


async def run_view(client: Client, run_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/runs/{run_id}")
    assert r.status_code in (200, 404), r.text
    return r.json() if r.status_code == 200 else {}  # type: ignore[no-any-return]


async def wait_view(client: Client, run_id: str, what: str, **expected: Any) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        view = await run_view(client, run_id)
        if view and all(view.get(k) == v for k, v in expected.items()):
            return view
        return None

    return await eventually(check, what=what)


def tasks_of(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["task_id"]: t for b in view["batches"] for t in b["tasks"]}


async def wait_task(
    client: Client, run_id: str, task_id: str, what: str, **expected: Any
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        view = await run_view(client, run_id)
        task = tasks_of(view).get(task_id) if view else None
        if task and all(task.get(k) == v for k, v in expected.items()):
            return task
        return None

    return await eventually(check, what=what)
