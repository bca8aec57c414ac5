"""Which stream message each dispatch was taken from: the guard behind `Nats-Msg-Id`.

A dispatch published twice (`<task>:<attempt>`, the same `Nats-Msg-Id`) is dropped by
JetStream only while it remembers the id: within the tasks stream's duplicate window (an
hour), and, after a nats-server restart, only for the messages still stored (a work queue
keeps none of those already taken). A planner that redoes a step later than that (stopped
after publishing a batch's dispatches, before storing its progress, and back after the
window) publishes the same attempts again as new messages. Without this guard the agent ran
a second time (money spent twice) and the work could land twice: the integration's own check
looks for the task only past the tip the attempt started from.

So an executor claims each dispatch before running it: key `<task>.<attempt>` in
`cc_task_claims`, created (never overwritten) with the stream sequence of the message it came
in. A redelivery of that message finds its own sequence and goes on (recovering an earlier
delivery's work is the task runner's job); another message with the same dispatch finds
another sequence and is dropped. Claims expire after `CLAIM_TTL_S`, as the status history does.
"""

from __future__ import annotations

import re

from commandcenter_contracts import TaskDispatched, subjects
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from cc_bus.topology import open_bucket

BUCKET = subjects.KV_TASK_CLAIMS
CLAIM_TTL_S = 30 * 24 * 3600.0
"""How long a claim is kept: the status stream's retention (a redo later than that is not
guarded)."""
_UNSAFE = re.compile(r"[^-_=a-zA-Z0-9]")


def claim_key(task: TaskDispatched) -> str:
    """The claim's key for the dispatch `task.msg_id` names (keys allow no `:`)."""
    return f"{_UNSAFE.sub('_', task.task_id) or 'task'}.{task.attempt}"


async def claims_bucket(
    js: JetStreamContext, *, replicas: int = 1, update: bool = False
) -> KeyValue:
    """The claims bucket, created when missing; `update` (the planner) also brings its replicas
    to `replicas`, which an executor's NATS user may not do. On disk: a claim must outlive a
    nats-server restart, which is when JetStream's own memory of the ids is shortest."""
    config = KeyValueConfig(
        bucket=BUCKET, history=1, ttl=CLAIM_TTL_S, storage=StorageType.FILE, replicas=replicas
    )
    return await open_bucket(js, config, update=update)


class DispatchClaims:
    """`take`: whether a delivered message is its dispatch's own (`cc_task_claims`)."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @classmethod
    async def open(cls, js: JetStreamContext, *, replicas: int = 1) -> DispatchClaims:
        return cls(await claims_bucket(js, replicas=replicas))

    async def take(self, task: TaskDispatched, sequence: int | None) -> bool:
        """Claim `task`'s dispatch for the stream message at `sequence`: True when it is this
        message's (claimed now, or by an earlier delivery of it), False when another message
        of the same dispatch claimed it first. Errors of the bucket are raised."""
        if sequence is None:  # not a JetStream message: nothing to tell it apart by
            return True
        key, mine = claim_key(task), str(sequence).encode()
        try:
            await self._kv.create(key, mine)
            return True
        except KeyWrongLastSequenceError:
            pass
        entry = await self._kv.get(key)
        return entry.value == mine
