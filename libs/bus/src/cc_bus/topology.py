"""The JetStream topology of CommandCenter: streams and durable consumers, as data plus the
two functions that make the server match it.

JetStream keeps an existing stream's or durable consumer's config when a client asks for it
again with different values, silently. `ensure_stream` and `ensure_consumer` therefore compare
and update, so a changed setting (say, executor slots) really reaches the server.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from commandcenter_contracts import subjects as s
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

log = logging.getLogger(__name__)

DAY = 24 * 3600.0


@dataclass(frozen=True, kw_only=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    work_queue: bool = False
    max_age_s: float = 0.0
    max_bytes: int = -1
    duplicate_window_s: float = 3600.0
    """How long a `Nats-Msg-Id` is remembered: covers a planner restarted mid-batch."""

    def config(self) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            subjects=list(self.subjects),
            retention=RetentionPolicy.WORK_QUEUE if self.work_queue else RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=self.max_age_s or None,
            max_bytes=self.max_bytes,
            discard=DiscardPolicy.OLD,
            duplicate_window=self.duplicate_window_s,
        )


STREAMS: tuple[StreamSpec, ...] = (
    # The planner's inbox: phase starts (durable `planner`), replay requests (durable
    # `planner-replay`) and landing requests (durable `planner-land`); a work queue accepts the
    # three durables because their filters are disjoint.
    StreamSpec(
        name=s.STREAM_PHASES,
        subjects=(s.PHASE_START, s.CONTROL_REPLAY, s.CONTROL_LAND),
        work_queue=True,
    ),
    StreamSpec(
        name=s.STREAM_TASKS,
        subjects=(s.TASK_DISPATCH_LOCAL, s.TASK_DISPATCH_DAGGER),
        work_queue=True,
    ),
    StreamSpec(name=s.STREAM_STATUS, subjects=(s.STATUS_ALL,), max_age_s=30 * DAY),
    StreamSpec(
        name=s.STREAM_LOGS,
        subjects=(s.LOG_ALL,),
        max_age_s=7 * DAY,
        max_bytes=1 << 30,
        duplicate_window_s=120.0,
    ),
    StreamSpec(name=s.STREAM_DEAD, subjects=(s.TASK_DEAD,), max_age_s=90 * DAY),
    # JetStream's MAX_DELIVERIES advisories of the task consumers, kept in a stream so that a
    # planner that was down when one fired still turns it into a dead letter afterwards.
    StreamSpec(
        name=s.STREAM_ADVISORIES,
        subjects=(s.max_deliveries_advisory_subject(s.STREAM_TASKS),),
        work_queue=True,
        max_age_s=30 * DAY,
    ),
)


@dataclass(frozen=True, kw_only=True)
class ConsumerSpec:
    stream: str
    durable: str
    filter_subject: str
    max_ack_pending: int = 1000
    ack_wait_s: float = 30.0
    max_deliver: int = -1
    deliver_all: bool = True
    description: str = ""

    def config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.durable,
            name=self.durable,
            description=self.description or None,
            filter_subject=self.filter_subject,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL if self.deliver_all else DeliverPolicy.NEW,
            max_ack_pending=self.max_ack_pending,
            ack_wait=self.ack_wait_s,
            max_deliver=self.max_deliver,
        )


def executor_local_consumer(*, ack_wait_s: float, max_deliver: int) -> ConsumerSpec:
    # max_ack_pending=1 is what keeps local mode sequential, whatever the replica count:
    # the server hands out the next task only when the previous one is acked.
    return ConsumerSpec(
        stream=s.STREAM_TASKS,
        durable=s.CONSUMER_EXECUTOR_LOCAL,
        filter_subject=s.TASK_DISPATCH_LOCAL,
        max_ack_pending=1,
        ack_wait_s=ack_wait_s,
        max_deliver=max_deliver,
        description="local executor: one task at a time, in git worktrees",
    )


def executor_dagger_consumer(
    *, total_slots: int, ack_wait_s: float, max_deliver: int
) -> ConsumerSpec:
    return ConsumerSpec(
        stream=s.STREAM_TASKS,
        durable=s.CONSUMER_EXECUTOR_DAGGER,
        filter_subject=s.TASK_DISPATCH_DAGGER,
        max_ack_pending=max(1, total_slots),
        ack_wait_s=ack_wait_s,
        max_deliver=max_deliver,
        description="dagger executor: a fresh container per task",
    )


def _one_at_a_time(
    durable: str,
    filter_subject: str,
    ack_wait_s: float,
    *,
    stream: str = s.STREAM_PHASES,
    max_deliver: int = -1,
    description: str = "",
) -> ConsumerSpec:
    """A planner durable: one message at a time across replicas, because each handler
    read-modify-writes a run's records."""
    return ConsumerSpec(
        stream=stream,
        durable=durable,
        filter_subject=filter_subject,
        max_ack_pending=1,
        ack_wait_s=ack_wait_s,
        max_deliver=max_deliver,
        description=description,
    )


def planner_phase_consumer() -> ConsumerSpec:
    # The planner sends in-progress acks while it plans: a short wait only shortens how long a
    # crashed planner's phase start waits before another planner takes it.
    return _one_at_a_time(s.CONSUMER_PLANNER, s.PHASE_START, 10.0, max_deliver=10)


def planner_progress_consumer() -> ConsumerSpec:
    # Run progress is read-modify-written per event. Deliver ALL, not NEW: applying an event
    # twice is a no-op for the planner, so a durable (re)created on a stream with history only
    # costs a replay, while NEW would skip what was published while the durable was missing and
    # leave those runs waiting forever.
    return _one_at_a_time(s.CONSUMER_PLANNER_PROGRESS, s.STATUS_ALL, 30.0, stream=s.STREAM_STATUS)


def planner_replay_consumer() -> ConsumerSpec:
    # A replay reads and writes the run's task records in the KV bucket.
    about = "planner: replay requests (a new attempt of a finished task)"
    return _one_at_a_time(s.CONSUMER_PLANNER_REPLAY, s.CONTROL_REPLAY, 60.0, description=about)


def planner_land_consumer() -> ConsumerSpec:
    # Landing talks to a git remote and a forge (seconds): its own durable keeps that off the
    # status loop. A run's landing record is read-modify-written.
    about = "planner: landing a run (pull request, fast-forward of the base branch)"
    return _one_at_a_time(s.CONSUMER_PLANNER_LAND, s.CONTROL_LAND, 120.0, description=about)


def planner_advisories_consumer() -> ConsumerSpec:
    return _one_at_a_time(
        s.CONSUMER_PLANNER_ADVISORIES,
        s.max_deliveries_advisory_subject(s.STREAM_TASKS),
        60.0,
        stream=s.STREAM_ADVISORIES,
        description="planner: task messages the executors gave up on (max deliveries)",
    )


def _read_model(
    stream: str, durable: str, filter_subject: str, description: str = ""
) -> ConsumerSpec:
    """A gateway durable feeding the read model: many messages in flight, no delivery limit."""
    return ConsumerSpec(
        stream=stream,
        durable=durable,
        filter_subject=filter_subject,
        max_ack_pending=256,
        description=description,
    )


def dead_letters_consumer() -> ConsumerSpec:
    about = "gateway: dead letters into the read model"
    return _read_model(s.STREAM_DEAD, s.CONSUMER_DEAD_LETTERS, s.TASK_DEAD, about)


def projector_consumer() -> ConsumerSpec:
    return _read_model(s.STREAM_STATUS, s.CONSUMER_PROJECTOR, s.STATUS_ALL)


async def ensure_streams(
    js: JetStreamContext, specs: tuple[StreamSpec, ...] = STREAMS, *, update: bool = True
) -> None:
    for spec in specs:
        await ensure_stream(js, spec, update=update)


async def ensure_stream(js: JetStreamContext, spec: StreamSpec, *, update: bool = True) -> None:
    """Create the stream, or update it when its settings differ from `spec`. `update=False`
    (an executor: its NATS user may not update streams, `cc_bus.permissions`) leaves a
    differing stream to the control plane, which reconciles it when it starts."""
    config = spec.config()
    try:
        info = await js.stream_info(spec.name)
    except NotFoundError:
        await js.add_stream(config)
        log.info("created stream %s", spec.name)
        return
    current = info.config
    if (
        sorted(current.subjects or []) != sorted(config.subjects or [])
        or (current.max_age or 0) != (config.max_age or 0)
        or current.max_bytes != config.max_bytes
        or current.duplicate_window != config.duplicate_window
    ):
        if not update:
            log.info("stream %s differs from this version's; the planner updates it", spec.name)
            return
        await js.update_stream(config)
        log.info("updated stream %s", spec.name)


async def ensure_consumer(js: JetStreamContext, spec: ConsumerSpec) -> None:
    """Create the durable, or update it when its settings differ from `spec`."""
    wanted = spec.config()
    try:
        info = await js.consumer_info(spec.stream, spec.durable)
    except NotFoundError:
        await js.add_consumer(spec.stream, wanted)
        log.info("created consumer %s on %s", spec.durable, spec.stream)
        return
    have = info.config
    if (
        have.max_ack_pending != wanted.max_ack_pending
        or (have.ack_wait or 0) != (wanted.ack_wait or 0)
        or (have.max_deliver or -1) != (wanted.max_deliver or -1)
        or have.filter_subject != wanted.filter_subject
    ):
        # deliver_policy cannot change on an existing consumer: keep the server's. Creating a
        # durable that exists with new settings updates it (nats-server >= 2.9).
        updated = wanted.evolve(deliver_policy=have.deliver_policy)
        await js.add_consumer(spec.stream, updated)
        log.info(
            "updated consumer %s: max_ack_pending %s -> %s",
            spec.durable,
            have.max_ack_pending,
            wanted.max_ack_pending,
        )
