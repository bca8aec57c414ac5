"""One JetStream subscription per subject, shared by every SSE client following it.

Each message is decoded and its SSE frame encoded once, appended to the hub's `Window`, and
the waiting clients (`Tap`s) are woken once per burst: each then sends everything it has not
sent yet as one write. A slow client costs the others nothing: it falls behind in the shared
window and, too far behind, ends (it reconnects with `Last-Event-ID` and gets history).

The subscription is an ordered consumer (nats-py resets it on a gap or missed heartbeats). On
top of that a watchdog asks the stream, whenever the hub heard nothing for a while, whether
the subject has news the hub has not seen: then the subscription is replaced, starting after
the last sequence the hub took. It asks a second after the last news, then ever less often
while the run stays quiet (up to every `STALL_CHECK_MAX_S`): a gateway followed on many idle
runs does not put one JetStream request per run per second on the server. When the stream
cannot be asked for a while, or the subscription cannot be replaced, the hub fails: its
clients' streams end, so they reconnect instead of hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from gateway.events.frames import frame, mark, status_type
from gateway.events.streams import last_message
from gateway.events.window import Window

log = logging.getLogger(__name__)

STALL_CHECK_S = 1.0
"""How long a hub hears nothing before it asks the stream whether it missed something."""
STALL_CHECK_MAX_S = 8.0
"""The longest wait between two such questions while the hub stays quiet."""
GIVE_UP_S = 10.0
"""How long the stream may stay unreachable before the hub ends its clients' streams."""


class Tap:
    """One client's place in its hub's window."""

    __slots__ = ("_waiter", "cursor", "hub", "replay_to", "skip_to")

    def __init__(self, hub: Hub, cursor: int, replay_to: int, skip_to: int) -> None:
        self.hub = hub
        self.cursor = cursor
        self.replay_to = replay_to
        """History the window lacks: the events up to this sequence come from a replay."""
        self.skip_to = skip_to
        """Frames up to this sequence were sent already (the client is ahead of the hub)."""
        self._waiter: asyncio.Future[bool] | None = None

    def has_news(self) -> bool:
        return self.cursor < self.hub.window.end or self.hub.failed

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    async def wait(self, idle_s: float) -> bool:
        """Until there is something to send or the hub failed (True), or `idle_s` (False).
        A future and a timer, not `asyncio.timeout`: this runs once per client per burst."""
        if self.has_news():
            return True
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiter = waiter
        timer = loop.call_later(idle_s, _expire, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()
            self._waiter = None


def stall_check_s(quiet: int) -> float:
    """The wait before the next question, after `quiet` questions that found nothing new:
    1, 2, 4, 8, 8, … seconds."""
    return min(STALL_CHECK_MAX_S, STALL_CHECK_S * (1 << min(quiet, 16)))


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class Hub:
    def __init__(
        self, js: JetStreamContext, stream: str, subject: str, after_seq: int, limit: int
    ) -> None:
        self.js = js
        self.stream = stream
        self.subject = subject
        self.window = Window(limit, after_seq)
        self.delivered_seq = after_seq
        """The newest sequence the hub took from the subject."""
        self.taps: set[Tap] = set()
        self.users = 0
        """Clients that joined or are joining: the hub closes when the last one leaves."""
        self.failed = False
        self.started: asyncio.Future[None] = asyncio.ensure_future(self._start())
        self._sub: JetStreamContext.PushSubscription | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._heard = False
        self._wake_scheduled = False

    def join(self, after_seq: int) -> Tap:
        """A client that has seen everything up to `after_seq`: from the window when it holds
        everything after that, else history up to what the hub took, then the window."""
        window = self.window
        if window.holds_after(after_seq):
            tap = Tap(self, window.position_after(after_seq), 0, after_seq)
        else:
            tap = Tap(self, window.end, self.delivered_seq, 0)
        self.taps.add(tap)
        return tap

    async def _start(self) -> None:
        try:
            self._sub = await self._subscribe()
        except BaseException:
            self.failed = True  # the next client makes a new hub
            raise
        self._watchdog = asyncio.create_task(self._watch(), name=f"sse-hub {self.subject}")

    async def _subscribe(self) -> JetStreamContext.PushSubscription:
        return await self.js.subscribe(
            self.subject,
            stream=self.stream,
            cb=self._on_message,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            config=ConsumerConfig(opt_start_seq=self.delivered_seq + 1),
            idle_heartbeat=5.0,
            inactive_threshold=30.0,
        )

    async def _on_message(self, msg: Msg) -> None:
        self._heard = True
        meta = msg.metadata
        seq = meta.sequence.stream
        if seq <= self.delivered_seq or self.failed:
            return  # a replaced subscription's overlap
        self.delivered_seq = seq
        kind = status_type(msg.data)
        if kind is None:
            return
        self.window.append(seq, frame(seq, kind, msg.data), mark(kind), not meta.num_pending)
        if not self._wake_scheduled:  # once per burst of messages, not once per message
            self._wake_scheduled = True
            asyncio.get_running_loop().call_soon(self._wake_all)

    def _wake_all(self) -> None:
        self._wake_scheduled = False
        for tap in self.taps:
            tap.wake()

    async def _watch(self) -> None:
        unreachable_since: float | None = None
        quiet = 0  # questions in a row that found nothing new
        while not self.failed:
            await asyncio.sleep(stall_check_s(quiet))
            if self._heard:
                self._heard = False
                unreachable_since = None
                quiet = 0
                continue
            try:
                last = await last_message(self.js, self.stream, self.subject)
            except Exception as exc:
                now = time.monotonic()
                unreachable_since = unreachable_since or now
                quiet = 0  # ask every second until it answers or GIVE_UP_S is over
                if now - unreachable_since >= GIVE_UP_S:
                    log.warning("SSE %s: stream unreachable (%s): ending its clients", self, exc)
                    self.fail()
                continue
            unreachable_since = None
            if last is None or (last.seq or 0) <= self.delivered_seq or self._heard:
                quiet += 1
                continue
            log.warning("SSE %s: missed news after %d: resubscribing", self, self.delivered_seq)
            quiet = 0
            try:
                await self._replace_subscription()
            except Exception as exc:
                log.warning("SSE %s: cannot resubscribe (%s): ending its clients", self, exc)
                self.fail()

    async def _replace_subscription(self) -> None:
        old, self._sub = self._sub, None
        if old is not None:
            await _drop(self.js, self.stream, old)
        self._sub = await self._subscribe()

    def fail(self) -> None:
        """End every client's stream (they reconnect); the hub takes nothing more."""
        self.failed = True
        self._wake_all()

    async def close(self) -> None:
        """Stop the subscription and remove its consumer."""
        self.failed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        with contextlib.suppress(BaseException):
            await self.started
        if self._sub is not None:
            await _drop(self.js, self.stream, self._sub)

    def __str__(self) -> str:
        return self.subject


async def _drop(js: JetStreamContext, stream: str, sub: JetStreamContext.PushSubscription) -> None:
    consumer = sub._consumer  # the ordered consumer's current name (it changes on reset)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(sub.unsubscribe(), 5)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(js.delete_consumer(stream, consumer), 5)
