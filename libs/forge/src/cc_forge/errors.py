"""The one exception of the forge adapters."""

from __future__ import annotations


class ForgeError(Exception):
    """A forge call failed; the message is safe to show (it never contains the token).

    `status` is the HTTP status when the forge answered; `recoverable` says whether the same
    call may succeed later (rate limits, 5xx, connection errors) or needs a person (bad token,
    missing repository, refused request).
    """

    def __init__(self, message: str, *, status: int | None = None, recoverable: bool = False):
        super().__init__(message)
        self.message = message
        self.status = status
        self.recoverable = recoverable
