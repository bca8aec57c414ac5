"""Reading one subject of a JetStream stream from a given sequence on: history, then live.

Each reader is an ephemeral ordered consumer (no acks, in order, reset by the client on a gap),
removed when the reader ends — including when the HTTP client goes away mid-stream.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator

import anyio
import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy, RawStreamMsg
from nats.js.errors import NotFoundError

log = logging.getLogger(__name__)


async def last_message(js: JetStreamContext, stream: str, subject: str) -> RawStreamMsg | None:
    """The newest message on `subject`, or None when there is none."""
    try:
        return await js.get_last_msg(stream, subject)
    except NotFoundError:
        return None


async def follow(
    js: JetStreamContext,
    *,
    stream: str,
    subject: str,
    after_seq: int,
    idle_s: float,
) -> AsyncGenerator[Msg | None, None]:
    """Every message on `subject` with stream sequence > `after_seq`, in order, then new ones
    as they arrive; `None` after each `idle_s` without a message (time for a keep-alive)."""
    sub = await js.subscribe(
        subject,
        stream=stream,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        config=ConsumerConfig(opt_start_seq=max(1, after_seq + 1)),
        idle_heartbeat=5.0,
        inactive_threshold=30.0,
    )
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=idle_s)
            except nats.errors.TimeoutError:
                yield None
                continue
            yield msg
    finally:
        # Shielded: on a client disconnect this runs inside a cancelled scope, where any
        # unshielded await would be cancelled again before the consumer is removed.
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            consumer = sub._consumer  # the ordered consumer's current name (it changes on reset)
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
            with contextlib.suppress(Exception):
                await js.delete_consumer(stream, consumer)
