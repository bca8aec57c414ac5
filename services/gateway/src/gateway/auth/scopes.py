"""What a token may do. `admin` holds every scope."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Scope(StrEnum):
    RUNS_READ = "runs:read"
    """runs, their events and logs, dead letters, executors"""
    RUNS_WRITE = "runs:write"
    """start runs, parse plans"""
    CONTROL = "control"
    """replay, cancel, budgets"""
    ADMIN = "admin"
    """tokens; and everything else"""


ALL_SCOPES: tuple[str, ...] = tuple(s.value for s in Scope)


def grants(held: Iterable[str], needed: Scope) -> bool:
    """Whether a token holding `held` may do what needs `needed`."""
    have = set(held)
    return Scope.ADMIN in have or needed in have


def unknown_scopes(asked: Iterable[str]) -> list[str]:
    return sorted(set(asked) - set(ALL_SCOPES))
