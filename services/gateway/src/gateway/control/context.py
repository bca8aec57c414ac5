"""What the control use cases act with, and the checks each makes before it acts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import asyncpg
from commandcenter_contracts import RUN_FINAL
from litestar.di import NamedDependency
from nats.aio.client import Client
from nats.js import JetStreamContext

from gateway.domain_errors import Conflict, NotFound, Unavailable
from gateway.runs.queries import parse_run_id, run_finished_at, run_status
from gateway.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True)
class Control:
    """The read model (may it be done?), JetStream and the NATS client (where it is handed
    over), the settings (how long a publish may take). Its fields are the dependencies of
    the same names: handlers get one per request (`Provide(Control)`)."""

    pool: NamedDependency[asyncpg.Pool]
    js: NamedDependency[JetStreamContext]
    nc: NamedDependency[Client]
    settings: NamedDependency[Settings]

    @property
    def timeout_s(self) -> float:
        return self.settings.request_timeout_s

    async def run_allowing(self, run_id: str, refusal: Callable[[str], str | None]) -> str:
        """The status of run `run_id`, when the request may act on a run in it (`allowed`)."""
        return allowed(await run_status(self.pool, run_id), f"run {run_id[:100]}", refusal)

    async def unended_run(self, run_id: str, *, refused: str, undone: str) -> tuple[str, str]:
        """The id and status of run `run_id`, for a request that changes a run that has not
        ended: `NotFound` without such a run, `Conflict` (`refused`, with `{status}` filled
        in) once it has ended, `Unavailable` (saying what was `undone`) without NATS."""

        def refusal(status: str) -> str | None:
            return refused.format(status=status) if status in RUN_FINAL else None

        status = await self.run_allowing(run_id, refusal)
        self.require_nats(undone)
        return str(parse_run_id(run_id)), status

    async def require_kept(self, run_id: str) -> None:
        """`Conflict` when the run ended longer ago than the retention period: the planner
        forgets such a run (`planner.retention`), so nothing could take it on again."""
        refused = forgotten_refusal(
            run_id,
            await run_finished_at(self.pool, run_id),
            self.settings.run_retention_days,
            datetime.now(UTC),
        )
        if refused is not None:
            raise Conflict(refused)

    def require_nats(self, undone: str) -> None:
        """Before anything is published: a 503 at once (saying what was `undone`), not a
        timeout."""
        if not self.nc.is_connected:
            raise Unavailable("NATS", f"not connected; {undone}")


def forgotten_refusal(
    run_id: str, finished_at: datetime | None, retention_days: float, now: datetime
) -> str | None:
    """Why a run that ended at `finished_at` can no longer be taken on again, or None."""
    if not retention_days or finished_at is None:
        return None
    if now - finished_at <= timedelta(days=retention_days):
        return None
    return (
        f"run {run_id} ended on {finished_at:%Y-%m-%d}, more than {retention_days:g} days ago "
        "(CC_RUN_RETENTION_DAYS): the planner no longer keeps it; start a new run instead"
    )


def allowed(found: T | None, what: str, refusal: Callable[[T], str | None]) -> T:
    """`found`, when the request may act on it: `NotFound` (of `what`) when there is none,
    `Conflict` when `refusal` says why not."""
    if found is None:
        raise NotFound(what)
    refused = refusal(found)
    if refused is not None:
        raise Conflict(refused)
    return found
