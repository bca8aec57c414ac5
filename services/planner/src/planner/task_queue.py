"""The task work queue (stream CC_TASKS) as the planner needs it beyond publishing: read one
message by its sequence, delete one, and take a cancelled run's waiting tasks back.

A work-queue stream refuses a second consumer that overlaps the executors', so these read
the stream directly by sequence (`STREAM.MSG.GET`), which any number of readers may do.
"""

from __future__ import annotations

import logging
from typing import Protocol

import msgspec
from commandcenter_contracts import subjects, task_decoder
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

log = logging.getLogger(__name__)


class StoredMessage(msgspec.Struct, frozen=True, kw_only=True):
    subject: str
    seq: int
    data: bytes


class TaskQueue(Protocol):
    async def get(self, stream: str, seq: int) -> StoredMessage | None:
        """The message at `seq`, or None when it is gone (acked, deleted, aged out)."""
        ...

    async def delete(self, stream: str, seq: int) -> bool:
        """Remove the message at `seq`; False when it was gone already."""
        ...

    async def discard_run(self, run_id: str) -> int:
        """Remove every task message of `run_id` still in the queue; how many were removed."""
        ...


class JetStreamTaskQueue:
    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    async def get(self, stream: str, seq: int) -> StoredMessage | None:
        try:
            msg = await self._js.get_msg(stream, seq)
        except NotFoundError:
            return None
        return _stored(msg)

    async def delete(self, stream: str, seq: int) -> bool:
        try:
            return await self._js.delete_msg(stream, seq)
        except NotFoundError:
            return False

    async def discard_run(self, run_id: str) -> int:
        stream = subjects.STREAM_TASKS
        state = (await self._js.stream_info(stream)).state
        seq, last, removed = state.first_seq, state.last_seq, 0
        while 0 < seq <= last:
            try:
                # the first message at or after `seq` (gaps left by acked tasks are skipped)
                msg = await self._js.get_msg(
                    stream, seq, subject=subjects.TASK_DISPATCH_ALL, next=True
                )
            except NotFoundError:
                break
            if msg.seq is None or msg.seq > last:
                break
            if _run_of(msg.data or b"") == run_id and await self.delete(stream, msg.seq):
                removed += 1
            seq = msg.seq + 1
        if removed:
            log.info(
                "took back %d queued task(s) of the cancelled run",
                removed,
                extra={"run_id": run_id},
            )
        return removed


def _stored(msg: RawStreamMsg) -> StoredMessage:
    return StoredMessage(subject=msg.subject or "", seq=msg.seq or 0, data=msg.data or b"")


def _run_of(data: bytes) -> str | None:
    try:
        return task_decoder.decode(data).run_id
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
