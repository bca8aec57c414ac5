"""The infrastructure goes away mid-run: nats-server restarts (file store), PostgreSQL stops for
about ten seconds. Nothing acknowledged may be lost, and the read model must catch up."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from commandcenter_contracts import subjects

from tests.faults.checker import event_type, read_subject
from tests.faults.harness import Bus, FaultStack, auth_headers, batch_of, wait_run_end
from tests.faults.report import FaultReport

pytestmark = [pytest.mark.faults, pytest.mark.integration]

NATS_DOWN_S = 3.0
POSTGRES_DOWN_S = 10.0


@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_nats_server_restarts_mid_run(
    fault_stack: FaultStack, bus: Bus, fault: FaultReport, how: str
) -> None:
    signal = "SIGTERM" if how == "stop" else "SIGKILL"
    fault.scenario(
        f"3. nats-server restart mid-run (file store, {signal})",
        injected=f"nats-server {'stopped' if how == 'stop' else 'killed'} ({signal}) while task "
        f"1.1's agent runs, started again {NATS_DOWN_S:g} s later on the same port and store "
        "(the agent finishes during the outage)",
    )
    fs = fault_stack
    nats = fs.stack.nats
    assert nats is not None and nats.sync_always
    batches = [batch_of(1, 2), batch_of(2, 1)]
    run_id, base = await fs.start_run(batches, sleep_s=0.2, per_task={"1.1": 1})
    await fs.agent_started("1.1")

    before = await read_subject(bus.js, subjects.STREAM_STATUS, subjects.status_subject(run_id))
    await asyncio.to_thread(nats.stop if how == "stop" else nats.kill)
    await asyncio.sleep(NATS_DOWN_S)  # the outage itself, not a wait for a result
    finished_in_outage = [m for m in fs.agents_of("1.1") if m.done]
    # On this (the main) thread: nats-server dies with the thread that started it.
    nats.start()

    summary = await bus.run_succeeded(run_id, base)
    after = await read_subject(bus.js, subjects.STREAM_STATUS, subjects.status_subject(run_id))
    # The file store kept everything acknowledged before the restart, in place.
    assert after[: len(before)] == before
    fs.assert_work_of_last_agent(summary.commits)
    assert summary.tasks == 3
    assert finished_in_outage, "the fault missed: task 1.1's agent had not finished in the outage"
    fault.note(
        f"{len(before)} events before the restart all kept; task 1.1's agent finished while "
        f"NATS was down; deliveries per task: {summary.deliveries}"
    )


async def test_postgres_stopped_for_ten_seconds(
    fault_stack: FaultStack, bus: Bus, fault: FaultReport
) -> None:
    fault.scenario(
        "5. PostgreSQL stopped ~10 s mid-run",
        injected=f"PostgreSQL stopped (fast shutdown) while task 1.1's agent runs, started "
        f"again {POSTGRES_DOWN_S:g} s later",
    )
    fs = fault_stack
    postgres = fs.stack.postgres
    assert postgres is not None
    run_id, base = await fs.start_run([batch_of(1, 3)], sleep_s=1)
    await fs.agent_started("1.1")

    subject = subjects.status_subject(run_id)
    at_stop = len(await read_subject(bus.js, subjects.STREAM_STATUS, subject))
    await asyncio.to_thread(postgres.stop)
    stopped_at = time.monotonic()
    # The run goes on without the read model: its end reaches JetStream during the outage.
    end = await wait_run_end(bus.js, run_id, within_s=POSTGRES_DOWN_S + 60)
    ended_in_outage = time.monotonic() - stopped_at < POSTGRES_DOWN_S
    await asyncio.sleep(max(0.0, POSTGRES_DOWN_S - (time.monotonic() - stopped_at)))
    total = len(await read_subject(bus.js, subjects.STREAM_STATUS, subject))
    await asyncio.to_thread(postgres.restart_after_stop)

    assert event_type(end) == "run.succeeded", end
    summary = await bus.checker.check(run_id, base)
    fs.assert_work_of_last_agent(summary.commits)
    # The gateway serves the caught-up view again (its pool survived the outage).
    async with httpx.AsyncClient(
        base_url=fs.stack.gateway_url, timeout=30, headers=auth_headers(fs.stack)
    ) as client:
        view = (await client.get(f"/api/v1/runs/{run_id}")).json()
    assert view["status"] == "succeeded", view
    assert view["counts"]["succeeded"] == 3, view
    assert total > at_stop, "the fault missed: nothing was published while PostgreSQL was down"
    fault.note(
        f"{total - at_stop} of {total} events published while PostgreSQL was down"
        + (" (the run ended during the outage)" if ended_in_outage else "")
        + f"; the projector caught up; deliveries per task: {summary.deliveries}"
    )
