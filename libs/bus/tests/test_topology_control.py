"""The control-plane part of the topology against a real nats-server: replay requests share
the planner's work queue with phase starts, JetStream's MAX_DELIVERIES advisories are kept in
a stream, and a server set up before these existed is brought up to date."""

from __future__ import annotations

import json

import pytest
from cc_bus import (
    connect,
    dead_letters_consumer,
    ensure_consumer,
    ensure_streams,
    executor_local_consumer,
    planner_advisories_consumer,
    planner_land_consumer,
    planner_phase_consumer,
    planner_replay_consumer,
)
from commandcenter.servers import NatsServer
from commandcenter_contracts import subjects
from nats.js.api import RetentionPolicy, StorageType, StreamConfig

pytestmark = pytest.mark.integration


async def test_replays_and_phase_starts_share_the_planners_work_queue(
    nats_server: NatsServer,
) -> None:
    nc = await connect(nats_server.url, name="test")
    js = nc.jetstream()
    try:
        # A server from before replay existed: CC_PHASES with phase starts only.
        await js.add_stream(
            StreamConfig(
                name=subjects.STREAM_PHASES,
                subjects=[subjects.PHASE_START],
                retention=RetentionPolicy.WORK_QUEUE,
                storage=StorageType.FILE,
            )
        )
        await ensure_streams(js)
        info = await js.stream_info(subjects.STREAM_PHASES)
        assert sorted(info.config.subjects or []) == sorted(
            [subjects.PHASE_START, subjects.CONTROL_REPLAY, subjects.CONTROL_LAND]
        )
        # Three durables on one work queue: allowed, because their filters do not overlap.
        for spec in (
            planner_phase_consumer(),
            planner_replay_consumer(),
            planner_land_consumer(),
            planner_advisories_consumer(),
            dead_letters_consumer(),
        ):
            await ensure_consumer(js, spec)
        await js.publish(subjects.CONTROL_REPLAY, b"{}", headers={"Nats-Msg-Id": "r1"})
        await js.publish(subjects.PHASE_START, b"{}", headers={"Nats-Msg-Id": "p1"})
        await js.publish(subjects.CONTROL_LAND, b"{}", headers={"Nats-Msg-Id": "l1"})
        replay = await js.consumer_info(subjects.STREAM_PHASES, subjects.CONSUMER_PLANNER_REPLAY)
        phase = await js.consumer_info(subjects.STREAM_PHASES, subjects.CONSUMER_PLANNER)
        land = await js.consumer_info(subjects.STREAM_PHASES, subjects.CONSUMER_PLANNER_LAND)
        assert (replay.num_pending, phase.num_pending, land.num_pending) == (1, 1, 1)
    finally:
        await nc.close()


async def test_max_deliveries_advisories_are_kept_in_a_stream(nats_server: NatsServer) -> None:
    nc = await connect(nats_server.url, name="test")
    js = nc.jetstream()
    try:
        await ensure_streams(js)
        await ensure_consumer(js, executor_local_consumer(ack_wait_s=30, max_deliver=2))
        ack = await js.publish(subjects.TASK_DISPATCH_LOCAL, b"{}", headers={"Nats-Msg-Id": "t"})
        sub = await js.pull_subscribe_bind(
            durable=subjects.CONSUMER_EXECUTOR_LOCAL, stream=subjects.STREAM_TASKS
        )
        for _ in range(2):
            (msg,) = await sub.fetch(1, timeout=5)
            await msg.nak()
        with pytest.raises(TimeoutError):
            await sub.fetch(1, timeout=1)  # exhausted: not delivered a third time

        info = await js.stream_info(subjects.STREAM_ADVISORIES)
        assert info.state.messages == 1
        stored = await js.get_msg(subjects.STREAM_ADVISORIES, info.state.first_seq)
        assert stored.subject == subjects.max_deliveries_advisory_subject(
            subjects.STREAM_TASKS, subjects.CONSUMER_EXECUTOR_LOCAL
        )
        advisory = json.loads(stored.data or b"")
        assert (advisory["stream"], advisory["stream_seq"], advisory["deliveries"]) == (
            subjects.STREAM_TASKS,
            ack.seq,
            2,
        )
        # The message is still in the work queue until someone removes it.
        assert (await js.stream_info(subjects.STREAM_TASKS)).state.messages == 1
    finally:
        await nc.close()
