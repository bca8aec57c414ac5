"""The JetStream topology of CommandCenter: streams and durable consumers, as data plus the
two functions that make the server match it.

JetStream keeps an existing stream's or durable consumer's config when a client asks for it
again with different values, silently. `ensure_stream` and `ensure_consumer` therefore compare
and update, so a changed setting (say, executor slots) really reaches the server.

Replication (`CC_STREAM_REPLICAS`) is a property of the streams and the key-value buckets
(which are streams). Durable consumers are created with replicas 0, "as many as the stream":
the server scales them with their stream, in place, when the stream's count changes
(a consumer asking for more replicas than its stream has while the stream is still scaling up
is refused, so following the stream is the only order that always works).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from commandcenter_contracts import Env
from commandcenter_contracts import subjects as s
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import (
    APIError,
    BucketNotFoundError,
    NoStreamResponseError,
    NotFoundError,
    ServiceUnavailableError,
)
from nats.js.kv import KeyValue

log = logging.getLogger(__name__)
T = TypeVar("T")

DAY = 24 * 3600.0
STATUS_MAX_AGE_S = 30 * DAY


@dataclass(frozen=True, kw_only=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    work_queue: bool = False
    max_age_s: float = 0.0
    max_bytes: int = -1
    duplicate_window_s: float = 3600.0
    """How long a `Nats-Msg-Id` is remembered: covers a planner restarted mid-batch."""

    def config(self, replicas: int = 1) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            num_replicas=replicas,
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
    StreamSpec(name=s.STREAM_STATUS, subjects=(s.STATUS_ALL,), max_age_s=STATUS_MAX_AGE_S),
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


MAX_REPLICAS = 5
"""JetStream's limit on a stream's replicas."""

# JetStream's answers when it cannot place the replicas asked for.
_CANNOT_PLACE = {
    10005,  # no suitable peers for placement
    10023,  # insufficient resources
    10074,  # replicas > 1 not supported in non-clustered mode
}


def stream_replicas(env: Env) -> int:
    """`CC_STREAM_REPLICAS`: copies JetStream keeps of every stream and bucket (1 to 5; 3
    survives the loss of any one node of a three-node cluster)."""
    return env.whole("CC_STREAM_REPLICAS", 1, low=1, high=MAX_REPLICAS)


RUN_RETENTION_ENV = "CC_RUN_RETENTION_DAYS"


def run_retention_days(env: Env) -> float:
    """`CC_RUN_RETENTION_DAYS`: how long after a run ended it can still be taken on again (a
    replay, a raised budget); the planner forgets it a day later (`planner.retention`). 0
    keeps every run. The default is the age the status stream keeps events to."""
    return env.number(RUN_RETENTION_ENV, STATUS_MAX_AGE_S / DAY, low=0.0)


def cannot_place(exc: APIError) -> bool:
    """JetStream cannot place the replicas asked for, and waiting will not change that (a
    peer that is only offline for now is waited for: `patiently`)."""
    return exc.err_code in _CANNOT_PLACE and not _peer_offline(exc)


def _peer_offline(exc: BaseException) -> bool:
    return isinstance(exc, APIError) and "offline" in (exc.description or "")


class ReplicasError(RuntimeError):
    """The NATS deployment cannot hold the replicas `CC_STREAM_REPLICAS` asks for."""


def replicas_refusal(stream: str, replicas: int, exc: APIError) -> ReplicasError:
    return ReplicasError(
        f"CC_STREAM_REPLICAS={replicas}: JetStream cannot keep {replicas} replicas of "
        f"{stream} ({exc.description}). It needs a cluster of at least {replicas} JetStream "
        f"nodes, all up: start more nodes (`commandcenter up --nats-cluster {replicas}`) or "
        "lower CC_STREAM_REPLICAS"
    )


async def ensure_streams(
    js: JetStreamContext,
    specs: tuple[StreamSpec, ...] = STREAMS,
    *,
    update: bool = True,
    replicas: int = 1,
) -> None:
    for spec in specs:
        await ensure_stream(js, spec, update=update, replicas=replicas)


async def ensure_stream(
    js: JetStreamContext, spec: StreamSpec, *, update: bool = True, replicas: int = 1
) -> None:
    await patiently(
        lambda: _ensure_stream(js, spec, update=update, replicas=replicas), f"stream {spec.name}"
    )


async def _ensure_stream(
    js: JetStreamContext, spec: StreamSpec, *, update: bool, replicas: int
) -> None:
    """Create the stream, or update it when its settings differ from `spec`. `update=False`
    (an executor: its NATS user may not update streams, `cc_bus.permissions`) leaves a
    differing stream to the control plane, which reconciles it when it starts."""
    config = spec.config(replicas)
    try:
        info = await js.stream_info(spec.name)
    except NotFoundError:
        try:
            await js.add_stream(config)
        except APIError as exc:
            if cannot_place(exc):
                raise replicas_refusal(spec.name, replicas, exc) from exc
            raise
        log.info("created stream %s (%d replica(s))", spec.name, replicas)
        return
    current = info.config
    if (current.num_replicas or 1) != replicas:
        await _set_replicas(js, info.config, replicas, update=update)
        current = (await js.stream_info(spec.name)).config if update else current
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


async def ensure_replicas(
    js: JetStreamContext, stream: str, replicas: int, *, update: bool = True
) -> None:
    """Bring an existing stream (a key-value bucket's `KV_<bucket>`) to `replicas`."""

    async def once() -> None:
        info = await js.stream_info(stream)
        if (info.config.num_replicas or 1) != replicas:
            await _set_replicas(js, info.config, replicas, update=update)

    await patiently(once, f"the replicas of {stream}")


START_PATIENCE_S = 90.0
"""How long a service keeps asking JetStream at start before it gives up (its supervisor
starts it again): a cluster electing leaders, or busy placing the streams of every service
starting at once, answers late or "temporarily unavailable"."""

_NOT_YET = (NatsTimeoutError, ServiceUnavailableError, NoRespondersError, NoStreamResponseError)


async def patiently(call: Callable[[], Awaitable[T]], what: str) -> T:
    """`call()`, asked again while JetStream does not answer yet. Every caller's call is
    idempotent (look, then create or update), so asking twice is harmless."""
    deadline = time.monotonic() + START_PATIENCE_S
    delay = 0.25
    while True:
        try:
            return await call()
        except (*_NOT_YET, APIError) as exc:
            transient = isinstance(exc, _NOT_YET) or _peer_offline(exc)
            if not transient or time.monotonic() + delay > deadline:
                raise
            log.warning(
                "JetStream did not answer for %s (%s); asking again in %.1fs",
                what,
                type(exc).__name__,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def kv_stream(bucket: str) -> str:
    """The stream that holds key-value bucket `bucket`."""
    return f"KV_{bucket}"


async def create_bucket(js: JetStreamContext, config: KeyValueConfig) -> KeyValue:
    """Create a key-value bucket, refusing clearly when its replicas cannot be placed."""

    async def once() -> KeyValue:
        try:
            return await js.create_key_value(config=config)
        except APIError as exc:
            if cannot_place(exc):
                raise replicas_refusal(kv_stream(config.bucket), config.replicas, exc) from exc
            raise

    return await patiently(once, f"bucket {config.bucket}")


async def open_bucket(
    js: JetStreamContext, config: KeyValueConfig, *, update: bool = True
) -> KeyValue:
    """Bind to a key-value bucket, creating it as `config` says when missing. An existing one
    is brought to `config.replicas` (`CC_STREAM_REPLICAS`); with `update` off (a NATS user
    that may not change streams) a difference is only logged for the control plane to fix."""
    bucket = config.bucket
    try:
        kv = await patiently(lambda: js.key_value(bucket), f"bucket {bucket}")
    except BucketNotFoundError:
        return await create_bucket(js, config)
    await ensure_replicas(js, kv_stream(bucket), config.replicas or 1, update=update)
    return kv


async def _set_replicas(
    js: JetStreamContext, config: StreamConfig, replicas: int, *, update: bool
) -> None:
    """JetStream changes a stream's replica count in place: it copies the stream to the new
    peers (or drops them) while it keeps serving. Its consumers follow (see the top)."""
    have = config.num_replicas or 1
    if not update:
        log.info(
            "stream %s has %d replica(s), CC_STREAM_REPLICAS says %d: the control plane "
            "(gateway, planner) changes that",
            config.name,
            have,
            replicas,
        )
        return
    try:
        await js.update_stream(config.evolve(num_replicas=replicas))
    except APIError as exc:
        if cannot_place(exc):
            raise replicas_refusal(config.name or "?", replicas, exc) from exc
        raise
    log.warning(
        "stream %s: replicas %d -> %d (CC_STREAM_REPLICAS); JetStream copies it to its new "
        "peers in place",
        config.name,
        have,
        replicas,
    )


async def ensure_consumer(js: JetStreamContext, spec: ConsumerSpec) -> None:
    """Create the durable, or update it when its settings differ from `spec`."""
    await patiently(lambda: _ensure_consumer(js, spec), f"consumer {spec.durable}")


async def _ensure_consumer(js: JetStreamContext, spec: ConsumerSpec) -> None:
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
