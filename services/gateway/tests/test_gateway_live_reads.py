"""What the dashboard reads live: every run's events on one stream (`GET /api/v1/events`),
and a run's view that waits for the read model to hold an event it has seen
(`GET /api/v1/runs/{id}?wait_for_event=N`). Real uvicorn, NATS and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import cc_bus
import httpx
import pytest
from commandcenter_contracts import RunStarted, StatusEvent, subjects
from gateway_support import Run, SseEvent, only_events, run_view, sse_events, wait_view
from nats.js import JetStreamContext

pytestmark = pytest.mark.integration


async def publish(js: JetStreamContext, events: list[StatusEvent]) -> list[int]:
    return [(await cc_bus.publish_status(js, event)).seq for event in events]


@asynccontextmanager
async def all_events(
    base_url: str, auth: dict[str, str], last_event_id: str | None = None
) -> AsyncIterator[AsyncIterator[SseEvent]]:
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(30.0), headers=auth) as http,
        http.stream("GET", f"{base_url}/api/v1/events", headers=headers) as r,
    ):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        yield only_events(sse_events(r.aiter_lines()))


async def test_every_runs_events_from_now_on_then_resumed_after_a_drop(
    live_url: str, js: JetStreamContext, auth: dict[str, str]
) -> None:
    one, two = Run(), Run()
    (before,) = await publish(js, [one.accepted()])  # before the client: not part of "now"
    last = (await js.stream_info(subjects.STREAM_STATUS)).state.last_seq

    async with all_events(live_url, auth) as events:
        ready = await anext(events)
        assert (ready.event, ready.id) == ("ready", str(last))
        assert json.loads(ready.data) == {"after_seq": last}
        sent = await publish(js, [one.planned(), two.accepted(), RunStarted(run_id=one.id)])
        received = [await anext(events) for _ in sent]
    assert before <= last
    assert [e.id for e in received] == [str(s) for s in sent]
    assert [e.event for e in received] == ["run.planned", "run.accepted", "run.started"]
    assert [json.loads(e.data)["run_id"] for e in received] == [one.id, two.id, one.id]

    # Dropped; meanwhile a run finished: a client resuming from its last id misses nothing.
    missed = await publish(js, [two.planned()])
    async with all_events(live_url, auth, last_event_id=received[-1].id) as events:
        ready = await anext(events)
        assert ready.id == received[-1].id
        again = await anext(events)
    assert (again.id, again.event) == (str(missed[0]), "run.planned")


async def test_a_bad_last_event_id_is_a_400(live_client: httpx.AsyncClient) -> None:
    r = await live_client.get("/api/v1/events", headers={"Last-Event-ID": "yesterday"})
    assert r.status_code == 400
    assert r.json()["extra"][0]["key"] == "Last-Event-ID"


async def test_a_view_waits_for_the_event_its_client_has_seen(
    live_client: httpx.AsyncClient, js: JetStreamContext
) -> None:
    run = Run()
    await publish(js, run.opened())
    await wait_view(live_client, run.id, "the run projected", status="running")

    events = [run.started(0, 0), run.succeeded(0, 0)]
    *_, seq = await publish(js, events)
    # Asked at once: the answer holds the event, however far behind the projector was.
    r = await live_client.get(f"/api/v1/runs/{run.id}", params={"wait_for_event": seq})
    assert r.status_code == 200
    task = r.json()["batches"][0]["tasks"][0]
    assert (task["status"], task["commit"]) == ("succeeded", "00" * 20)


async def test_a_view_waiting_for_an_event_that_never_comes_answers_anyway(
    live_client: httpx.AsyncClient, js: JetStreamContext
) -> None:
    run = Run()
    await publish(js, run.opened())
    view = await wait_view(live_client, run.id, "the run projected", status="running")
    far = (await js.stream_info(subjects.STREAM_STATUS)).state.last_seq + 1000
    r = await live_client.get(f"/api/v1/runs/{run.id}", params={"wait_for_event": far})
    assert r.status_code == 200
    assert r.json()["status"] == view["status"]


@pytest.mark.parametrize("value", ["-1", "0", "soon", str(2**63)])
async def test_a_bad_wait_for_event_is_a_400(live_client: httpx.AsyncClient, value: str) -> None:
    run = Run()
    r = await live_client.get(f"/api/v1/runs/{run.id}", params={"wait_for_event": value})
    assert r.status_code == 400, r.text
    assert "wait_for_event" in r.text


async def test_run_view_is_unchanged_without_wait_for_event(
    live_client: httpx.AsyncClient,
) -> None:
    assert await run_view(live_client, Run().id) == {}  # 404, at once
