"""Dead letters into the read model: the durable `gateway-dead-letters` on CC_DEAD writes one row
per letter (idempotent by the letter's id), which `GET /api/v1/dead-letters` lists.

A letter names its run, task and attempt when it carries the task; when it only carries the
raw bytes of a message nobody could decode, the run and task ids are taken from those bytes if
they are JSON that has them (so `?run_id=` finds it too). A message on CC_DEAD that is not a
letter itself is kept as a row of its own (`BAD_MESSAGE`): dead-lettering it again would loop.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime

import msgspec
from cc_bus import Ack, Delivery, Settle, dead_letters_consumer
from commandcenter_contracts import DeadLetter, FailureCode, dead_letter_decoder, encode
from commandcenter_contracts import subjects as s

from gateway.readmodel.projecting import Projection
from gateway.readmodel.sql import Connection, bind

log = logging.getLogger(__name__)

MAX_TEXT = 64 * 1024
"""Raw bytes and error texts are cut to this many characters in the read model."""

_INSERT = """
INSERT INTO dead_letters (id, stream_seq, subject, error_code, error, run_id, task_id, attempt,
                          num_delivered, at, task, raw)
VALUES (:id, :stream_seq, :subject, :error_code, :error, :run_id, :task_id, :attempt,
        :num_delivered, :at, :task::jsonb, :raw)
ON CONFLICT (id) DO NOTHING
RETURNING 1
"""


class Letter(msgspec.Struct, frozen=True, kw_only=True):
    """What a dead letter says about itself, as the read model records it and the listing
    (`DeadLetterView`) shows it: the fields are `dead_letters` columns."""

    id: str
    subject: str
    """Where the original message was consumed from."""
    error_code: str
    error: str
    run_id: str | None
    task_id: str | None
    attempt: int | None
    num_delivered: int
    at: datetime


class LetterRow(Letter, frozen=True, kw_only=True):
    """A `dead_letters` row but its `stream_seq` (the delivery's): the fields are the columns."""

    task: str | None
    """The task message as JSON text."""
    raw: str | None


def _text(value: str) -> str:
    # PostgreSQL text cannot hold NUL.
    return value.replace("\x00", "\ufffd")[:MAX_TEXT]


def _ids_in(raw: bytes) -> tuple[str | None, str | None, int | None]:
    """(run_id, task_id, attempt) of an undecodable message that is JSON with those keys."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None, None, None
    if not isinstance(doc, dict):
        return None, None, None
    run_id, task_id, attempt = doc.get("run_id"), doc.get("task_id"), doc.get("attempt")
    return (
        run_id[:200] if isinstance(run_id, str) else None,
        task_id[:200] if isinstance(task_id, str) else None,
        attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else None,
    )


def letter_row(letter: DeadLetter) -> LetterRow:
    task = letter.task
    ids: tuple[str | None, str | None, int | None] = (
        (task.run_id, task.task_id, task.attempt) if task is not None else _ids_in(letter.raw)
    )
    run_id, task_id, attempt = ids
    return LetterRow(
        id=letter.event_id,
        subject=_text(letter.subject),
        error_code=str(letter.error_code),
        error=_text(letter.error),
        run_id=run_id,
        task_id=task_id,
        attempt=attempt,
        num_delivered=letter.num_delivered,
        at=letter.at,
        task=None if task is None else _text(encode(task).decode()),
        raw=_text(letter.raw.decode("utf-8", "replace")) if letter.raw else None,
    )


def unreadable_row(msg_subject: str, seq: int, data: bytes, error: str) -> LetterRow:
    """A message on CC_DEAD that is not a dead letter: kept as one, with its bytes."""
    run_id, task_id, attempt = _ids_in(data)
    return LetterRow(
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{s.STREAM_DEAD}/{seq}")),
        subject=_text(msg_subject),
        error_code=str(FailureCode.BAD_MESSAGE),
        error=_text(f"not a dead letter: {error}"),
        run_id=run_id,
        task_id=task_id,
        attempt=attempt,
        num_delivered=0,
        at=datetime.now(UTC),
        task=None,
        raw=_text(data.decode("utf-8", "replace")),
    )


class DeadLetterProjector(Projection[LetterRow]):
    spec = dead_letters_consumer()

    def decode(self, delivery: Delivery) -> LetterRow:
        try:
            letter = dead_letter_decoder.decode(delivery.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return unreadable_row(delivery.subject, delivery.sequence or 0, delivery.data, str(exc))
        return letter_row(letter)

    async def apply(self, conn: Connection, item: LetterRow, delivery: Delivery) -> bool:
        row = msgspec.structs.asdict(item)
        sql, args = bind(_INSERT, stream_seq=delivery.sequence or 0, **row)
        inserted = await conn.fetchval(sql, *args)
        return inserted is not None

    def context(self, item: LetterRow) -> dict[str, object]:
        return {"run_id": item.run_id, "task_id": item.task_id}

    def refused(self, delivery: Delivery, error: str) -> Settle:
        # A dead letter the read model refuses: dead-lettering it again would loop. It stays
        # in CC_DEAD (limits retention) for anyone reading the stream itself.
        log.error("dead letter #%s cannot be listed: %s", delivery.sequence, error[:500])
        return Ack()
