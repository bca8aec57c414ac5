"""Many SSE clients of one run share one subscription (the run's hub), over a real uvicorn
socket: every client gets every event once, in order; clients join mid-stream from history;
a stuck client is ended without holding back the others; the hub goes with its last client;
a broken subscription or a restarted nats-server never leaves a stream hanging."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import re
import socket
from urllib.parse import urlsplit

import cc_bus
import httpx
import pytest
from commandcenter.servers import NatsServer
from commandcenter_contracts import RunSucceeded, StatusEvent, TaskProgress, subjects
from gateway.events import hub as hub_module
from gateway.events.hub import Hub
from gateway.events.hubs import Hubs
from gateway.settings import Settings
from gateway_support import Run, SseEvent, sse_events
from litestar import Litestar
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from tests.support.polling import eventually

pytestmark = pytest.mark.integration

TIMEOUT = httpx.Timeout(60.0)
MAX_BEHIND = 50
"""Small, so the hub's window is trimmed within a test."""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, sse_max_behind=MAX_BEHIND, sse_max_per_token=200)


def progress(run: Run, n: int, size: int = 0) -> TaskProgress:
    return TaskProgress(
        run_id=run.id, task_id=run.tasks[0][0], step="agent_started", message=f"{n}:" + "x" * size
    )


async def publish(js: JetStreamContext, events: list[StatusEvent]) -> list[int]:
    return [(await cc_bus.publish_status(js, event)).seq for event in events]


def hubs_of(app: Litestar) -> Hubs:
    hubs = app.state.hubs
    assert isinstance(hubs, Hubs)
    return hubs


async def follow_to_end(
    url: str,
    auth: dict[str, str],
    after: str | None = None,
    *,
    started: asyncio.Event | None = None,
) -> list[list[SseEvent]]:
    """Every event up to `run.succeeded`, as EventSource would get them: a stream that ends
    before is reconnected with `Last-Event-ID`. One list per connection."""
    connections: list[list[SseEvent]] = []
    async with httpx.AsyncClient(timeout=TIMEOUT, headers=auth) as http:
        while True:
            headers = {"Accept": "text/event-stream"}
            if after is not None:
                headers["Last-Event-ID"] = after
            got: list[SseEvent] = []
            connections.append(got)
            async with http.stream("GET", url, headers=headers) as r:
                if r.status_code == 503:  # NATS away: EventSource retries, so do we
                    await asyncio.sleep(0.2)
                    continue
                assert r.status_code == 200, await r.aread()
                async for item in sse_events(r.aiter_lines()):
                    if started is not None:
                        started.set()
                    if isinstance(item, SseEvent):
                        got.append(item)
            if got:
                after = got[-1].id
            if got and got[-1].event == "run.succeeded":
                return connections


def ids(connections: list[list[SseEvent]]) -> list[int]:
    return [int(e.id or -1) for got in connections for e in got]


async def test_many_clients_get_every_event_once_in_order_from_one_subscription(
    live_url: str, js: JetStreamContext, auth: dict[str, str], app: Litestar
) -> None:
    run, other = Run(), Run()
    seqs = await publish(js, [run.accepted(), run.planned()])
    baseline = (await js.stream_info(subjects.STREAM_STATUS)).state.consumer_count
    url = f"{live_url}/api/v1/runs/{run.id}/events"
    started = [asyncio.Event() for _ in range(20)]
    clients = [asyncio.create_task(follow_to_end(url, auth, started=s)) for s in started]
    await asyncio.gather(*(s.wait() for s in started))

    async def one_subscription() -> bool:
        info = await js.stream_info(subjects.STREAM_STATUS)
        return info.state.consumer_count == baseline + 1  # the hub's; histories are over

    await eventually(one_subscription, what="the clients to share one consumer")
    assert len(hubs_of(app)) == 1

    # Published concurrently, interleaved with another run's events.
    sent = [progress(run, n) for n in range(300)]
    published = await asyncio.gather(
        publish(js, sent), publish(js, [progress(other, n) for n in range(50)])
    )
    seqs += [*published[0], *await publish(js, [RunSucceeded(run_id=run.id)])]
    data = {seq: (await js.get_msg(subjects.STREAM_STATUS, seq)).data.decode() for seq in seqs}
    for client in clients:
        events = [e for got in await client for e in got]
        assert [int(e.id or -1) for e in events] == seqs
        assert [e.data for e in events] == [data[seq] for seq in seqs]
        assert [e.event for e in events[2:-1]] == ["task.progress"] * len(sent)

    async def hub_gone() -> bool:
        info = await js.stream_info(subjects.STREAM_STATUS)
        return len(hubs_of(app)) == 0 and info.state.consumer_count == baseline

    await eventually(hub_gone, what="the hub and its consumer to go with the last client")


async def test_clients_joining_mid_stream_get_history_then_live_without_gap_or_duplicate(
    live_url: str, js: JetStreamContext, auth: dict[str, str], app: Litestar
) -> None:
    run = Run()
    history = await publish(js, [run.accepted(), *[progress(run, n) for n in range(20)]])
    url = f"{live_url}/api/v1/runs/{run.id}/events"
    first_started = asyncio.Event()
    first = asyncio.create_task(follow_to_end(url, auth, started=first_started))
    await first_started.wait()
    hub = await eventually(
        lambda: hubs_of(app).get(subjects.STREAM_STATUS, subjects.status_subject(run.id))
    )

    stop = asyncio.Event()

    async def publish_on() -> None:
        n = 20
        while not stop.is_set():
            await publish(js, [progress(run, n)])
            n += 1

    publisher = asyncio.create_task(publish_on())
    # The window has dropped its oldest live events (it keeps MAX_BEHIND to 2 x MAX_BEHIND).
    await eventually(lambda: hub.window.start > 0, what="the hub's window to be trimmed")
    dropped = hub.window.after_seq
    # While events keep coming, joiners: from the start, from inside the history, from a live
    # event the window no longer holds (all three: history, then the hub), from the newest
    # event (the window only).
    joiners = []
    for after in (None, str(history[10]), str(dropped - 1), str(hub.delivered_seq)):
        joiners.append((after, asyncio.create_task(follow_to_end(url, auth, after))))
        await asyncio.sleep(0)
    await eventually(lambda: hub.delivered_seq > dropped + 3 * MAX_BEHIND, what="more events")
    stop.set()
    await publisher
    await publish(js, [RunSucceeded(run_id=run.id)])
    seqs = await subject_seqs(js, run)

    assert ids(await first) == seqs
    for after, joiner in joiners:
        expected = seqs if after is None else [s for s in seqs if s > int(after)]
        assert ids(await joiner) == expected, after


async def subject_seqs(js: JetStreamContext, run: Run) -> list[int]:
    """The stream sequences of every event of the run."""
    subject = subjects.status_subject(run.id)
    info = await js.stream_info(subjects.STREAM_STATUS)
    found = []
    for seq in range(1, info.state.last_seq + 1):
        msg = await js.get_msg(subjects.STREAM_STATUS, seq)
        if msg.subject == subject:
            found.append(seq)
    return found


async def test_a_stuck_client_is_ended_without_holding_back_the_others(
    live_url: str, js: JetStreamContext, auth: dict[str, str]
) -> None:
    run = Run()
    seqs = await publish(js, [run.accepted()])
    url = f"{live_url}/api/v1/runs/{run.id}/events"
    stuck_reader, stuck_writer = await _stuck_client(url, auth)
    started = asyncio.Event()
    reader = asyncio.create_task(follow_to_end(url, auth, started=started))
    await started.wait()

    # Far more than the stuck client's socket buffers and the window hold.
    seqs += await publish(js, [progress(run, n, size=32_000) for n in range(400)])
    seqs += await publish(js, [RunSucceeded(run_id=run.id)])
    assert ids(await reader) == seqs  # not held back: it has the run's end, the other is stuck

    # Now the stuck client reads: a prefix of the events, then the end of the response.
    stuck_writer.transport.resume_reading()  # type: ignore[attr-defined]
    body = await stuck_reader.read()  # until the server closes the connection
    stuck_writer.close()
    assert body.endswith(b"0\r\n\r\n"), body[-200:]  # the chunked body's end: it was ended
    got = [int(m) for m in re.findall(rb"\nid: (\d+)\r\n", b"\n" + body)]
    assert got == seqs[: len(got)]
    assert len(got) < len(seqs)
    assert b"event: run.succeeded" not in body


async def _stuck_client(
    url: str, auth: dict[str, str]
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A client that sends its request and reads only the response's head, on a small
    receive buffer: then it stops reading."""
    where = urlsplit(url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (where.hostname, where.port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 26)
    writer.write(
        (
            f"GET {where.path} HTTP/1.1\r\nHost: {where.netloc}\r\n"
            f"Accept: text/event-stream\r\n"
            f"Authorization: {auth['Authorization']}\r\nConnection: close\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.split(b" ", 2)[1] == b"200", head
    writer.transport.pause_reading()  # the small kernel buffer fills, then the server's
    return reader, writer


async def follow_on_its_hub(
    live_url: str, auth: dict[str, str], app: Litestar, run: Run
) -> tuple[asyncio.Task[list[list[SseEvent]]], Hub]:
    """A client following the run to its end, once it reads from the run's hub."""
    url = f"{live_url}/api/v1/runs/{run.id}/events"
    started = asyncio.Event()
    client = asyncio.create_task(follow_to_end(url, auth, started=started))
    await started.wait()
    subject = subjects.status_subject(run.id)
    hub = await eventually(lambda: hubs_of(app).get(subjects.STREAM_STATUS, subject))
    return client, hub


async def lose_the_hubs_consumer(js: JetStreamContext, run: Run) -> None:
    """The server loses the hub's consumer (as when it expired during a disconnect)."""
    subject = subjects.status_subject(run.id)

    async def deleted_one() -> bool:
        for consumer in await js.consumers_info(subjects.STREAM_STATUS):
            if consumer.config.filter_subject == subject:
                try:
                    await js.delete_consumer(subjects.STREAM_STATUS, consumer.name)
                    return True
                except NotFoundError:  # the hub replaced it since the listing: lose the new one
                    pass
        return False

    await eventually(deleted_one, what="the hub's consumer deleted")


async def test_a_broken_subscription_never_leaves_the_stream_hanging(
    live_url: str, js: JetStreamContext, auth: dict[str, str], app: Litestar
) -> None:
    run = Run()
    seqs = await publish(js, [run.accepted()])
    client, hub = await follow_on_its_hub(live_url, auth, app, run)
    await lose_the_hubs_consumer(js, run)
    seqs += await publish(js, [progress(run, n) for n in range(5)])
    seqs += await publish(js, [RunSucceeded(run_id=run.id)])
    assert ids(await client) == seqs
    assert hub.delivered_seq == seqs[-1] or hub.failed


async def test_a_quiet_hub_asks_the_stream_ever_less_often_and_still_finds_missed_news(
    live_url: str,
    js: JetStreamContext,
    auth: dict[str, str],
    app: Litestar,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The watchdog's questions back off while a run stays quiet (here ten times faster than
    the gateway's 1, 2, 4, 8, 8, … s); a subscription lost after a quiet spell is still
    replaced."""
    monkeypatch.setattr(hub_module, "STALL_CHECK_S", 0.1)
    monkeypatch.setattr(hub_module, "STALL_CHECK_MAX_S", 0.8)
    asked: list[float] = []
    real_last_message = hub_module.last_message

    async def counted(*args: object, **kwargs: object) -> object:
        asked.append(asyncio.get_running_loop().time())
        return await real_last_message(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(hub_module, "last_message", counted)
    run = Run()
    seqs = await publish(js, [run.accepted()])
    client, _ = await follow_on_its_hub(live_url, auth, app, run)

    await eventually(lambda: len(asked) >= 6, what="six questions of the quiet hub")
    waits = [b - a for a, b in itertools.pairwise(asked)][:5]
    # doubling, then steady at the longest (a busy machine only makes the waits longer)
    least = [0.2, 0.4, 0.8, 0.8, 0.8]
    assert all(w >= at_least - 0.01 for w, at_least in zip(waits, least, strict=True)), waits

    await lose_the_hubs_consumer(js, run)
    seqs += await publish(js, [progress(run, n) for n in range(3)])
    seqs += await publish(js, [RunSucceeded(run_id=run.id)])
    assert ids(await client) == seqs


def test_the_quiet_hub_waits_double_up_to_eight_seconds() -> None:
    assert [hub_module.stall_check_s(q) for q in range(6)] == [1, 2, 4, 8, 8, 8]
    assert hub_module.stall_check_s(10_000) == 8


async def test_a_failed_hub_ends_its_streams_and_the_clients_resume(
    live_url: str, js: JetStreamContext, auth: dict[str, str], app: Litestar
) -> None:
    run = Run()
    subject = subjects.status_subject(run.id)
    seqs = await publish(js, [run.accepted(), *[progress(run, n) for n in range(3)]])
    url = f"{live_url}/api/v1/runs/{run.id}/events"
    started = asyncio.Event()
    client = asyncio.create_task(follow_to_end(url, auth, started=started))
    await started.wait()
    hub = await eventually(lambda: hubs_of(app).get(subjects.STREAM_STATUS, subject))
    await eventually(lambda: hub.delivered_seq == seqs[-1], what="the hub to be caught up")
    hub.fail()  # what the hub does when the stream stays unreachable
    seqs += await publish(js, [progress(run, n) for n in range(3, 6)])
    seqs += await publish(js, [RunSucceeded(run_id=run.id)])
    connections = await client
    assert ids(connections) == seqs
    assert len(connections) == 2  # ended, then resumed with Last-Event-ID on a new hub


async def test_a_restarted_nats_server_never_leaves_the_stream_hanging(
    live_url: str, js: JetStreamContext, auth: dict[str, str], nats_server: NatsServer
) -> None:
    run = Run()
    seqs = await publish(js, [run.accepted(), *[progress(run, n) for n in range(3)]])
    url = f"{live_url}/api/v1/runs/{run.id}/events"
    started = asyncio.Event()
    client = asyncio.create_task(follow_to_end(url, auth, started=started))
    await started.wait()

    nats_server.stop()
    nats_server.start()

    async def published() -> list[int]:
        return await publish(js, [progress(run, 3)])

    seqs += await eventually(published, what="NATS to take events again")
    seqs += await publish(js, [progress(run, n) for n in range(4, 8)])
    seqs += await publish(js, [RunSucceeded(run_id=run.id)])
    # It went on, or it ended and the client resumed (a 503 while NATS was away is retried
    # by EventSource; here it did not come to that, or `follow_to_end` would have failed).
    assert ids(await client) == seqs


async def test_every_runs_stream_clients_share_one_hub_too(
    live_url: str, js: JetStreamContext, auth: dict[str, str], app: Litestar
) -> None:
    one, two = Run(), Run()
    await publish(js, [one.accepted()])
    baseline = (await js.stream_info(subjects.STREAM_STATUS)).state.consumer_count
    url = f"{live_url}/api/v1/events"
    started = [asyncio.Event() for _ in range(10)]
    stop = asyncio.Event()

    async def read(started: asyncio.Event) -> list[int]:
        async with (
            httpx.AsyncClient(timeout=TIMEOUT, headers=auth) as http,
            http.stream("GET", url) as r,
        ):
            got: list[int] = []
            async for item in sse_events(r.aiter_lines()):
                started.set()
                if isinstance(item, SseEvent) and item.event != "ready":
                    got.append(int(item.id or -1))
                if isinstance(item, SseEvent) and item.event == "run.succeeded":
                    await stop.wait()
                    return got
        raise AssertionError("the stream ended")

    clients = [asyncio.create_task(read(s)) for s in started]
    await asyncio.gather(*(s.wait() for s in started))

    async def one_hub() -> bool:  # the `ready` event comes before the client joins it
        info = await js.stream_info(subjects.STREAM_STATUS)
        return len(hubs_of(app)) == 1 and info.state.consumer_count == baseline + 1

    await eventually(one_hub, what="the clients to share one hub")
    sent = await asyncio.gather(
        publish(js, [progress(one, n) for n in range(100)]),
        publish(js, [two.accepted(), *[progress(two, n) for n in range(100)]]),
    )
    last = await publish(js, [RunSucceeded(run_id=one.id)])
    stop.set()
    for client in clients:
        assert await client == sorted([*sent[0], *sent[1], *last])

    async def hub_gone() -> bool:
        info = await js.stream_info(subjects.STREAM_STATUS)
        return len(hubs_of(app)) == 0 and info.state.consumer_count == baseline

    await eventually(hub_gone, what="the hub and its consumer to go with the last client")
