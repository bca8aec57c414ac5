"""Reading runs: the list, one run's view, and the original clients' views of it."""

from __future__ import annotations

import time
from dataclasses import dataclass

import asyncpg
import msgspec
from commandcenter_contracts import RUN_ENDED

from gateway.domain_errors import InvalidRequest, NotFound
from gateway.runs import compat, queries
from gateway.runs.schemas import RunList, RunView
from gateway.runs.view_cache import ViewCache, etag

_encoder = msgspec.json.Encoder()
"""The view's JSON as litestar would write it (litestar encodes with msgspec too)."""


async def list_runs(pool: asyncpg.Pool, *, status: str | None, limit: int) -> RunList:
    if status is not None and status not in queries.LISTED_RUN_STATUSES:
        known = ", ".join(queries.LISTED_RUN_STATUSES)
        raise InvalidRequest(
            "status", f"unknown run status {status!r}; one of {known}", source="query"
        )
    items = await queries.list_runs(pool, status=status, limit=limit)
    return RunList(items=items, count=len(items))


async def view_run(pool: asyncpg.Pool, run_id: str) -> RunView:
    view = await queries.get_run_view(pool, run_id)
    if view is None:
        raise NotFound(f"run {run_id[:100]}")
    return view


@dataclass(frozen=True, slots=True)
class EncodedView:
    etag: str
    body: bytes


async def encoded_run_view(
    pool: asyncpg.Pool, cache: ViewCache, run_id: str, *, fresh: bool = False
) -> EncodedView:
    """The run's view as JSON with its entity tag: a trusted cached view as it is (no
    statement), else read in one statement (which leaves the view out while the run is at
    the version cached) and, once the run ended, cached. `fresh`: never without asking."""
    generation = cache.generation
    cached = cache.get(run_id)
    if cached is not None and not fresh and cached.serve_unchecked(time.monotonic()):
        return EncodedView(etag(cached.version), cached.body)
    read = await queries.read_run_view(
        pool, run_id, unless_version=None if cached is None else cached.version
    )
    if read is None:
        cache.drop(run_id)
        raise NotFound(f"run {run_id[:100]}")
    if read.view is None:
        assert cached is not None  # the view is left out only at the version cached
        cache.put(run_id, read.version, cached.body, generation)  # trusted from now, if heard
        return EncodedView(etag(read.version), cached.body)
    body = _encoder.encode(read.view)
    if read.status in RUN_ENDED:
        cache.put(run_id, read.version, body, generation)
    else:
        cache.drop(run_id)
    return EncodedView(etag(read.version), body)


async def autonomous_task(
    pool: asyncpg.Pool, run_id: str, task_number: str
) -> compat.AutonomousTask:
    view = await view_run(pool, run_id)
    task = compat.find_task(view, task_number)
    if task is None:
        raise NotFound(f"task {task_number[:50]} of run {run_id[:100]}")
    return compat.autonomous_task(view, task)
