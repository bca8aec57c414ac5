"""Server-Sent Events and task logs, over a real uvicorn socket."""

from __future__ import annotations

import json

import cc_bus
import httpx
import pytest
from commandcenter_contracts import (
    BatchStarted,
    LogLine,
    RunStarted,
    RunSucceeded,
    StatusEvent,
    TaskProgress,
    subjects,
)
from gateway_support import Run, SseEvent, only_events, read_events, sse_events
from nats.js import JetStreamContext

from tests.support.polling import eventually

pytestmark = pytest.mark.integration

TIMEOUT = httpx.Timeout(30.0)


async def publish(js: JetStreamContext, events: list[StatusEvent]) -> list[int]:
    """Publish and return the stream sequences the events got."""
    return [(await cc_bus.publish_status(js, event)).seq for event in events]


async def test_history_then_live_then_the_end(
    live_url: str, js: JetStreamContext, auth: dict[str, str]
) -> None:
    run, other = Run(), Run()
    history = [run.accepted(), run.planned(), RunStarted(run_id=run.id)]
    seqs = await publish(js, history)
    await publish(js, [other.accepted()])  # another run's events never show up

    url = f"{live_url}/api/v1/runs/{run.id}/events"
    received: list[SseEvent] = []
    async with (
        httpx.AsyncClient(timeout=TIMEOUT, headers=auth) as http,
        http.stream("GET", url, headers={"Accept": "text/event-stream"}) as r,
    ):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = only_events(sse_events(r.aiter_lines()))
        for _ in history:
            received.append(await anext(events))
        # History is replayed: now the live part, published after the client is reading.
        live = [
            BatchStarted(run_id=run.id, batch_index=0),
            run.queued(0, 0),
            TaskProgress(run_id=run.id, task_id=run.tasks[0][0], step="agent_started"),
        ]
        seqs += await publish(js, live)
        await publish(js, [other.planned()])
        for _ in live:
            received.append(await anext(events))
        end = [run.succeeded(0, 0), RunSucceeded(run_id=run.id)]
        seqs += await publish(js, end)
        received.extend([e async for e in events])  # ends by itself after run.succeeded
        after_end = await publish(js, [RunStarted(run_id=run.id)])

    sent = [*history, *live, *end]
    assert [e.id for e in received] == [str(s) for s in seqs]
    assert [e.event for e in received] == [
        "run.accepted",
        "run.planned",
        "run.started",
        "batch.started",
        "task.queued",
        "task.progress",
        "task.succeeded",
        "run.succeeded",
    ]
    assert [json.loads(e.data)["event_id"] for e in received] == [ev.event_id for ev in sent]
    assert all(json.loads(e.data)["run_id"] == run.id for e in received)
    assert str(after_end[0]) not in [e.id for e in received]


async def test_reconnecting_with_last_event_id_gets_exactly_the_rest(
    live_url: str, js: JetStreamContext, auth: dict[str, str]
) -> None:
    run = Run()
    sent: list[StatusEvent] = [
        run.accepted(),
        run.planned(),
        RunStarted(run_id=run.id),
        BatchStarted(run_id=run.id, batch_index=0),
        run.queued(0, 0),
        run.started(0, 0),
        run.succeeded(0, 0),
        RunSucceeded(run_id=run.id),
    ]
    seqs = await publish(js, sent)
    url = f"{live_url}/api/v1/runs/{run.id}/events"

    full = await read_events(url, auth=auth)
    assert [e.id for e in full] == [str(s) for s in seqs]

    # A client that saw the first three, then lost the connection.
    rest = await read_events(url, headers={"Last-Event-ID": full[2].id or ""}, auth=auth)
    assert [e.id for e in rest] == [e.id for e in full[3:]]
    assert [e.data for e in rest] == [e.data for e in full[3:]]

    by_query = await read_events(f"{url}?last_event_id={full[5].id}", auth=auth)
    assert [e.id for e in by_query] == [e.id for e in full[6:]]

    # Everything seen, the run is over: the stream ends at once, empty.
    assert await read_events(url, headers={"Last-Event-ID": full[-1].id or ""}, auth=auth) == []


async def test_idle_streams_get_keepalives_and_disconnects_remove_the_consumer(
    live_url: str, js: JetStreamContext, auth: dict[str, str]
) -> None:
    run = Run()
    await publish(js, [run.accepted()])
    baseline = (await js.stream_info(subjects.STREAM_STATUS)).state.consumer_count

    url = f"{live_url}/api/v1/runs/{run.id}/events"
    comments: list[str] = []
    async with (
        httpx.AsyncClient(timeout=TIMEOUT, headers=auth) as http,
        http.stream("GET", url) as r,
    ):
        stream = sse_events(r.aiter_lines())
        first = await anext(stream)
        assert isinstance(first, SseEvent)
        assert first.event == "run.accepted"
        while len(comments) < 2:  # keep-alive every 0.5 s in the test settings
            item = await anext(stream)
            assert isinstance(item, str), item
            comments.append(item)
        info = await js.stream_info(subjects.STREAM_STATUS)
        assert info.state.consumer_count == baseline + 1
    # The client hung up mid-stream: the server must drop its ephemeral consumer.
    assert comments == ["keep-alive", "keep-alive"]

    async def consumer_gone() -> bool:
        info = await js.stream_info(subjects.STREAM_STATUS)
        return info.state.consumer_count == baseline

    await eventually(consumer_gone, within_s=20, what="the SSE consumer to be removed")


async def test_task_log_as_text_and_as_live_events(
    live_url: str, js: JetStreamContext, auth: dict[str, str]
) -> None:
    run = Run()
    task_id = run.tasks[0][0]
    await publish(js, [run.accepted(), run.planned(), run.queued(0, 0), run.started(0, 0)])
    for seq, text in enumerate(["first line", "second line", "ünïcode ✓"]):
        await cc_bus.publish_log(js, LogLine(run_id=run.id, task_id=task_id, line=text), seq=seq)
    # Another task's output stays out.
    await cc_bus.publish_log(
        js, LogLine(run_id=run.id, task_id=run.tasks[0][1], line="not mine"), seq=0
    )
    url = f"{live_url}/api/v1/runs/{run.id}/tasks/{task_id}/log"

    async with httpx.AsyncClient(timeout=TIMEOUT, headers=auth) as http:
        r = await http.get(url)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        assert r.text == "first line\nsecond line\nünïcode ✓\n"

        # A task with no output yet: empty, not an error (once the projector knows the task;
        # before, it is a 404 like any unknown task).
        quiet_url = f"{live_url}/api/v1/runs/{run.id}/tasks/{run.tasks[1][0]}/log"

        async def quiet_log() -> httpx.Response | None:
            r = await http.get(quiet_url)
            return r if r.status_code != 404 else None

        quiet = await eventually(quiet_log, what="the planned task to be projected")
        assert (quiet.status_code, quiet.text) == (200, "")

        received: list[SseEvent] = []
        async with http.stream("GET", url, headers={"Accept": "text/event-stream"}) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            events = only_events(sse_events(r.aiter_lines()))
            for _ in range(3):
                received.append(await anext(events))
            await cc_bus.publish_log(
                js, LogLine(run_id=run.id, task_id=task_id, line="live line"), seq=3
            )
            received.append(await anext(events))
            # The task finishes: the log stream ends once it is idle.
            await publish(js, [run.succeeded(0, 0)])
            received.extend([e async for e in events])

    assert [json.loads(e.data)["line"] for e in received] == [
        "first line",
        "second line",
        "ünïcode ✓",
        "live line",
    ]
    assert {e.event for e in received} == {"log"}
    ids = [int(e.id or 0) for e in received]
    assert ids == sorted(ids)

    # Resume the log after its second line.
    async with (
        httpx.AsyncClient(timeout=TIMEOUT, headers=auth) as http,
        http.stream(
            "GET",
            url,
            headers={"Accept": "text/event-stream", "Last-Event-ID": str(ids[1])},
        ) as r,
    ):
        rest = [e async for e in only_events(sse_events(r.aiter_lines()))]
    assert [json.loads(e.data)["line"] for e in rest] == ["ünïcode ✓", "live line"]
