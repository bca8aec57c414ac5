"""The gateway restarts mid-run while a client follows the run's events over SSE.

The client is `commandcenter.sse.follow`, the one `commandcenter run --follow` uses: it
reconnects by itself with `Last-Event-ID`. What it received must be exactly the run's status
messages in JetStream: no gap, no duplicate.
"""

from __future__ import annotations

import signal

import pytest

from tests.faults.harness import (
    Bus,
    FaultStack,
    Follower,
    auth_headers,
    batch_of,
    wait_run_end,
)
from tests.faults.report import FaultReport
from tests.support.polling import eventually

pytestmark = [pytest.mark.faults, pytest.mark.integration]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_gateway_restarts_while_a_client_follows_the_run(
    fault_stack: FaultStack, bus: Bus, fault: FaultReport, sig: signal.Signals
) -> None:
    fault.scenario(
        f"4. gateway restart mid-run ({sig.name}) while an SSE client follows",
        injected=f"{sig.name} to the gateway once the client has events and task 1.1's agent "
        "runs; the supervisor starts it again",
    )
    fs = fault_stack
    run_id, base = await fs.start_run([batch_of(1, 3)], sleep_s=3)
    client = Follower(fs.stack.gateway_url, auth_headers(fs.stack), run_id)
    client.start()
    await eventually(
        lambda: client.received and fs.agents_of("1.1"),
        within_s=60,
        what="the client following and task 1.1's agent at work",
    )
    received_before = len(client.received)
    old_pid = fs.kill("gateway", sig)
    await fs.wait_restarted("gateway", old_pid)
    await wait_run_end(bus.js, run_id, within_s=120)
    got = await client.saw_the_whole_run(bus.js, run_id)
    summary = await bus.checker.check(run_id, base)
    fs.assert_work_of_last_agent(summary.commits)
    # The fault hit: the client had to come back, and said where it had stopped.
    assert len(client.requests) >= 2, client.requests
    assert all(r is not None for r in client.requests[1:]), client.requests
    fault.note(
        f"{received_before} of {len(got)} events before the restart; the client came back "
        f"with Last-Event-ID ({len(client.requests) - 1} attempts while the gateway restarted) "
        "and got every event exactly once"
    )
