"""Wiring: `create_app(settings)` builds the planner's FastStream application.

Four pull consumers, all acked by hand (`AckPolicy.MANUAL`) and only after every publish of
the message's work succeeded:
- `cc.phase.start`, durable `planner` (stream CC_PHASES): plan a run, dispatch batch 0;
- `cc.status.>`, durable `planner-progress` (stream CC_STATUS, max_ack_pending=1, one event
  at a time across replicas): move runs on. Its deliver policy is ALL (see
  `cc_bus.planner_progress_consumer`): a durable re-created after an outage replays history,
  which costs only time, because applying an event twice is a no-op; NEW would silently skip
  what was published while the durable was missing and leave those runs waiting forever;
- `cc.control.replay`, durable `planner-replay` (stream CC_PHASES): a new attempt of a
  finished task; a request that is ahead of this planner's progress is asked again later;
- JetStream's MAX_DELIVERIES advisories of CC_TASKS, durable `planner-advisories` (stream
  CC_ADVISORIES): a task its executors gave up on becomes a dead letter and a failure;
- `cc.control.land`, durable `planner-land` (stream CC_PHASES): the lander opens and updates a
  run's pull request, or moves its base branch, away from the status loop (seconds of git and
  HTTP each).

Streams and durables are created (or updated) with cc_bus before the broker subscribes, so a
changed setting reaches the server; faststream then binds to the existing durables.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import get_args

import msgspec
from cc_bus import (
    ensure_consumer,
    ensure_streams,
    planner_advisories_consumer,
    planner_land_consumer,
    planner_phase_consumer,
    planner_progress_consumer,
    planner_replay_consumer,
    publish,
    publish_dead_letter,
)
from cc_bus.heartbeat import heartbeat
from cc_forge import open_forge
from cc_taskrunner import GitIdentity
from commandcenter_contracts import (
    DeadLetter,
    FailureCode,
    LandRequested,
    StatusEvent,
    TaskDispatched,
    land_decoder,
    phase_start_decoder,
    replay_decoder,
    status_decoder,
    subjects,
)
from faststream import AckPolicy, FastStream
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from planner.domain.giving_up import GiveUp
from planner.domain.naming import NAMESPACE
from planner.domain.planning import Outgoing
from planner.domain.replay import Wait
from planner.landing import GitLanding, Lander
from planner.service import InvalidRequest, Planner, Publish
from planner.settings import Settings
from planner.store import ProgressStore
from planner.task_queue import JetStreamTaskQueue

log = logging.getLogger(__name__)

PHASE_HEARTBEAT_S = 2.0

_KNOWN_STATUS_TYPES: frozenset[str] = frozenset(
    str(cls.__struct_config__.tag) for cls in get_args(StatusEvent)
)


class _TypeOnly(msgspec.Struct):
    type: str


_type_decoder = msgspec.json.Decoder(_TypeOnly)
_advisory_decoder = msgspec.json.Decoder(GiveUp)


@dataclass
class _Runtime:
    """What exists only once the broker is connected."""

    js: JetStreamContext | None = None
    planner: Planner | None = None
    lander: Lander | None = None

    def ready(self) -> tuple[JetStreamContext, Planner]:
        if self.js is None or self.planner is None:
            raise RuntimeError("the planner is not started")
        return self.js, self.planner

    def landing(self) -> tuple[JetStreamContext, Lander]:
        if self.js is None or self.lander is None:
            raise RuntimeError("the planner is not started")
        return self.js, self.lander


def create_app(settings: Settings) -> FastStream:
    broker = NatsBroker(
        settings.nats_url,
        name=settings.client_name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        connect_timeout=5,
        # through our log configuration; per-message "Received/Processed" lines only at debug
        logger=logging.getLogger("planner.broker"),
        log_level=logging.DEBUG,
    )
    runtime = _Runtime()
    phase_spec = planner_phase_consumer()
    progress_spec = planner_progress_consumer()
    replay_spec = planner_replay_consumer()
    advisories_spec = planner_advisories_consumer()
    land_spec = planner_land_consumer()

    async def setup() -> None:
        await broker.connect()
        js = broker.connection.jetstream()
        await ensure_streams(js)
        await ensure_consumer(js, phase_spec)
        await ensure_consumer(js, progress_spec)
        await ensure_consumer(js, replay_spec)
        await ensure_consumer(js, advisories_spec)
        await ensure_consumer(js, land_spec)
        store = await ProgressStore.open(js, subjects.KV_PLANNER_RUNS)
        runtime.js = js
        publish_message = _publisher(js, settings.publish_timeout_s)

        async def dead_letter(letter: DeadLetter) -> None:
            await publish_dead_letter(js, letter)

        runtime.lander = Lander(
            store=store,
            publish=publish_message,
            git=GitLanding(
                settings.work_dir,
                GitIdentity(settings.git_author_name, settings.git_author_email),
            ),
            open_forge=lambda remote: open_forge(settings.forge, remote_url=remote),
        )
        runtime.planner = Planner(
            store=store,
            publish=publish_message,
            default_timeout_s=settings.default_timeout_s,
            queue=JetStreamTaskQueue(js),
            publish_dead_letter=dead_letter,
        )
        log.info("planner connected to %s", settings.nats_url)

    @broker.subscriber(
        subjects.PHASE_START,
        stream=JStream(subjects.STREAM_PHASES, declare=False),
        durable=phase_spec.durable,
        config=phase_spec.config(),
        pull_sub=PullSub(batch_size=1, timeout=1.0),
        ack_policy=AckPolicy.MANUAL,
    )
    async def on_phase_start(msg: NatsMessage) -> None:
        js, planner = runtime.ready()
        raw = msg.raw_message
        try:
            request = phase_start_decoder.decode(raw.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            await _dead_letter(js, msg, FailureCode.BAD_MESSAGE, f"undecodable phase start: {exc}")
            return
        try:
            # A large plan takes seconds to publish: keep the message ours meanwhile, so a
            # short ack_wait (a crashed planner's run resumes quickly) never redelivers it.
            async with heartbeat(msg.in_progress, PHASE_HEARTBEAT_S):
                await planner.start_run(request)
        except InvalidRequest as exc:
            await _dead_letter(js, msg, FailureCode.BAD_MESSAGE, str(exc))
            return
        except Exception as exc:
            log.exception("phase start failed", extra={"run_id": request.run_id})
            await _retry_or_give_up(js, msg, exc, settings, limit=phase_spec.max_deliver)
            return
        await msg.ack()

    @broker.subscriber(
        subjects.STATUS_ALL,
        stream=JStream(subjects.STREAM_STATUS, declare=False),
        durable=progress_spec.durable,
        config=progress_spec.config(),
        pull_sub=PullSub(batch_size=1, timeout=1.0),
        ack_policy=AckPolicy.MANUAL,
    )
    async def on_status(msg: NatsMessage) -> None:
        js, planner = runtime.ready()
        raw = msg.raw_message
        try:
            event = status_decoder.decode(raw.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            if _is_newer_event_type(raw.data):
                await msg.ack()  # a newer writer's event type: not ours to understand
                return
            await _dead_letter(js, msg, FailureCode.BAD_MESSAGE, f"undecodable status: {exc}")
            return
        try:
            await planner.on_status(event)
        except Exception as exc:
            log.exception("status event %s failed", event.event_id, extra={"run_id": event.run_id})
            await _retry_or_give_up(js, msg, exc, settings, limit=settings.max_deliveries)
            return
        await msg.ack()

    @broker.subscriber(
        subjects.CONTROL_REPLAY,
        stream=JStream(subjects.STREAM_PHASES, declare=False),
        durable=replay_spec.durable,
        config=replay_spec.config(),
        pull_sub=PullSub(batch_size=1, timeout=1.0),
        ack_policy=AckPolicy.MANUAL,
    )
    async def on_replay(msg: NatsMessage) -> None:
        js, planner = runtime.ready()
        raw = msg.raw_message
        try:
            request = replay_decoder.decode(raw.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            await _dead_letter(js, msg, FailureCode.BAD_MESSAGE, f"undecodable replay: {exc}")
            return
        try:
            decision = await planner.replay_task(request)
        except Exception as exc:
            log.exception("replay failed", extra={"run_id": request.run_id})
            await _retry_or_give_up(js, msg, exc, settings, limit=settings.max_deliveries)
            return
        if isinstance(decision, Wait):
            delivered = _num_delivered(raw)
            if delivered >= settings.max_deliveries:
                error = f"gave up waiting after {delivered} deliveries: {decision.reason}"
                await _dead_letter(js, msg, FailureCode.INFRA, error, delivered)
                return
            await msg.nack(delay=settings.redelivery_delay(delivered))
            return
        await msg.ack()

    @broker.subscriber(
        advisories_spec.filter_subject,
        stream=JStream(subjects.STREAM_ADVISORIES, declare=False),
        durable=advisories_spec.durable,
        config=advisories_spec.config(),
        pull_sub=PullSub(batch_size=1, timeout=1.0),
        ack_policy=AckPolicy.MANUAL,
    )
    async def on_max_deliveries(msg: NatsMessage) -> None:
        js, planner = runtime.ready()
        raw = msg.raw_message
        try:
            advisory = _advisory_decoder.decode(raw.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            await _dead_letter(js, msg, FailureCode.BAD_MESSAGE, f"unreadable advisory: {exc}")
            return
        try:
            await planner.give_up(advisory)
        except Exception as exc:
            log.exception("max-deliveries advisory for %s failed", advisory.stream_seq)
            await _retry_or_give_up(js, msg, exc, settings, limit=settings.max_deliveries)
            return
        await msg.ack()

    @broker.subscriber(
        subjects.CONTROL_LAND,
        stream=JStream(subjects.STREAM_PHASES, declare=False),
        durable=land_spec.durable,
        config=land_spec.config(),
        pull_sub=PullSub(batch_size=1, timeout=1.0),
        ack_policy=AckPolicy.MANUAL,
    )
    async def on_land(msg: NatsMessage) -> None:
        js, lander = runtime.landing()
        raw = msg.raw_message
        try:
            request = land_decoder.decode(raw.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            await _dead_letter(js, msg, FailureCode.BAD_MESSAGE, f"undecodable landing: {exc}")
            return
        delivered = _num_delivered(raw)
        try:
            async with heartbeat(msg.in_progress, PHASE_HEARTBEAT_S):
                await lander.land(request, last_try=delivered >= settings.land_attempts)
        except Exception as exc:
            log.warning("landing failed, will try again: %s", exc, extra={"run_id": request.run_id})
            await _retry_or_give_up(js, msg, exc, settings, limit=settings.land_attempts + 1)
            return
        await msg.ack()

    return FastStream(broker, on_startup=[setup], logger=log)


def _publisher(js: JetStreamContext, timeout: float) -> Publish:
    async def publish_one(message: Outgoing) -> None:
        if isinstance(message, TaskDispatched):
            subject = subjects.task_dispatch_subject(message.mode)
            await publish(js, subject, message, msg_id=message.msg_id, timeout=timeout)
        elif isinstance(message, LandRequested):
            await publish(
                js, subjects.CONTROL_LAND, message, msg_id=message.request_id, timeout=timeout
            )
        else:
            subject = subjects.status_subject(message.run_id)
            await publish(js, subject, message, msg_id=message.event_id, timeout=timeout)

    return publish_one


def _is_newer_event_type(data: bytes) -> bool:
    try:
        return _type_decoder.decode(data).type not in _KNOWN_STATUS_TYPES
    except (msgspec.DecodeError, msgspec.ValidationError):
        return False


def _num_delivered(raw: Msg) -> int:
    try:
        return int(raw.metadata.num_delivered)
    except Exception:  # not a JetStream message
        return 1


async def _dead_letter(
    js: JetStreamContext, msg: NatsMessage, code: FailureCode, error: str, delivered: int = 0
) -> None:
    """Hand the message over to the dead letters and drop it from our consumer (term).

    The dead letter's id comes from the message's stream position, so a redelivered poison
    message gives one dead letter, not one per delivery.
    """
    raw = msg.raw_message
    try:
        seq = f"{raw.metadata.stream}/{raw.metadata.sequence.stream}"
    except Exception:
        seq = uuid.uuid4().hex
    letter = DeadLetter(
        event_id=str(uuid.uuid5(NAMESPACE, f"dead/{seq}")),
        subject=raw.subject,
        error_code=code,
        error=error,
        raw=raw.data,
        num_delivered=delivered or _num_delivered(raw),
    )
    log.error("dead letter from %s: %s", raw.subject, error)
    try:
        await publish_dead_letter(js, letter)
    except Exception:
        log.exception("could not publish a dead letter: will retry")
        await msg.nack(delay=5.0)
        return
    await msg.reject()


async def _retry_or_give_up(
    js: JetStreamContext, msg: NatsMessage, exc: Exception, settings: Settings, *, limit: int
) -> None:
    delivered = _num_delivered(msg.raw_message)
    if limit > 0 and delivered >= limit:
        error = f"gave up after {delivered} deliveries: {type(exc).__name__}: {exc}"
        await _dead_letter(js, msg, FailureCode.INFRA, error, delivered)
        return
    await msg.nack(delay=settings.redelivery_delay(delivered))
