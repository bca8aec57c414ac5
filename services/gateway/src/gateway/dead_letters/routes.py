"""Dead letters over HTTP: newest first, optionally one run's; those whose task has succeeded
since only with `?include_resolved=true`."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from litestar import get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.types import ControllerRouterHandler

from gateway.api_schema import refusals
from gateway.dead_letters import queries
from gateway.dead_letters.schemas import DeadLetterList


@get(
    "/api/v1/dead-letters",
    tags=["control"],
    summary="Dead letters, newest first (unresolved ones unless asked)",
    responses=refusals(400, 503),
)
async def list_dead_letters(
    pool: NamedDependency[asyncpg.Pool],
    run_id: Annotated[str | None, QueryParameter(required=False, max_length=200)] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 50,
    include_resolved: Annotated[
        bool,
        QueryParameter(
            required=False,
            description="also the letters whose task has succeeded since (`resolved: true`)",
        ),
    ] = False,
) -> DeadLetterList:
    items = await queries.list_dead_letters(
        pool, run_id=run_id, limit=limit, include_resolved=include_resolved
    )
    return DeadLetterList(items=items, count=len(items))


ROUTES: list[ControllerRouterHandler] = [list_dead_letters]
