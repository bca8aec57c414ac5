"""The projector writes a backlog in batches: one transaction per fetch, not one per event,
and a batch holding an event the read model refuses costs only that event.

Each test publishes its events before the gateway starts, so the projector meets them as a
backlog (fetches of up to `BATCH`). Which transaction wrote an event row is PostgreSQL's own
record (`xmin`), not ours."""

from __future__ import annotations

import uuid

import asyncpg
import msgspec
import pytest
from commandcenter_contracts import (
    FailureCode,
    RunStarted,
    RunSucceeded,
    StatusEvent,
    TaskProgress,
    dead_letter_decoder,
    subjects,
)
from gateway.readmodel.projecting import BATCH
from gateway.resources import Resources
from gateway.settings import Settings
from gateway_support import (
    Run,
    admin_headers,
    publish_all,
    stream_messages,
    tasks_of,
    wait_view,
)
from litestar import Litestar
from litestar.testing import AsyncTestClient
from nats.js import JetStreamContext

from tests.support.polling import eventually

pytestmark = pytest.mark.integration

PROGRESS_PER_TASK = 30


def whole_run(run: Run) -> list[StatusEvent]:
    """A run of 2 batches x 2 tasks with plenty of progress: ~140 events."""
    events: list[StatusEvent] = [run.accepted(), run.planned()]
    for b in range(2):
        events += run.batch_started(b)
        for p in range(2):
            events.append(run.started(b, p))
            events += [
                TaskProgress(run_id=run.id, task_id=run.tasks[b][p], step="agent", message=str(i))
                for i in range(PROGRESS_PER_TASK)
            ]
            events.append(run.succeeded(b, p))
        events.append(run.batch_completed(b))
    return [*events, RunSucceeded(run_id=run.id)]


async def transactions_of(database_url: str, run_id: str) -> tuple[int, int]:
    """(event rows of the run, distinct transactions that inserted them)."""
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS n, count(DISTINCT xmin::text) AS tx FROM events WHERE run_id = $1",
            uuid.UUID(run_id),
        )
    finally:
        await conn.close()
    assert row is not None
    return int(row["n"]), int(row["tx"])


async def test_a_backlog_is_written_a_fetch_per_transaction(
    app: Litestar, settings: Settings, js: JetStreamContext, database_url: str
) -> None:
    run = Run()
    events = whole_run(run)
    await publish_all(js, events)
    # The same event again under another message id (a publisher that lost its ack and
    # retried after the dedupe window): written once, inside a batch as well.
    again = events[5]
    await js.publish(
        subjects.status_subject(run.id),
        msgspec.json.encode(again),
        headers={"Nats-Msg-Id": f"retry-{again.event_id}"},
    )

    async with AsyncTestClient(app, timeout=60) as client:
        client.headers.update(admin_headers(settings))
        view = await wait_view(client, run.id, "the whole backlog", status="succeeded")
        assert [t["status"] for t in tasks_of(view).values()] == ["succeeded"] * 4
        resources: Resources = app.state.resources
        stats = resources.projector.stats
        await eventually(lambda: stats.projected + stats.duplicates == len(events) + 1)
        assert (stats.projected, stats.duplicates) == (len(events), 1)

    rows, transactions = await transactions_of(database_url, run.id)
    assert rows == len(events)
    # One by one would be `len(events)` transactions; a fetch is up to BATCH of them.
    assert transactions <= len(events) // 4, (rows, transactions, BATCH)


async def test_a_refused_event_in_a_batch_costs_only_itself(
    app: Litestar, settings: Settings, js: JetStreamContext, database_url: str
) -> None:
    run = Run()
    events = whole_run(run)
    # Well-formed, but its run id cannot be a run of the read model: refused mid-batch.
    refused = RunStarted(run_id="not-a-uuid")
    middle = len(events) // 3
    await publish_all(js, [*events[:middle], refused, *events[middle:]])

    async with AsyncTestClient(app, timeout=60) as client:
        client.headers.update(admin_headers(settings))
        await wait_view(client, run.id, "every event around the refused one", status="succeeded")
        resources: Resources = app.state.resources
        stats = resources.projector_consumer.stats
        await eventually(lambda: stats.given_up == 1, what="the refused event given up")

        async def settled() -> bool:
            info = await js.consumer_info(subjects.STREAM_STATUS, subjects.CONSUMER_PROJECTOR)
            return info.num_ack_pending == 0 and info.num_pending == 0

        await eventually(settled, what="every message settled")
        info = await js.consumer_info(subjects.STREAM_STATUS, subjects.CONSUMER_PROJECTOR)
        assert info.num_redelivered == 0
        assert resources.projector.stats.projected == len(events)

    rows, _ = await transactions_of(database_url, run.id)
    assert rows == len(events)
    letters = [
        dead_letter_decoder.decode(m.data or b"")
        for m in await stream_messages(js, subjects.STREAM_DEAD)
    ]
    assert [(d.subject, d.error_code) for d in letters] == [
        ("cc.status.not-a-uuid", FailureCode.BAD_MESSAGE)
    ]
