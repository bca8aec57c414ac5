"""One way to consume a JetStream durable: `Consumer`, used by every service.

    consumer = Consumer(js, spec, decode=decode_task, handle=run_task, slots=4, heartbeat_s=15)
    await consumer.run()          # until stop_fetching(); running handlers finish

The loop:
1. fetches only into free slots: with one slot, a batch of up to `batch` messages handled in
   stream order (handed over together when there is a `handle_batch`: one database
   transaction for all of them, say); with several, one message per free slot, handled
   concurrently (a replica never holds a message it is not working on, so other replicas can
   have it). A one-at-a-time durable (max_ack_pending 1) read by one slot keeps a pull
   request open instead (`cc_bus.standing_pull`): the next message comes with the ack, not a
   request after it;
2. decodes each message (`decode`). An event type the consumer does not know — a newer
   writer's, during a rolling upgrade — is skipped and acked (`known_types`); any other
   undecodable message is given up on;
3. hands the item to `handle`, which says how to settle the message: `Ack()`, `Retry(delay)`
   (nak: delivered again after the delay), or `GiveUp(code, error)` (a dead letter, then term).
   A handler that raises is retried with `retry_delay(deliveries)` until `give_up_after`
   deliveries, then given up on (INFRA);
4. sends in-progress acks every `heartbeat_s` for every message it holds (the running ones and
   the rest of a fetched batch), so none is redelivered while it waits or works.

Handling a message is a span (`<durable> process`) in the trace its headers carry
(`cc_observe.tracing`): what the handler publishes continues that trace.

Dead letters come from `cc_bus.dead_letters` (one builder, one id scheme). A dead letter
JetStream does not answer is waited for in place, the message held (`until_answered`); one it
refuses, or one still unstored when the consumer stops, leaves the message to come back later:
nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Generic, TypeVar

import msgspec
from cc_observe import tracing
from cc_observe.metrics import consumer_metrics, message_settled
from commandcenter_contracts import FailureCode, TaskDispatched
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext

from cc_bus.dead_letters import dead_letter
from cc_bus.publish import MSG_ID_HEADER, publish_dead_letter, until_answered
from cc_bus.standing_pull import StandingPull
from cc_bus.topology import ConsumerSpec

if TYPE_CHECKING:
    from opentelemetry.trace import Span

log = logging.getLogger(__name__)

T = TypeVar("T")


# --- how a message is settled -----------------------------------------------------------------
@dataclass(frozen=True)
class Ack:
    """Done with: never delivered again."""


@dataclass(frozen=True)
class Retry:
    """Deliver it again after `delay_s` (a nak; 0: at once, to anyone)."""

    delay_s: float = 0.0


@dataclass(frozen=True)
class GiveUp:
    """It will never be handled: a dead letter (with the task, when there is one), then term."""

    code: FailureCode
    error: str
    task: TaskDispatched | None = None


Settle = Ack | Retry | GiveUp


class Undecodable(ValueError):
    """The message is not what this consumer reads."""


@dataclass(frozen=True)
class _Decoded(Generic[T]):
    item: T


@dataclass(frozen=True, eq=False)
class Delivery:
    """One delivery of a message, as a handler sees it."""

    msg: Msg

    @property
    def subject(self) -> str:
        return self.msg.subject

    @property
    def data(self) -> bytes:
        return bytes(self.msg.data)

    @property
    def num_delivered(self) -> int:
        """How many times the message was delivered, this time included (at least 1)."""
        try:
            return max(1, int(self.msg.metadata.num_delivered))
        except Exception:  # not a JetStream message
            return 1

    @property
    def stream(self) -> str | None:
        try:
            return str(self.msg.metadata.stream)
        except Exception:
            return None

    @property
    def sequence(self) -> int | None:
        try:
            return int(self.msg.metadata.sequence.stream)
        except Exception:
            return None

    @property
    def headers(self) -> dict[str, str]:
        return dict(self.msg.headers or {})

    def trace_attributes(self) -> dict[str, str | int]:
        """What a span of handling this delivery says about it (OpenTelemetry's messaging
        attribute names)."""
        attributes: dict[str, str | int] = {
            "messaging.system": "nats",
            "messaging.destination.name": self.subject,
            "messaging.nats.num_delivered": self.num_delivered,
        }
        msg_id = self.headers.get(MSG_ID_HEADER)
        if msg_id:
            attributes["messaging.message.id"] = msg_id
        return attributes

    async def in_progress(self) -> None:
        await self.msg.in_progress()


Decode = Callable[[Delivery], T]
Handle = Callable[[T, Delivery], Awaitable[Settle]]
HandleBatch = Callable[[list[tuple[T, Delivery]]], Awaitable[list[Settle]]]
"""How to settle each of the decoded messages of one fetch, in stream order, one answer each."""


def default_retry_delay(deliveries: int) -> float:
    """1 s, 2 s, 4 s … up to 30 s."""
    return float(min(30.0, 2 ** max(0, min(deliveries - 1, 10))))


class _TypeOnly(msgspec.Struct):
    type: str = ""


_type_only = msgspec.json.Decoder(_TypeOnly)


def unknown_type(data: bytes, known: Collection[str]) -> str | None:
    """The `type` of a JSON message when it is one this reader does not know, else None."""
    try:
        kind = _type_only.decode(data).type
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return kind if kind and kind not in known else None


@dataclass
class ConsumerStats:
    acked: int = 0
    retried: int = 0
    given_up: int = 0
    skipped: int = 0
    """Messages of an event type this consumer does not know (acked)."""


class Consumer(Generic[T]):
    def __init__(
        self,
        js: JetStreamContext,
        spec: ConsumerSpec,
        *,
        decode: Decode[T],
        handle: Handle[T],
        slots: int = 1,
        batch: int = 1,
        heartbeat_s: float | None = None,
        give_up_after: int = 0,
        retry_delay: Callable[[int], float] = default_retry_delay,
        known_types: Collection[str] | None = None,
        fetch_timeout_s: float = 1.0,
        name: str = "",
        handle_batch: HandleBatch[T] | None = None,
    ) -> None:
        """`batch`: with one slot, messages per fetch, handled in stream order.
        `handle_batch` (one slot only): given a fetch's decoded messages at once; when it
        raises, each is handled again on its own with `handle`.
        `give_up_after`: deliveries after which a handler that keeps raising is given up on
        (0: never). `known_types`: the event types this consumer reads; a message of another
        `type` is skipped and acked."""
        self.js = js
        self.spec = spec
        self.decode = decode
        self.handle = handle
        self.slots = slots
        self.batch = batch
        self.heartbeat_s = heartbeat_s
        self.give_up_after = give_up_after
        self.retry_delay = retry_delay
        self.known_types = known_types
        self.fetch_timeout_s = fetch_timeout_s
        self.name = name
        if handle_batch is not None and slots != 1:
            raise ValueError("handle_batch needs one slot: a batch is handled in stream order")
        self.handle_batch = handle_batch
        self.stats = ConsumerStats()
        consumer_metrics()  # `cc_messages_settled_total` is listed before the first message
        self._held: set[Delivery] = set()
        self._running: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._stopping = asyncio.Event()

    @property
    def label(self) -> str:
        return self.name or self.spec.durable

    @property
    def running(self) -> int:
        return len(self._running)

    def stop_fetching(self) -> None:
        self._stopping.set()
        self._changed.set()

    async def run(self) -> None:
        """Fetch and handle until `stop_fetching`; never raises for a message's sake."""
        beats = asyncio.create_task(self._heartbeats()) if self.heartbeat_s else None
        sub: JetStreamContext.PullSubscription | None = None
        pull: StandingPull | None = None
        try:
            while not self._stopping.is_set():
                if sub is None:
                    sub = await self._subscribe()
                    if sub is None:
                        continue
                    pull = self._standing_pull(sub)
                free = self.slots - len(self._running)
                if free <= 0:
                    await self._wait_for_change()
                    continue
                received = await self._receive(sub, pull)
                if self.handle_batch is not None and len(received) > 1:
                    await self._many([Delivery(msg) for msg in received])
                    continue
                for msg in received:
                    delivery = Delivery(msg)
                    if self._stopping.is_set():
                        await _settle_quietly(msg, Retry(0))  # someone else takes it
                        continue
                    self._held.add(delivery)
                    if self.slots == 1:
                        await self._one(delivery)  # in stream order
                    else:
                        self._start(delivery)
            for msg in await self._drain(pull):
                await _settle_quietly(msg, Retry(0))  # someone else takes it
        finally:
            if beats is not None:
                beats.cancel()
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no handler runs; False if some still do after `timeout_s`."""
        if self._running:
            await asyncio.wait(set(self._running), timeout=timeout_s)
        return not self._running

    async def abandon(self) -> None:
        """Stop the running handlers; their messages, not settled, come back after ack_wait."""
        for task in self._running:
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    # --- one message -----------------------------------------------------------------------
    async def _one(self, delivery: Delivery) -> None:
        try:
            # The handling continues the trace the message's headers carry (a new one without).
            # Its span ends before the message is settled: an acked message's trace is complete.
            name = f"{self.spec.durable} process"
            attributes = self._span_attributes(delivery)
            with tracing.consumer_span(name, delivery.headers, attributes) as span:
                settle = await self._decide(delivery)
                span.set_attribute("cc.settle", type(settle).__name__)
            with tracing.within(span):  # a dead letter belongs to the message's trace
                await self._settle(delivery, settle)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: settling a message failed; it comes back after ack_wait", self.label)
        finally:
            self._held.discard(delivery)

    def _span_attributes(
        self, delivery: Delivery, extra: dict[str, str | int] | None = None
    ) -> dict[str, str | int]:
        """What the span of handling `delivery` says (OpenTelemetry's messaging names)."""
        return {
            **delivery.trace_attributes(),
            "messaging.consumer.group.name": self.spec.durable,
            **(extra or {}),
        }

    # --- a fetch's messages at once (`handle_batch`) -----------------------------------------
    async def _many(self, deliveries: list[Delivery]) -> None:
        """Decode each, hand the decodable ones over together, settle each as it is told. The
        batch is an optimisation only: when `handle_batch` raises, the decodable ones go
        through `_one` one by one, with every rule of a message handled on its own."""
        if self._stopping.is_set():
            for delivery in deliveries:
                await _settle_quietly(delivery.msg, Retry(0))  # someone else takes it
            return
        self._held.update(deliveries)
        try:
            decided = [(delivery, self._decoded(delivery)) for delivery in deliveries]
            items = [(d.item, delivery) for delivery, d in decided if isinstance(d, _Decoded)]
            handled = await self._handle_together(items) if items else []
            if handled is None:
                for delivery, d in decided:
                    if isinstance(d, _Decoded):
                        await self._one(delivery)
                    else:
                        await self._settle_in(None, d, delivery)
                return
            answers = iter(handled)
            await asyncio.gather(
                *(
                    self._settle_in(*next(answers), delivery)
                    if isinstance(d, _Decoded)
                    else self._settle_in(None, d, delivery)
                    for delivery, d in decided
                )
            )  # acks are confirmed round trips: one wait for the batch, not one each
        finally:
            self._held.difference_update(deliveries)

    async def _handle_together(
        self, items: list[tuple[T, Delivery]]
    ) -> list[tuple[Span, Settle]] | None:
        """`handle_batch`'s answers, each with its message's span (in the trace its headers
        carry, ended before the message is settled, as `_one`'s); None when it raised or did
        not answer for every message."""
        assert self.handle_batch is not None
        name = f"{self.spec.durable} process"
        with contextlib.ExitStack() as stack:
            spans = [
                stack.enter_context(
                    tracing.consumer_span(
                        name,
                        delivery.headers,
                        self._span_attributes(
                            delivery, {"messaging.batch.message_count": len(items)}
                        ),
                    )
                )
                for _, delivery in items
            ]
            try:
                answers = await self.handle_batch(items)
                if len(answers) != len(items):
                    raise ValueError(f"{len(answers)} answers for {len(items)} messages")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info(
                    "%s: a batch of %d failed (%s); one at a time", self.label, len(items), exc
                )
                for span in spans:
                    span.set_attribute("cc.settle", "batch failed")
                return None
            for span, answer in zip(spans, answers, strict=True):
                span.set_attribute("cc.settle", type(answer).__name__)
        return list(zip(spans, answers, strict=True))

    async def _settle_in(self, span: Span | None, settle: Settle, delivery: Delivery) -> None:
        """Settle one message of a batch, in its span's trace (a dead letter belongs there)."""
        try:
            if span is None:
                await self._settle(delivery, settle)
            else:
                with tracing.within(span):
                    await self._settle(delivery, settle)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: settling a message failed; it comes back after ack_wait", self.label)

    # --- deciding ----------------------------------------------------------------------------
    def _decoded(self, delivery: Delivery) -> _Decoded[T] | Settle:
        """The item, or how to settle a message that has none."""
        try:
            return _Decoded(self.decode(delivery))
        except (Undecodable, msgspec.DecodeError, msgspec.ValidationError) as exc:
            kind = unknown_type(delivery.data, self.known_types) if self.known_types else None
            if kind is not None:
                log.debug("%s: skipping an event of a newer type %r", self.label, kind)
                self.stats.skipped += 1
                return Ack()
            return GiveUp(FailureCode.BAD_MESSAGE, f"undecodable message: {exc}")

    async def _decide(self, delivery: Delivery) -> Settle:
        decoded = self._decoded(delivery)
        if not isinstance(decoded, _Decoded):
            return decoded
        item = decoded.item
        try:
            return await self.handle(item, delivery)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            delivered = delivery.num_delivered
            if self.give_up_after and delivered >= self.give_up_after:
                error = f"gave up after {delivered} deliveries: {type(exc).__name__}: {exc}"
                log.exception("%s: %s", self.label, error)
                return GiveUp(FailureCode.INFRA, error)
            delay = self.retry_delay(delivered)
            log.exception("%s: handling failed; retry in %.1fs", self.label, delay)
            return Retry(delay)

    async def _settle(self, delivery: Delivery, settle: Settle) -> None:
        msg = delivery.msg
        if isinstance(settle, GiveUp):
            letter = dead_letter(
                stream=delivery.stream,
                sequence=delivery.sequence,
                consumer=self.spec.durable,
                subject=delivery.subject,
                error_code=settle.code,
                error=settle.error,
                num_delivered=delivery.num_delivered,
                task=settle.task,
                raw=delivery.data,
            )
            try:
                # Waited for in place: a nak would hand the message back to be handled again
                # (an executor would run a finally failed task once more).
                await until_answered(
                    partial(publish_dead_letter, self.js, letter),
                    "a dead letter",
                    stopping=self._stopping.is_set,
                )
            except Exception as exc:
                log.warning("%s: could not publish a dead letter (%s); nak", self.label, exc)
                await msg.nak(delay=5.0)
                return
            log.warning("%s: dead letter from %s: %s", self.label, delivery.subject, settle.error)
            self.stats.given_up += 1
            message_settled(self.spec.durable, "give_up")
            await msg.term()
        elif isinstance(settle, Retry):
            self.stats.retried += 1
            message_settled(self.spec.durable, "retry")
            await msg.nak(delay=settle.delay_s)
        else:
            self.stats.acked += 1
            message_settled(self.spec.durable, "ack")
            await acknowledge(msg, label=self.label, within_s=self.spec.ack_wait_s)

    # --- plumbing ----------------------------------------------------------------------------
    async def _subscribe(self) -> JetStreamContext.PullSubscription | None:
        try:
            return await self.js.pull_subscribe_bind(
                durable=self.spec.durable, stream=self.spec.stream
            )
        except Exception as exc:  # NATS away, or the durable not made yet: try again shortly
            log.warning("%s: cannot bind the durable (%s); retrying", self.label, exc)
            await self._pause(1.0)
            return None

    async def _fetch(self, sub: JetStreamContext.PullSubscription, count: int) -> list[Msg]:
        try:
            return await sub.fetch(count, timeout=self.fetch_timeout_s)
        except TimeoutError:
            return []
        except NatsError as exc:
            # NATS away for a moment (the client reconnects by itself): try again shortly.
            log.warning("%s: fetching failed: %s", self.label, exc)
            await self._pause(1.0)
            return []

    async def _receive(
        self, sub: JetStreamContext.PullSubscription, pull: StandingPull | None
    ) -> list[Msg]:
        if pull is None:
            return await self._fetch(sub, self.batch if self.slots == 1 else 1)
        try:
            msg = await pull.next()
        except NatsError as exc:
            log.warning("%s: pulling failed: %s", self.label, exc)
            await self._pause(1.0)
            return []
        return [] if msg is None else [msg]

    def _standing_pull(self, sub: JetStreamContext.PullSubscription) -> StandingPull | None:
        """A one-at-a-time durable read by one slot keeps a pull request open (see
        `cc_bus.standing_pull`); any other fetches."""
        if self.slots == 1 and self.spec.max_ack_pending == 1:
            return StandingPull(sub, batch=STANDING_BATCH, expires_s=self.fetch_timeout_s)
        return None

    async def _drain(self, pull: StandingPull | None) -> list[Msg]:
        if pull is None:
            return []
        try:
            return await pull.drain()
        except NatsError as exc:  # NATS away: the request went with the connection
            log.warning("%s: draining the pull request failed: %s", self.label, exc)
            return []

    def _start(self, delivery: Delivery) -> None:
        task = asyncio.create_task(self._one(delivery))
        self._running.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._changed.set()

    async def _wait_for_change(self) -> None:
        self._changed.clear()
        if len(self._running) >= self.slots and not self._stopping.is_set():
            await self._changed.wait()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def _heartbeats(self) -> None:
        assert self.heartbeat_s is not None
        while True:
            await asyncio.sleep(self.heartbeat_s)
            for delivery in list(self._held):
                try:
                    await delivery.in_progress()
                except Exception as exc:  # NATS away for a moment: the next beat may get through
                    log.warning("%s: in-progress ack failed: %s", self.label, exc)


STANDING_BATCH = 1000
"""Messages one standing pull request may bring (one at a time) before it is renewed."""

ACK_ATTEMPT_S = 2.0


async def acknowledge(msg: Msg, *, label: str, within_s: float) -> None:
    """Ack and wait for JetStream to confirm it, sending the ack again until it does. A plain
    ack sent to a consumer whose leader just died (a node of a cluster lost) is lost, and the
    message would come back only after the whole ack wait — with a one-at-a-time consumer,
    nothing else is delivered meanwhile. The new leader, elected within seconds, confirms a
    repeated ack (JetStream answers an ack of a message already acked too)."""
    deadline = time.monotonic() + within_s
    payload = b"+ACK"
    while True:
        try:
            # What nats-py's `ack_sync` sends; it refuses a second call, a repeat is ours.
            await msg._client.request(msg.reply, payload, timeout=ACK_ATTEMPT_S)
        except (NatsTimeoutError, NoRespondersError) as exc:
            if time.monotonic() + ACK_ATTEMPT_S > deadline:
                log.warning("%s: ack not confirmed (%s): redelivery after ack_wait", label, exc)
                return
            continue
        msg._ackd = True  # what nats-py's own ack_sync records
        return


async def _settle_quietly(msg: Msg, settle: Retry) -> None:
    try:
        await msg.nak(delay=settle.delay_s)
    except Exception:
        log.warning("nak failed: redelivery after ack_wait", exc_info=True)
