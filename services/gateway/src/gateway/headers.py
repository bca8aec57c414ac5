"""Request headers several slices take: `Idempotency-Key` and `X-Requested-By`."""

from __future__ import annotations

from typing import Annotated

from litestar.params import HeaderParameter

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        min_length=1,
        max_length=200,
        description="repeat a request safely: the same key returns the same run",
    ),
]
RequestedBy = Annotated[
    str | None,
    HeaderParameter(
        name="X-Requested-By",
        required=False,
        max_length=200,
        description="who asks, recorded only when the gateway runs with CC_AUTH=off (with a "
        "token, its name is recorded)",
    ),
]


def requester(requested_by: str | None) -> str:
    """Who asked, for the log and the messages: the header, else `anonymous`."""
    return requested_by or "anonymous"
