"""What `create_app` takes from this slice: the guard, the dependencies (`requester`,
`sse_gate`), the start-up step (the admin token, or the warning that nobody is checked)."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from litestar import Request
from litestar.di import Provide

from gateway.auth.bootstrap import ensure_admin_token
from gateway.auth.guard import principal_of
from gateway.auth.identity import provide_requester
from gateway.auth.sse_limit import SseLimiter, StreamGate, gate_for
from gateway.settings import Settings

log = logging.getLogger(__name__)

AUTH_OFF_WARNING = (
    "CC_AUTH=off: THE API IS OPEN. Anyone who can reach this port can start, cancel and "
    "replay runs, which run agents that write code and push branches. Never do this on a "
    "port others can reach."
)


async def on_start(settings: Settings, pool: asyncpg.Pool) -> None:
    if not settings.auth:
        log.warning(AUTH_OFF_WARNING)
    elif settings.bootstrap_token_file is not None:
        await ensure_admin_token(pool, settings.bootstrap_token_file)


def dependencies(settings: Settings) -> dict[str, Provide]:
    limiter = SseLimiter(settings.sse_max_per_token)

    def provide_sse_gate(request: Request[Any, Any, Any]) -> StreamGate:
        who = principal_of(request)
        client = request.client.host if request.client else None
        return gate_for(limiter, who.token_id if who else None, client)

    return {
        "requester": Provide(provide_requester, sync_to_thread=False),
        "sse_gate": Provide(provide_sse_gate, sync_to_thread=False),
    }
