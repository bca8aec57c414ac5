"""Publishing contract messages to JetStream, always with a `Nats-Msg-Id`.

The id makes a retried publish (after a timeout, a reconnect or a restart) a no-op on the
server within the stream's duplicate window. Inside a trace the message also carries its
context (W3C `traceparent`), so whoever handles it continues the trace (`cc_observe.tracing`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from cc_observe import tracing
from commandcenter_contracts import StatusEvent, encode, subjects
from commandcenter_contracts.messages import DeadLetter, LogLine, TaskDispatched
from nats.errors import NoRespondersError
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import APIError, NoStreamResponseError, ServiceUnavailableError

log = logging.getLogger(__name__)

T = TypeVar("T")

MSG_ID_HEADER = "Nats-Msg-Id"
ATTEMPT_S = 2.0
"""How long one attempt waits for its ack before the publish is sent again."""
NO_LEADER_PAUSE_S = 0.25
IN_PROCESS_ERR_CODE = 10158
"""JetStream's answer to a message id it is still storing: `duplicate message id is in process`."""


async def publish(
    js: JetStreamContext,
    subject: str,
    message: Any,
    *,
    msg_id: str,
    timeout: float = 10.0,  # noqa: ASYNC109 - nats-py's own publish-ack timeout, passed through
) -> PubAck:
    """Publish and wait for JetStream's ack, for at most `timeout` in all. A publish nobody
    answered is sent again (same id) every `ATTEMPT_S`: when a stream's leader dies, the
    request sent to it is lost, and a new leader is elected within seconds; an attempt that
    had been stored makes the next one a duplicate the stream drops."""
    headers = tracing.inject({MSG_ID_HEADER: msg_id})
    payload = encode(message)
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            return await js.publish(
                subject, payload, timeout=max(0.001, min(left, ATTEMPT_S)), headers=headers
            )
        except (APIError, NoStreamResponseError, TimeoutError) as exc:
            pause = min(NO_LEADER_PAUSE_S, deadline - time.monotonic())
            if not unanswered(exc) or pause <= 0:
                raise
            await asyncio.sleep(pause)


def unanswered(exc: BaseException) -> bool:
    """JetStream has not stored the message (yet): no stream leader to answer (no responders,
    no answer in time, unavailable), or the same message is still in process (proposed by a
    leader that has no quorum to commit it)."""
    if isinstance(
        exc, NoStreamResponseError | NoRespondersError | TimeoutError | ServiceUnavailableError
    ):
        return True  # (a key-value read is a plain request: no responders, not "no stream")
    return isinstance(exc, APIError) and exc.err_code == IN_PROCESS_ERR_CODE


UNANSWERED_FIRST_PAUSE_S = 0.25
UNANSWERED_MAX_PAUSE_S = 5.0
"""The pauses of `until_answered` between tries: doubling up to this."""


async def until_answered(
    write: Callable[[], Awaitable[T]],
    what: str,
    *,
    stopping: Callable[[], bool],
    extra: Mapping[str, object] | None = None,
) -> T:
    """`write()` — a JetStream write (or a bucket's read) a message's handling needs — tried
    again in place while JetStream does not answer it: a stream electing its leader after a
    node came back, a cluster without quorum, NATS away. Handing the message back instead
    would spend one of its deliveries per try (a few seconds of election could use them all)
    and redo its handling. Raises what JetStream did answer (a refusal), and what it did not
    once `stopping()`."""
    pause = UNANSWERED_FIRST_PAUSE_S
    while True:
        try:
            return await write()
        except Exception as exc:
            if not unanswered(exc) or stopping():
                raise
            log.warning(
                "JetStream did not answer %s (%s); waiting, trying again in %.1fs",
                what,
                type(exc).__name__,
                pause,
                extra=extra,
            )
        await asyncio.sleep(pause)
        pause = min(pause * 2, UNANSWERED_MAX_PAUSE_S)


async def publish_status(js: JetStreamContext, event: StatusEvent) -> PubAck:
    return await publish(js, subjects.status_subject(event.run_id), event, msg_id=event.event_id)


async def publish_task(js: JetStreamContext, task: TaskDispatched) -> PubAck:
    return await publish(js, subjects.task_dispatch_subject(task.mode), task, msg_id=task.msg_id)


async def publish_log(js: JetStreamContext, line: LogLine, *, seq: int) -> PubAck:
    msg_id = f"{line.task_id}:{line.attempt}:{seq}"
    return await publish(js, subjects.log_subject(line.run_id, line.task_id), line, msg_id=msg_id)


async def publish_dead_letter(js: JetStreamContext, letter: DeadLetter) -> PubAck:
    return await publish(js, subjects.TASK_DEAD, letter, msg_id=letter.event_id)


def why_not_stored(exc: BaseException) -> str:
    """A failed JetStream publish, said so an operator knows where to look. No answer from
    the stream is what a cluster that lost its quorum gives (no stream leader to store it)."""
    name = type(exc).__name__
    if unanswered(exc):
        return (
            f"JetStream stored nothing ({name}): the stream has no leader (a NATS cluster with "
            "a majority of its nodes down has no quorum) or NATS is overloaded"
        )
    return f"{name}: {exc}".strip(": ")
