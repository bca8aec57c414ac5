"""Integration turns across replicas (`cc_bus.executor.IntegrationTurns`) on a real nats-server:
each replica is its own connection, as executor replicas are."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import msgspec
import pytest
from cc_bus import connect
from cc_bus.executor import IntegrationTurns, turns_bucket
from cc_bus.executor.turns import BUCKET
from cc_bus.kv_keys import bucket_keys
from commandcenter.servers import NatsServer
from nats.aio.client import Client

from tests.support.polling import eventually

pytestmark = pytest.mark.integration

BRANCH = "/repos/app\0\0cc/run1/integration"


@pytest.fixture
async def replicas(nats_server: NatsServer) -> AsyncIterator[list[Client]]:
    clients = [await connect(nats_server.url, name=f"replica-{i}") for i in range(3)]
    yield clients
    for nc in clients:
        await nc.close()


async def turns(nc: Client, name: str, **options: float) -> IntegrationTurns:
    return IntegrationTurns(nc, await turns_bucket(nc.jetstream()), name, **options)


async def test_replicas_hold_a_branchs_turn_one_at_a_time_and_pass_the_tip_on(
    replicas: list[Client],
) -> None:
    holders = [await turns(nc, f"replica-{i}") for i, nc in enumerate(replicas)]
    inside: list[str] = []
    overlaps: list[tuple[str, ...]] = []
    seen_tips: list[str | None] = []
    order: list[str] = []

    async def integrate(holder: IntegrationTurns, who: str) -> None:
        async with holder.hold(BRANCH, asyncio.Event()) as turn:
            inside.append(who)
            if len(inside) > 1:
                overlaps.append(tuple(inside))
            seen_tips.append(turn.tip)
            await asyncio.sleep(0.05)  # a fetch, a combination, a push
            turn.tip = f"tip-after-{who}"
            order.append(who)
            inside.remove(who)

    await asyncio.gather(*(integrate(h, f"r{i}") for i, h in enumerate(holders)))

    assert overlaps == []
    assert len(order) == 3
    # The first found no tip; each next one found where the one before left the branch.
    assert seen_tips == [None, *(f"tip-after-{who}" for who in order[:-1])]


async def test_another_branch_is_not_held_up(replicas: list[Client]) -> None:
    first, second = await turns(replicas[0], "a"), await turns(replicas[1], "b")
    async with first.hold(BRANCH, asyncio.Event()):
        other = second.hold("/repos/app\0\0cc/run2/integration", asyncio.Event())
        async with asyncio.timeout(5):
            async with other as turn:
                assert turn.tip is None


async def test_a_holder_that_died_is_waited_for_until_its_lease_ends(
    nats_server: NatsServer, replicas: list[Client]
) -> None:
    doomed = await connect(nats_server.url, name="doomed")
    dying = await turns(doomed, "doomed", lease_s=1.0)
    held = dying.hold(BRANCH, asyncio.Event())
    turn = await held.__aenter__()  # taken, and never given back: the replica is killed
    turn.tip = "left-by-the-dead"
    await doomed.close()

    kv = await replicas[0].jetstream().key_value(BUCKET)
    [key] = await bucket_keys(replicas[0].jetstream(), BUCKET)
    lease_ends = msgspec.json.decode((await kv.get(key)).value)["until"]

    survivor = await turns(replicas[0], "survivor")
    async with asyncio.timeout(30):
        async with survivor.hold(BRANCH, asyncio.Event()) as taken:
            taken_at = time.time()
    assert taken.tip is None  # the dead holder never wrote where it left the branch
    assert taken_at >= lease_ends  # it waited for the dead holder's lease to run out


async def test_a_cancelled_waiter_stops_waiting_and_goes_on_without_the_turn(
    replicas: list[Client],
) -> None:
    holder, waiter = await turns(replicas[0], "holder"), await turns(replicas[1], "waiter")
    cancel = asyncio.Event()
    async with holder.hold(BRANCH, asyncio.Event()):
        waiting = asyncio.create_task(_enter(waiter, cancel))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # held: it waits
        cancel.set()
        async with asyncio.timeout(5):
            await waiting
    # It did not take the turn: the holder's give-back above is what the bucket shows.
    kv = await replicas[2].jetstream().key_value(BUCKET)
    [key] = await bucket_keys(replicas[0].jetstream(), BUCKET)
    assert b'"holder":""' in (await kv.get(key)).value


async def test_a_waiter_gives_up_after_its_longest_wait(replicas: list[Client]) -> None:
    holder = await turns(replicas[0], "holder")
    patient = await turns(replicas[1], "patient", max_wait_s=0.5)
    async with holder.hold(BRANCH, asyncio.Event()):
        async with asyncio.timeout(10):
            async with patient.hold(BRANCH, asyncio.Event()) as turn:
                assert turn.tip is None  # went on without it, while the holder still holds


async def test_without_the_bucket_the_integrator_goes_on_without_a_turn(
    replicas: list[Client], caplog: pytest.LogCaptureFixture
) -> None:
    holder = await turns(replicas[0], "holder")
    await replicas[0].jetstream().delete_key_value(BUCKET)  # e.g. the server lost it
    async with asyncio.timeout(10):
        async with holder.hold(BRANCH, asyncio.Event()) as turn:
            assert turn.tip is None
    await eventually(
        lambda: "integrating without one" in caplog.text, within_s=5, what="the warning"
    )


async def _enter(turns: IntegrationTurns, cancel: asyncio.Event) -> None:
    async with turns.hold(BRANCH, cancel):
        pass
