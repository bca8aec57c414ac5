"""Task failure codes and which of them are worth another attempt."""

from __future__ import annotations

import enum


class FailureCode(enum.StrEnum):
    AGENT_FAILED = "AGENT_FAILED"
    AGENT_NOT_FOUND = "AGENT_NOT_FOUND"
    NO_CHANGES = "NO_CHANGES"
    VERIFICATION_FAILED = "VERIFICATION_FAILED"
    TIMEOUT = "TIMEOUT"
    GIT_ERROR = "GIT_ERROR"
    PUSH_FAILED = "PUSH_FAILED"
    CANCELLED = "CANCELLED"
    INFRA = "INFRA"
    BAD_MESSAGE = "BAD_MESSAGE"
    """A message that could not be decoded: it goes to the dead letters, never retried."""
    MERGE_CONFLICT = "MERGE_CONFLICT"
    """The task's changes clash with the integration branch, and no re-run from its tip is
    left."""
    AGENT_AUTH = "AGENT_AUTH"
    """The agent's API refused its credential (401/403, "Not logged in"): a person must fix
    the key or the login; never retried."""
    AGENT_UNAVAILABLE = "AGENT_UNAVAILABLE"
    """The agent's API was overloaded, rate-limited, failing (429, 529, 5xx) or unreachable:
    retried with backoff."""
    BUDGET_EXCEEDED = "BUDGET_EXCEEDED"
    """The run's spend reached its `max_cost_usd`: no new task starts."""
    LAND_FAILED = "LAND_FAILED"
    """The run's work could not be landed (the base branch moved and will not merge cleanly,
    or the pull request could not be opened)."""


RECOVERABLE: frozenset[FailureCode] = frozenset(
    {
        FailureCode.INFRA,
        FailureCode.TIMEOUT,
        FailureCode.PUSH_FAILED,
        FailureCode.AGENT_UNAVAILABLE,
    }
)


def is_recoverable(code: FailureCode) -> bool:
    """Whether another attempt of the same task could succeed without a change to it."""
    return code in RECOVERABLE
