"""Dead letters, built in one place: what the system gave up on, kept on `cc.task.dead`.

One id scheme: a letter's id is derived from the stream position of the message it is about
and the durable that gave up on it (`<stream>/<sequence>/<consumer>`), so a message given up on
again after a redelivery gives the same letter, which JetStream drops as a duplicate, while two
consumers of one message (the planner and the projector both read status events) each leave
theirs. A message from outside JetStream (no position) gets a random id. `num_delivered` is
the message's delivery count, at least 1.
"""

from __future__ import annotations

import uuid

from commandcenter_contracts import DeadLetter, FailureCode, TaskDispatched

NAMESPACE = uuid.UUID("0d6c3f8e-52a1-5b0e-9c44-7e2f1a9b8c31")
MAX_ERROR = 2000


def letter_id(stream: str | None, sequence: int | None, consumer: str) -> str:
    """The id of the letter about the message at `stream`/`sequence`, given up by `consumer`."""
    if stream is None or sequence is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(NAMESPACE, f"{stream}/{sequence}/{consumer}"))


def dead_letter(
    *,
    stream: str | None,
    sequence: int | None,
    consumer: str,
    subject: str,
    error_code: FailureCode,
    error: str,
    num_delivered: int,
    task: TaskDispatched | None = None,
    raw: bytes = b"",
) -> DeadLetter:
    """The letter about one message: the decoded task when there is one, else its raw bytes."""
    return DeadLetter(
        event_id=letter_id(stream, sequence, consumer),
        subject=subject,
        error_code=error_code,
        error=error[:MAX_ERROR],
        task=task,
        raw=b"" if task is not None else raw,
        num_delivered=max(1, num_delivered),
    )
