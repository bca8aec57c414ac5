"""Errors raised by `cc_planfile`.

Parsing itself never raises on content: a plan that cannot be fully read still parses, and
what could not be read becomes a `PlanWarning`. Errors are for the two places where going on
would be wrong: the plan file cannot be read at all, and a batch selection does not name a
well-defined set of runnable batches.
"""

from __future__ import annotations


class PlanError(Exception):
    """Base class of every error raised by `cc_planfile`."""


class PlanFileError(PlanError):
    """The plan file is missing, unreadable or not UTF-8; the message names the path."""


class SelectionError(PlanError):
    """A batch selection is empty, ambiguous, reversed or selects a batch with no tasks.

    `candidates` describes the batches the caller could have meant (for an ambiguous
    number) or the batches that exist (when nothing matched), one string per batch such as
    `"phase 3 batch 1: Core Infrastructure"`, so an API can show them to the user.
    """

    def __init__(self, message: str, candidates: list[str] | None = None) -> None:
        super().__init__(message)
        self.candidates: list[str] = list(candidates or [])
