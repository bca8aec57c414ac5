"""Dead letters: projected from CC_DEAD by the durable `gateway-dead-letters` and listed by
`GET /api/v1/dead-letters`, newest first, by run."""

from __future__ import annotations

import uuid
from typing import Any

import cc_bus
import pytest
from commandcenter_contracts import (
    DeadLetter,
    FailureCode,
    TaskDispatched,
    subjects,
)
from gateway.resources import Resources
from gateway_support import Client
from litestar import Litestar
from nats.js import JetStreamContext

from tests.support.polling import eventually

pytestmark = pytest.mark.integration


def task(run_id: str, attempt: int = 1) -> TaskDispatched:
    return TaskDispatched(
        run_id=run_id,
        task_id=str(uuid.uuid4()),
        attempt=attempt,
        plan_task_id="1.2",
        batch_index=0,
        title="Write the thing",
        branch=f"cc/{run_id[:8]}/1.2-write-the-thing",
        repo="/repo",
    )


async def listed(client: Client, query: str = "", *, count: int) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]] | None:
        r = await client.get(f"/api/v1/dead-letters{query}")
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items if len(items) >= count else None

    return await eventually(check, what=f"{count} dead letters{query}")


async def test_dead_letters_are_listed_newest_first_and_by_run(
    client: Client, app: Litestar, js: JetStreamContext
) -> None:
    run_a, run_b = str(uuid.uuid4()), str(uuid.uuid4())
    gave_up = DeadLetter(
        subject=subjects.TASK_DISPATCH_LOCAL,
        error_code=FailureCode.INFRA,
        error="gave up after 5 deliveries",
        task=task(run_a, attempt=2),
        num_delivered=5,
    )
    # Raw bytes that are JSON naming a run: found by run too.
    half_readable = DeadLetter(
        subject=subjects.TASK_DISPATCH_DAGGER,
        error_code=FailureCode.BAD_MESSAGE,
        error="missing field `branch`",
        raw=f'{{"run_id": "{run_b}", "task_id": "t-9", "attempt": 3}}'.encode(),
        num_delivered=1,
    )
    garbage = DeadLetter(
        subject="cc.status.x",
        error_code=FailureCode.BAD_MESSAGE,
        error="undecodable status event",
        raw=b"\x00\xffnot json",
    )
    for letter in (gave_up, half_readable, garbage):
        await cc_bus.publish_dead_letter(js, letter)
    # The same letter published again under another message id: listed once.
    await cc_bus.publish(js, subjects.TASK_DEAD, gave_up, msg_id="again")
    # Something on the dead-letter subject that is no dead letter at all: kept, not looped.
    await js.publish(subjects.TASK_DEAD, b"{not a letter", headers={"Nats-Msg-Id": "junk"})

    items = await listed(client, count=4)
    assert len(items) == 4
    seqs = [i["stream_seq"] for i in items]
    assert seqs == sorted(seqs, reverse=True)
    junk, unreadable, bad, first = items
    assert unreadable["id"] == garbage.event_id
    assert bad["id"] == half_readable.event_id

    assert first["id"] == gave_up.event_id
    assert (first["run_id"], first["attempt"], first["num_delivered"]) == (run_a, 2, 5)
    assert first["task_id"] == gave_up.task.task_id  # type: ignore[union-attr]
    assert first["task"]["branch"] == f"cc/{run_a[:8]}/1.2-write-the-thing"
    assert (first["error_code"], first["error"], first["raw"]) == (
        "INFRA",
        "gave up after 5 deliveries",
        None,
    )
    assert first["subject"] == subjects.TASK_DISPATCH_LOCAL

    assert (bad["run_id"], bad["task_id"], bad["attempt"], bad["task"]) == (run_b, "t-9", 3, None)
    assert bad["raw"].startswith('{"run_id"')
    assert unreadable["raw"].endswith("not json") and "\x00" not in unreadable["raw"]
    assert (junk["error_code"], junk["subject"]) == ("BAD_MESSAGE", subjects.TASK_DEAD)
    assert junk["error"].startswith("not a dead letter")

    only_a = await listed(client, f"?run_id={run_a}", count=1)
    assert [i["id"] for i in only_a] == [gave_up.event_id]
    only_b = await listed(client, f"?run_id={run_b}", count=1)
    assert [i["id"] for i in only_b] == [half_readable.event_id]
    newest = (await client.get("/api/v1/dead-letters?limit=1")).json()
    assert newest["count"] == 1 and newest["items"][0]["id"] == junk["id"]
    assert (await client.get("/api/v1/dead-letters?limit=0")).status_code == 400
    assert (await client.get("/api/v1/dead-letters?run_id=nobody")).json()["items"] == []

    resources: Resources = app.state.resources
    assert resources.dead_letters.stats.projected == 4
    assert resources.dead_letters.stats.duplicates == 1


async def test_a_status_event_nobody_can_read_is_listed_as_a_dead_letter(
    client: Client, js: JetStreamContext
) -> None:
    run_id = str(uuid.uuid4())
    await js.publish(
        subjects.status_subject(run_id),
        f'{{"type": "task.started", "run_id": "{run_id}"}}'.encode(),
        headers={"Nats-Msg-Id": "broken-status"},
    )
    (item,) = await listed(client, f"?run_id={run_id}", count=1)
    assert item["subject"] == subjects.status_subject(run_id)
    assert item["error_code"] == "BAD_MESSAGE"
    assert "task_id" in item["error"]  # msgspec names the missing field
