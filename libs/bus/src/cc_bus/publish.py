"""Publishing contract messages to JetStream, always with a `Nats-Msg-Id`.

The id makes a retried publish (after a timeout, a reconnect or a restart) a no-op on the
server within the stream's duplicate window. Inside a trace the message also carries its
context (W3C `traceparent`), so whoever handles it continues the trace (`cc_observe.tracing`).
"""

from __future__ import annotations

from typing import Any

from cc_observe import tracing
from commandcenter_contracts import StatusEvent, encode, subjects
from commandcenter_contracts.messages import DeadLetter, LogLine, TaskDispatched
from nats.js import JetStreamContext
from nats.js.api import PubAck

MSG_ID_HEADER = "Nats-Msg-Id"


async def publish(
    js: JetStreamContext,
    subject: str,
    message: Any,
    *,
    msg_id: str,
    timeout: float = 10.0,  # noqa: ASYNC109 - nats-py's own publish-ack timeout, passed through
) -> PubAck:
    headers = tracing.inject({MSG_ID_HEADER: msg_id})
    return await js.publish(subject, encode(message), timeout=timeout, headers=headers)


async def publish_status(js: JetStreamContext, event: StatusEvent) -> PubAck:
    return await publish(js, subjects.status_subject(event.run_id), event, msg_id=event.event_id)


async def publish_task(js: JetStreamContext, task: TaskDispatched) -> PubAck:
    return await publish(js, subjects.task_dispatch_subject(task.mode), task, msg_id=task.msg_id)


async def publish_log(js: JetStreamContext, line: LogLine, *, seq: int) -> PubAck:
    msg_id = f"{line.task_id}:{line.attempt}:{seq}"
    return await publish(js, subjects.log_subject(line.run_id, line.task_id), line, msg_id=msg_id)


async def publish_dead_letter(js: JetStreamContext, letter: DeadLetter) -> PubAck:
    return await publish(js, subjects.TASK_DEAD, letter, msg_id=letter.event_id)
