"""Named parameters for asyncpg, which only knows `$1, $2, …`, and rows back into structs.

    sql, args = bind("UPDATE runs SET error = :error WHERE id = :run_id", run_id=rid, error=e)
    await conn.execute(sql, *args)

`:name` becomes `$n` (the same name, the same `$n`); `::type` casts and quoted literals are left
alone. Each statement text is compiled once and remembered; the values must name exactly the
statement's parameters.

    view = from_row(BatchView, row, tasks=tasks)
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias, TypeVar

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy
"""A connection of its own or one taken from the pool: either runs a statement."""

S = TypeVar("S", bound=msgspec.Struct)

# A quoted literal (kept as it is) or a `:name` that is not the second half of a `::` cast.
_TOKEN = re.compile(r"'(?:[^']|'')*'|(?<![:\w]):([A-Za-z_]\w*)")


@functools.cache
def compile_named(sql: str) -> tuple[str, tuple[str, ...]]:
    """The statement with `$n` placeholders and the parameter names in `$n` order."""
    names: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _TOKEN.sub(placeholder, sql), tuple(names)


def _args(sql: str, names: tuple[str, ...], values: Mapping[str, Any]) -> tuple[Any, ...]:
    if values.keys() != set(names):
        missing = sorted(set(names) - values.keys())
        unknown = sorted(values.keys() - set(names))
        raise TypeError(f"parameters do not fit: missing {missing}, unknown {unknown}: {sql!r}")
    return tuple(values[name] for name in names)


def bind(sql: str, **values: Any) -> tuple[str, tuple[Any, ...]]:
    """`(statement with $n, args)` for `conn.execute(text, *args)`."""
    text, names = compile_named(sql)
    return text, _args(sql, names, values)


def bind_many(sql: str, rows: Iterable[Mapping[str, Any]]) -> tuple[str, list[tuple[Any, ...]]]:
    """`(statement with $n, rows of args)` for `conn.executemany`."""
    text, names = compile_named(sql)
    return text, [_args(sql, names, row) for row in rows]


def from_row(cls: type[S], row: asyncpg.Record, **computed: Any) -> S:
    """A `cls` whose fields are the row's columns of the same names, but those `computed`."""
    columns = {name: row[name] for name in cls.__struct_fields__ if name not in computed}
    return cls(**columns, **computed)
