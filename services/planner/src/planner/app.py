"""Wiring: `create_app(settings)` builds the planner: five durables, each consumed by
`cc_bus.Consumer` and settled only after every publish of the message's work succeeded.

- `cc.phase.start`, durable `planner` (stream CC_PHASES): plan a run, dispatch its first batch
  (in-progress acks while a large plan is published);
- `cc.status.>`, durable `planner-progress` (stream CC_STATUS, max_ack_pending=1, one event
  at a time across replicas): move runs on. Its deliver policy is ALL (see
  `cc_bus.planner_progress_consumer`): a durable re-created after an outage replays history,
  which costs only time, because applying an event twice is a no-op; NEW would silently skip
  what was published while the durable was missing and leave those runs waiting forever. An
  event type the planner does not know (a newer writer's) is skipped and acked;
- `cc.control.replay`, durable `planner-replay` (stream CC_PHASES): a new attempt of a
  finished task; a request that is ahead of this planner's progress is asked again later, one
  it refuses is said on the run's status subject (`task.replay_refused`, with the reason);
- JetStream's MAX_DELIVERIES advisories of CC_TASKS, durable `planner-advisories` (stream
  CC_ADVISORIES): a task its executors gave up on becomes a dead letter and a failure;
- `cc.control.land`, durable `planner-land` (stream CC_PHASES): the lander opens and updates a
  run's pull request, or moves its base branch, away from the status loop (seconds of git and
  HTTP each).

Streams and durables are created (or updated) before the consumers bind, so a changed setting
reaches the server. A handler that raises is retried with backoff and, after its durable's
limit, becomes a dead letter (`cc_bus.consume`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, TypeVar, get_args

import msgspec
from cc_bus import (
    Ack,
    Consumer,
    ConsumerSpec,
    Delivery,
    GiveUp,
    Retry,
    Settle,
    close,
    connect,
    ensure_consumer,
    ensure_streams,
    planner_advisories_consumer,
    planner_land_consumer,
    planner_phase_consumer,
    planner_progress_consumer,
    planner_replay_consumer,
    publish,
    publish_dead_letter,
    redact_url,
    run_until_signalled,
)
from cc_bus.consume import Handle
from cc_bus.executor import claims_bucket, executors_bucket, turns_bucket
from cc_forge import open_forge
from cc_observe import tracing
from cc_taskrunner import GitIdentity
from commandcenter_contracts import (
    DeadLetter,
    FailureCode,
    LandRequested,
    PhaseStartRequested,
    StatusEvent,
    TaskDispatched,
    TaskReplayRequested,
    land_decoder,
    phase_start_decoder,
    replay_decoder,
    status_decoder,
    subjects,
)
from nats.aio.client import Client
from nats.js import JetStreamContext

from planner.domain.giving_up import MaxDeliveries
from planner.domain.planning import Outgoing
from planner.domain.replay import Refuse, Wait
from planner.landing import GitLanding, Lander
from planner.pipeline import Publish
from planner.retention import Retention
from planner.service import InvalidRequest, Planner
from planner.settings import Settings
from planner.store import ProgressStore
from planner.task_queue import JetStreamTaskQueue

log = logging.getLogger(__name__)

PHASE_HEARTBEAT_S = 2.0
"""A large plan takes seconds to publish: in-progress acks keep the phase start ours, so a
short ack_wait (a crashed planner's run resumes quickly) never redelivers it meanwhile."""

STATUS_TYPES: frozenset[str] = frozenset(
    str(cls.__struct_config__.tag) for cls in get_args(StatusEvent)
)
_advisory_decoder = msgspec.json.Decoder(MaxDeliveries)

T = TypeVar("T")


@dataclass
class PlannerService:
    settings: Settings
    planner: Planner | None = None
    lander: Lander | None = None
    _nc: Client | None = None
    _consumers: list[Consumer[Any]] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        settings = self.settings
        self._nc = await connect(
            settings.nats_url, name=settings.client_name, auth=settings.nats_auth
        )
        js = self._nc.jetstream()
        replicas = settings.stream_replicas
        await ensure_streams(js, replicas=replicas)
        specs = {
            "phase": planner_phase_consumer(),
            "status": planner_progress_consumer(),
            "replay": planner_replay_consumer(),
            "advisories": planner_advisories_consumer(),
            "land": planner_land_consumer(),
        }
        for spec in specs.values():
            await ensure_consumer(js, spec)
        store = await ProgressStore.open(js, subjects.KV_PLANNER_RUNS, replicas=replicas)
        # The executors' buckets (presence, integration turns, dispatch claims) are theirs to
        # create; their replicas are ours to keep.
        await executors_bucket(js, replicas=replicas, update=True)
        await turns_bucket(js, replicas=replicas, update=True)
        await claims_bucket(js, replicas=replicas, update=True)
        publish_message = _publisher(js, settings.publish_timeout_s)

        async def dead_letter(letter: DeadLetter) -> None:
            await publish_dead_letter(js, letter)

        self.lander = Lander(
            store=store,
            publish=publish_message,
            git=GitLanding(
                settings.work_dir,
                GitIdentity(settings.git_author_name, settings.git_author_email),
            ),
            open_forge=lambda remote: open_forge(settings.forge, remote_url=remote),
        )
        self.planner = Planner(
            store=store,
            publish=publish_message,
            default_timeout_s=settings.default_timeout_s,
            queue=JetStreamTaskQueue(js),
            publish_dead_letter=dead_letter,
            publish_in_flight=settings.publish_in_flight,
        )
        handlers = Handlers(self.planner, self.lander, settings)
        bind = _Binder(js, settings)
        self._consumers = [
            bind(
                specs["phase"],
                phase_start_decoder,
                handlers.phase_start,
                give_up_after=specs["phase"].max_deliver,
                heartbeat_s=PHASE_HEARTBEAT_S,
            ),
            bind(specs["status"], status_decoder, handlers.status, known_types=STATUS_TYPES),
            bind(specs["replay"], replay_decoder, handlers.replay),
            bind(specs["advisories"], _advisory_decoder, handlers.max_deliveries),
            bind(
                specs["land"],
                land_decoder,
                handlers.land,
                give_up_after=settings.land_attempts + 1,
                heartbeat_s=PHASE_HEARTBEAT_S,
            ),
        ]
        self._tasks = [asyncio.create_task(c.run(), name=c.label) for c in self._consumers]
        if settings.keep_runs_s is not None:
            retention = Retention(store, self.planner.states, keep_s=settings.keep_runs_s)
            sweeping = retention.run(settings.sweep_interval_s)
            self._sweeper = asyncio.create_task(sweeping, name="retention")
            self._tasks.append(self._sweeper)
        log.info("planner connected to %s", redact_url(settings.nats_url))

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()  # it never ends by itself; a sweep cut short is redone
        for consumer in self._consumers:
            consumer.stop_fetching()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
        for task in self._tasks:
            task.cancel()
        nc, self._nc = self._nc, None
        await close(nc)

    async def run(self) -> None:
        """Start, work until SIGTERM/SIGINT, stop."""
        await run_until_signalled(self)


@dataclass(frozen=True)
class _Binder:
    """Makes the planner's consumers: each decodes the message's JSON, retries a handler that
    raises with the planner's delay, and gives up after `settings.max_deliveries` unless told
    otherwise."""

    js: JetStreamContext
    settings: Settings

    def __call__(
        self,
        spec: ConsumerSpec,
        decoder: msgspec.json.Decoder[T],
        handle: Handle[T],
        *,
        give_up_after: int | None = None,
        heartbeat_s: float | None = None,
        known_types: frozenset[str] | None = None,
    ) -> Consumer[T]:
        return Consumer(
            self.js,
            spec,
            decode=lambda d: decoder.decode(d.data),
            handle=handle,
            heartbeat_s=heartbeat_s,
            give_up_after=self.settings.max_deliveries if give_up_after is None else give_up_after,
            retry_delay=self.settings.redelivery_delay,
            known_types=known_types,
        )


@dataclass
class Handlers:
    """Thin: the item to the planner's use case, its answer to how the message is settled."""

    planner: Planner
    lander: Lander
    settings: Settings

    async def phase_start(self, request: PhaseStartRequested, _delivery: Delivery) -> Settle:
        tracing.annotate({"cc.run_id": request.run_id})
        try:
            await self.planner.start_run(request)
        except InvalidRequest as exc:
            return GiveUp(FailureCode.BAD_MESSAGE, str(exc))
        return Ack()

    async def status(self, event: StatusEvent, _delivery: Delivery) -> Settle:
        await self.planner.on_status(event)
        return Ack()

    async def replay(self, request: TaskReplayRequested, delivery: Delivery) -> Settle:
        decision = await self.planner.replay_task(request)
        if not isinstance(decision, Wait):
            return Ack()
        delivered = delivery.num_delivered
        if delivered >= self.settings.max_deliveries:
            error = f"gave up waiting after {delivered} deliveries: {decision.reason}"
            await self.planner.refuse_replay(request, Refuse(reason=error))
            return GiveUp(FailureCode.INFRA, error)
        return Retry(self.settings.redelivery_delay(delivered))

    async def max_deliveries(self, advisory: MaxDeliveries, _delivery: Delivery) -> Settle:
        await self.planner.give_up(advisory)
        return Ack()

    async def land(self, request: LandRequested, delivery: Delivery) -> Settle:
        last_try = delivery.num_delivered >= self.settings.land_attempts
        await self.lander.land(request, last_try=last_try)
        return Ack()


def create_app(settings: Settings) -> PlannerService:
    return PlannerService(settings)


def _publisher(js: JetStreamContext, timeout: float) -> Publish:
    async def publish_one(message: Outgoing) -> None:
        if isinstance(message, TaskDispatched):
            subject = subjects.task_dispatch_subject(message.mode)
            # Each dispatch is a span: the executor's handling of the task is its child.
            with tracing.producer_span(f"dispatch {subject}", _dispatch_attributes(message)):
                await publish(js, subject, message, msg_id=message.msg_id, timeout=timeout)
        elif isinstance(message, LandRequested):
            await publish(
                js, subjects.CONTROL_LAND, message, msg_id=message.request_id, timeout=timeout
            )
        else:
            subject = subjects.status_subject(message.run_id)
            await publish(js, subject, message, msg_id=message.event_id, timeout=timeout)

    return publish_one


def _dispatch_attributes(task: TaskDispatched) -> dict[str, str | int]:
    return {
        "cc.run_id": task.run_id,
        "cc.task_id": task.task_id,
        "cc.plan_task_id": task.plan_task_id,
        "cc.attempt": task.attempt,
        "cc.batch": task.batch_index,
        "messaging.message.id": task.msg_id,
    }


__all__ = ["PlannerService", "create_app"]
