"""A three-node JetStream cluster under the stack, every stream and bucket with three replicas
(`CC_STREAM_REPLICAS=3`), and a node lost mid-run: the leader of `CC_TASKS`, the leader of
`CC_STATUS` while an SSE client follows, the meta leader during a phase start, a node frozen
past the consumers' ack wait, and two nodes at once (no quorum). One node lost, the run goes on;
two lost, the stack refuses new work, loses nothing, and goes on when one comes back. The
checker holds after every run."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from commandcenter.servers import NatsCluster
from commandcenter_contracts import StatusEvent, subjects

from tests.faults.checker import event_type
from tests.faults.cluster import (
    CLUSTER_SIZE,
    clients_of,
    cluster_of,
    known_meta_leader,
    meta_leader,
    move_stream_leader,
    names,
    other_nodes,
    replicated_streams,
    restart,
    stream_leader,
    wait_caught_up,
)
from tests.faults.harness import (
    Bus,
    FaultStack,
    Follower,
    Tripwire,
    auth_headers,
    batch_of,
    run_events,
    wait_run_end,
)
from tests.faults.report import FaultReport
from tests.support.polling import eventually

pytestmark = [pytest.mark.faults, pytest.mark.integration]

FREEZE_S = 8.0
"""Longer than the consumers' ack wait (`CC_ACK_WAIT_S=5` in the fault suite)."""


@pytest.fixture
def fault_stack(launch: Callable[..., FaultStack]) -> FaultStack:
    """This module's stack runs on a three-node cluster with every stream replicated thrice."""
    return launch(nats_cluster=CLUSTER_SIZE, extra_env={"CC_STREAM_REPLICAS": str(CLUSTER_SIZE)})


@pytest.fixture
async def cluster(fault_stack: FaultStack, bus: Bus) -> NatsCluster:
    """The stack's cluster, once every stream of the control plane is on all its nodes."""
    expected = {
        subjects.STREAM_PHASES,
        subjects.STREAM_TASKS,
        subjects.STREAM_STATUS,
        subjects.STREAM_LOGS,
        subjects.STREAM_DEAD,
    }
    replicated = set(await replicated_streams(bus.js))
    assert expected <= replicated, f"not replicated: {expected - replicated}"
    for name in replicated:
        info = await bus.js.stream_info(name)
        assert info.config.num_replicas == CLUSTER_SIZE, (name, info.config.num_replicas)
    return cluster_of(fault_stack)


def longest_quiet_s(events: list[StatusEvent], after: datetime) -> float:
    """The longest gap between two consecutive status events of the run from `after` on: how
    long the run stood still around the fault."""
    times = sorted([after, *(e.at for e in events if e.at >= after)])
    return max((b - a).total_seconds() for a, b in itertools.pairwise(times))


async def test_tasks_stream_leader_killed_while_an_agent_runs(
    fault_stack: FaultStack, bus: Bus, cluster: NatsCluster, fault: FaultReport
) -> None:
    fault.scenario(
        "9a. R3 cluster: `kill -9` the CC_TASKS stream leader while an agent runs",
        injected="SIGKILL to the nats-server node leading CC_TASKS as soon as task 1.1's agent "
        "has started; the node is started again once the run is over",
    )
    fs = fault_stack
    run_id, base = await fs.start_run(
        [batch_of(1, 2), batch_of(2, 1)], sleep_s=0.3, per_task={"1.1": 2}
    )
    await fs.agent_started("1.1")
    leader = cluster.node((await stream_leader(cluster, subjects.STREAM_TASKS)).leader)
    clients = clients_of(leader)
    killed_at, killed_wall = time.monotonic(), datetime.now(UTC)
    leader.kill()
    elected = await stream_leader(
        cluster, subjects.STREAM_TASKS, other_than=leader.name, since=killed_at
    )
    summary = await bus.run_succeeded(run_id, base)
    fs.assert_work_of_last_agent(summary.commits)
    assert summary.tasks == 3
    assert not leader.running

    restarted_at = time.monotonic()
    await restart(leader)
    caught_up = await wait_caught_up(bus.js, leader)
    assert {subjects.STREAM_TASKS, subjects.STREAM_STATUS} <= set(caught_up)
    quiet_s = longest_quiet_s(await run_events(bus.js, run_id), killed_wall)
    fault.note(
        f"{leader.name} led CC_TASKS (its clients: {', '.join(clients) or 'none'}); "
        f"{elected.leader} took over {elected.seconds:.1f} s after the kill; the run's longest "
        f"quiet spell after the kill {quiet_s:.1f} s; deliveries per task: {summary.deliveries}; "
        f"{leader.name} back and current on all {len(caught_up)} replicated streams "
        f"{time.monotonic() - restarted_at:.1f} s after its restart"
    )


async def test_status_stream_leader_killed_while_a_client_follows(
    fault_stack: FaultStack, bus: Bus, cluster: NatsCluster, fault: FaultReport
) -> None:
    fault.scenario(
        "9b. R3 cluster: `kill -9` the CC_STATUS stream leader while an SSE client follows",
        injected="SIGKILL to the node leading CC_STATUS once the client (`commandcenter.sse."
        "follow`, resuming with Last-Event-ID) has events and task 1.1's agent runs",
    )
    fs = fault_stack
    run_id, base = await fs.start_run([batch_of(1, 3)], sleep_s=2)
    client = Follower(fs.stack.gateway_url, auth_headers(fs.stack), run_id)
    client.start()
    await eventually(
        lambda: client.received and fs.agents_of("1.1"),
        within_s=60,
        what="the client following and task 1.1's agent at work",
    )
    leader = cluster.node((await stream_leader(cluster, subjects.STREAM_STATUS)).leader)
    gateway_on_leader = "cc-gateway" in clients_of(leader)
    received_before = len(client.received)
    killed_at = time.monotonic()
    leader.kill()
    elected = await stream_leader(
        cluster, subjects.STREAM_STATUS, other_than=leader.name, since=killed_at
    )
    await wait_run_end(bus.js, run_id, within_s=120)
    got = await client.saw_the_whole_run(bus.js, run_id)
    assert received_before < len(got), "the fault missed: the client had everything already"
    summary = await bus.checker.check(run_id, base)
    fs.assert_work_of_last_agent(summary.commits)
    resumed = len(client.requests) - 1
    assert all(r is not None for r in client.requests[1:]), client.requests
    fault.note(
        f"{leader.name} led CC_STATUS (the gateway was {'' if gateway_on_leader else 'not '}"
        f"connected to it); {elected.leader} took over {elected.seconds:.1f} s after the kill; "
        f"{received_before} of {len(got)} events before the kill; the client "
        + (
            f"came back {resumed} time(s) with Last-Event-ID and "
            if resumed
            else "kept its connection and "
        )
        + "got every event exactly once, in stream order"
    )


async def test_meta_leader_killed_during_a_phase_start(
    fault_stack: FaultStack, bus: Bus, cluster: NatsCluster, fault: FaultReport
) -> None:
    fault.scenario(
        "9c. R3 cluster: `kill -9` the JetStream meta leader during a phase start",
        injected="SIGKILL to the meta leader, made to lead CC_PHASES too, from a "
        "subscription's callback on the run's phase start (`cc.phase.start`, published by "
        "POST /runs, consumed by the planner)",
    )
    fs = fault_stack
    meta = (await meta_leader(cluster)).leader
    node = cluster.node(meta)
    # The hardest moment: the phase start's own stream leader dies with the meta leader, while
    # the gateway waits for its publish to be stored.
    await move_stream_leader(bus.js, subjects.STREAM_PHASES, meta)
    killed: list[float] = []

    def kill_meta_leader() -> None:
        node.kill()
        killed.append(time.monotonic())

    wire = await Tripwire(kill_meta_leader).arm(fs.nats_url, subjects.PHASE_START)
    try:
        posted_wall = datetime.now(UTC)
        run_id, base = await fs.start_run([batch_of(1, 2), batch_of(2, 1)], sleep_s=0.3)
        accepted_s = time.monotonic() - killed[0]
        elected = await meta_leader(cluster, other_than=meta, since=killed[0])
        summary = await bus.run_succeeded(run_id, base)
    finally:
        await wire.close()
    quiet_s = longest_quiet_s(await run_events(bus.js, run_id), posted_wall)
    fs.assert_work_of_last_agent(summary.commits)
    assert summary.tasks == 3
    assert not node.running
    fault.note(
        f"{meta} was the meta leader and CC_PHASES' leader; {elected.leader} became meta "
        f"leader {elected.seconds:.1f} s after the kill; POST /runs answered 202 "
        f"{accepted_s:.1f} s after the kill; the run's longest quiet spell {quiet_s:.1f} s; "
        f"deliveries per task: {summary.deliveries}"
    )


async def test_a_node_frozen_longer_than_the_ack_wait(
    fault_stack: FaultStack, bus: Bus, cluster: NatsCluster, fault: FaultReport
) -> None:
    fault.scenario(
        "9d. R3 cluster: a node frozen (SIGSTOP) longer than the consumers' ack wait",
        injected=f"SIGSTOP to the node leading CC_TASKS while task 1.1's agent runs, SIGCONT "
        f"{FREEZE_S:g} s later (ack wait 5 s)",
    )
    fs = fault_stack
    run_id, base = await fs.start_run(
        [batch_of(1, 3), batch_of(2, 1)], sleep_s=0.3, per_task={"1.1": 2}
    )
    await fs.agent_started("1.1")
    node = cluster.node((await stream_leader(cluster, subjects.STREAM_TASKS)).leader)
    clients = clients_of(node)
    frozen_wall = datetime.now(UTC)
    node.freeze()
    try:
        await asyncio.sleep(FREEZE_S)  # the freeze itself, not a wait for a result
    finally:
        node.thaw()
    thawed_wall = datetime.now(UTC)
    summary = await bus.run_succeeded(run_id, base)
    fs.assert_work_of_last_agent(summary.commits)
    assert summary.tasks == 4
    events = await run_events(bus.js, run_id)
    quiet_s = longest_quiet_s(events, frozen_wall)
    during = sum(1 for e in events if frozen_wall <= e.at < thawed_wall)
    await wait_caught_up(bus.js, node)
    fault.note(
        f"{node.name} led CC_TASKS (its clients: {', '.join(clients) or 'none'}); "
        f"{during} of the run's events published during the freeze; the run's longest quiet "
        f"spell after the freeze {quiet_s:.1f} s; deliveries per task: {summary.deliveries}; "
        f"{node.name} current again on every replicated stream"
    )


async def test_two_nodes_down_refuses_new_work_and_loses_nothing(
    fault_stack: FaultStack, bus: Bus, cluster: NatsCluster, fault: FaultReport
) -> None:
    fault.scenario(
        "9e. R3 cluster: two of three nodes down (no quorum), then one back",
        injected="SIGKILL to two nodes (CC_TASKS' leader and one more) while task 1.1's agent "
        "runs; POST /runs and /ready asked meanwhile; one node started again",
    )
    fs = fault_stack
    run_id, base = await fs.start_run(
        [batch_of(1, 2), batch_of(2, 1)], sleep_s=0.3, per_task={"1.1": 2}
    )
    await fs.agent_started("1.1")
    tasks_leader = (await stream_leader(cluster, subjects.STREAM_TASKS)).leader
    down = [cluster.node(tasks_leader), *other_nodes(cluster, tasks_leader)[:1]]
    (survivor,) = other_nodes(cluster, *(n.name for n in down))
    before = len(await run_events(bus.js, run_id))
    for node in down:
        node.kill()

    async with httpx.AsyncClient(
        base_url=fs.stack.gateway_url, timeout=30, headers=auth_headers(fs.stack)
    ) as client:
        ready = await eventually(
            lambda: _no_quorum_readiness(client),
            within_s=60,
            what="/ready saying no quorum",
        )
        refused = await client.post(
            "/api/v1/runs",
            # An agent the live executor can run: only the lost quorum may refuse it.
            json={
                "plan_path": str(fs.sandbox.repo / "MASTER_PLAN.md"),
                "execution_mode": "local",
                "agent": "command",
                "agent_argv": ["true"],
            },
        )
        assert refused.status_code == 503, refused.text
        assert "no quorum" in refused.text or "JetStream stored nothing" in refused.text, (
            refused.text
        )
        meta_without_quorum = known_meta_leader(cluster)
        readable = await _events_now(bus, run_id)

        back = down[0]
        back_at = time.monotonic()
        await restart(back)
        summary = await bus.run_succeeded(run_id, base, within_s=180)
        resumed_s = time.monotonic() - back_at
        fs.assert_work_of_last_agent(summary.commits)
        assert summary.tasks == 3
        ready_again = await eventually(
            lambda: _readiness_ok(client), within_s=60, what="/ready ok again"
        )
    # The refused run stays refused. What the gateway published for it during the outage may
    # reach the stream once a quorum is back (JetStream commits what a leader had proposed), so
    # the gateway also cancels it on the bus, retrying until JetStream takes it: the planner
    # never plans it, whatever arrives late.
    late = await eventually(
        lambda: _refused_run_cancelled(bus, fs, run_id),
        within_s=60,
        what="the refused run cancelled on the bus",
    )
    assert set(late) <= {"run.accepted", "run.cancelled"}, f"the refused run ran after all: {late}"
    ((_, refused_status, refused_error),) = await _other_runs(fs, run_id)
    assert refused_status in ("failed", "cancelled"), refused_status
    assert "not started" in refused_error, refused_error
    streams_state = ready["streams"]
    fault.note(
        f"{names(down)} killed ({survivor.name} left, meta leader then: "
        f"{meta_without_quorum}); {before} events of the run in JetStream before; "
        f"/ready 503 with streams '{streams_state[:80]}…'; POST /runs 503: "
        f"'{refused.text[:160]}…'; run events readable during the outage: {readable}; "
        f"after {back.name} came back the run succeeded in {resumed_s:.1f} s; "
        f"deliveries per task: {summary.deliveries}; "
        f"/ready {ready_again['streams']} again; the refused run ended '{refused_status}: "
        f"{refused_error[:60]}…' with {late} on the bus"
    )


async def _other_runs(fs: FaultStack, run_id: str) -> list[tuple[str, str, str]]:
    """(id, status, error) of every run of the read model but `run_id`."""
    conn = await asyncpg.connect(fs.database_url, timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT id::text, status, coalesce(error, '') AS error FROM runs WHERE id <> $1",
            uuid.UUID(run_id),
        )
    finally:
        await conn.close()
    return [(r["id"], r["status"], r["error"]) for r in rows]


async def _refused_run_cancelled(bus: Bus, fs: FaultStack, run_id: str) -> list[str] | None:
    """The event types of the one other run (the refused one) once `run.cancelled` is among
    them."""
    ((refused_id, _, _),) = await _other_runs(fs, run_id)
    late = [event_type(e) for e in await run_events(bus.js, refused_id)]
    return late if "run.cancelled" in late else None


async def _events_now(bus: Bus, run_id: str) -> str:
    """How many events of the run JetStream serves now, or why none."""
    try:
        async with asyncio.timeout(3):
            return str(len(await run_events(bus.js, run_id)))
    except Exception as exc:
        return f"no ({type(exc).__name__})"


async def _no_quorum_readiness(client: httpx.AsyncClient) -> dict[str, object] | None:
    response = await client.get("/ready")
    body: dict[str, object] = response.json()
    if response.status_code == 503 and "no quorum" in str(body.get("streams")):
        return body
    return None


async def _readiness_ok(client: httpx.AsyncClient) -> dict[str, object] | None:
    response = await client.get("/ready")
    body: dict[str, object] = response.json()
    return body if response.status_code == 200 else None
