"""Dead letters: what the system gave up on, newest first."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from gateway.db import repository
from gateway.resources import Resources
from gateway.schemas import DeadLetterList


@get("/api/v1/dead-letters", tags=["control"], summary="Dead letters, newest first")
async def list_dead_letters(
    resources: NamedDependency[Resources],
    run_id: Annotated[str | None, QueryParameter(required=False, max_length=200)] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 50,
) -> DeadLetterList:
    items = await repository.list_dead_letters(resources.pool, run_id=run_id, limit=limit)
    return DeadLetterList(items=items, count=len(items))
