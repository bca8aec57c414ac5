"""Which database errors mean "PostgreSQL is unavailable" and which mean "this data is bad"."""

from __future__ import annotations

import asyncpg

_UNAVAILABLE = (
    OSError,  # includes ConnectionError: refused, reset, socket gone
    TimeoutError,
    asyncpg.InterfaceError,  # connection closed / pool closing
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,  # admin shutdown, cannot connect now
    asyncpg.InsufficientResourcesError,  # too many connections, disk full
    asyncpg.TransactionRollbackError,  # serialization failure, deadlock: retry
)


def is_db_unavailable(exc: BaseException) -> bool:
    """The database cannot serve now; the same request can succeed later."""
    return isinstance(exc, _UNAVAILABLE)


def is_bad_data(exc: BaseException) -> bool:
    """PostgreSQL refuses these values (bad encoding, out of range, constraint): always will."""
    return isinstance(exc, asyncpg.DataError | asyncpg.IntegrityConstraintViolationError)
