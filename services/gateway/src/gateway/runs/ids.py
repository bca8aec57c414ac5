"""Ids as people write them: a run by its whole id or by a unique prefix of it (`7501f80f`, as
branch names and headings show it), a run's task by its id or by its plan id (`1.2`).

Every route with a run in its path gets the run through `provide_run` (the `run` dependency),
so each of them takes what the others take; the use cases only ever see whole ids.
"""

from __future__ import annotations

import re
import uuid
from typing import NewType

import asyncpg
from litestar.di import NamedDependency
from litestar.params import FromPath

from gateway.domain_errors import Conflict, NotFound
from gateway.runs.queries import parse_run_id

RunId = NewType("RunId", str)
"""A run's whole id (a uuid as text), resolved from what the request named."""

MIN_PREFIX = 4
"""The shortest prefix taken for a run id, as git takes a commit's: shorter ones match too much
to be worth a lookup."""
LISTED = 10
"""How many of an ambiguous prefix's runs the refusal names."""

_HEX_PREFIX = re.compile(rf"^[0-9a-f]{{{MIN_PREFIX},31}}$")


def run_id_prefix(value: str) -> str | None:
    """`value` as a prefix of a run id's 32 hex digits (dashes dropped), or None when it cannot
    be one (too short, not hex, or a whole id)."""
    digits = value.strip().lower().replace("-", "")
    return digits if _HEX_PREFIX.match(digits) else None


_BY_PREFIX = """
SELECT id FROM runs WHERE id BETWEEN $1 AND $2 ORDER BY created_at DESC, id LIMIT $3
"""


async def resolve_run_id(pool: asyncpg.Pool, value: str) -> RunId:
    """The whole id of the run `value` names: a whole id as it is (whether the run exists is
    for the use case to say), a prefix as the one run it starts; `NotFound` when no run
    starts with it, `Conflict` naming the runs when more than one does."""
    whole = parse_run_id(value)
    if whole is not None:
        return RunId(str(whole))
    prefix = run_id_prefix(value)
    if prefix is None:
        raise NotFound(f"run {value[:100]}")
    # uuids sort as their bytes, i.e. as their hex digits: a prefix is a range of the index
    low, high = uuid.UUID(prefix.ljust(32, "0")), uuid.UUID(prefix.ljust(32, "f"))
    found = [str(row["id"]) for row in await pool.fetch(_BY_PREFIX, low, high, LISTED + 1)]
    if not found:
        raise NotFound(f"run {value[:100]}")
    if len(found) > 1:
        more = " (and more)" if len(found) > LISTED else ""
        shown = found[:LISTED]
        raise Conflict(
            f"run id prefix {value[:100]!r} is ambiguous: runs {', '.join(shown)}{more} "
            "start with it; give more of the id",
            candidates=shown,
        )
    return RunId(found[0])


async def provide_run(run_id: FromPath[str], pool: NamedDependency[asyncpg.Pool]) -> RunId:
    """The `run` of every route with `{run_id}` in its path."""
    return await resolve_run_id(pool, run_id)


_TASKS_NAMED = """
SELECT task_id FROM tasks WHERE run_id = $1 AND (task_id = $2 OR plan_task_id = $2)
ORDER BY task_id = $2 DESC, batch_index NULLS LAST, position, task_id
"""


async def resolve_task_id(pool: asyncpg.Pool, run_id: RunId, value: str) -> str | None:
    """The id of the run's task that `value` names (its id, or its plan id), or None when the
    run has no such task; `Conflict` naming them when a plan id names several (a plan whose
    phases repeat task numbers)."""
    rows = await pool.fetch(_TASKS_NAMED, uuid.UUID(run_id), value)
    found = [str(row["task_id"]) for row in rows]
    if not found or found[0] == value:
        return found[0] if found else None
    if len(found) > 1:
        raise Conflict(
            f"run {run_id} has {len(found)} tasks {value}: name one by its id",
            candidates=found[:LISTED],
        )
    return found[0]
