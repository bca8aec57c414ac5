"""Starting a run: check the request, record the run, announce it, hand it to the planner.

Order matters: the run row is committed before anything is published, so the run can be read
as soon as the client has its id; `RunAccepted` goes out before `PhaseStartRequested`, so the
run's event stream starts with it. Both publishes carry message ids (the event id, the run id):
a retried publish is a no-op on the server.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import cc_bus
import msgspec
import nats.errors
from commandcenter_contracts import subjects, to_builtins

from gateway.db import repository
from gateway.errors import ApiError, ServiceUnavailable
from gateway.resources import Resources
from gateway.run_requests import PreparedRun, prepare_run
from gateway.schemas import RunCreated, RunLinks, RunRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartOutcome:
    created: RunCreated
    replayed: bool = False
    """True when an earlier request with the same Idempotency-Key created the run."""


def run_links(run_id: str) -> RunLinks:
    return RunLinks(self=f"/api/v1/runs/{run_id}", events=f"/api/v1/runs/{run_id}/events")


def _created(prepared: PreparedRun) -> RunCreated:
    return RunCreated(
        id=prepared.run_id,
        execution_id=prepared.run_id,
        status="accepted",
        batches_scheduled=prepared.batches_scheduled,
        tasks_scheduled=prepared.tasks_scheduled,
        links=run_links(prepared.run_id),
    )


def request_fingerprint(request: RunRequest) -> str:
    return hashlib.sha256(msgspec.json.encode(request)).hexdigest()


def _replay(found: repository.IdempotentRun, fingerprint: str) -> StartOutcome:
    if found.request_hash != fingerprint:
        raise ApiError(
            422,
            "this Idempotency-Key was used for a different request",
            extra=[{"key": "Idempotency-Key", "message": "reused", "source": "header"}],
        )
    return StartOutcome(msgspec.convert(found.response, RunCreated), replayed=True)


async def start_run(
    resources: Resources,
    request: RunRequest,
    *,
    idempotency_key: str | None = None,
    requested_by: str = "anonymous",
) -> StartOutcome:
    settings = resources.settings
    fingerprint = request_fingerprint(request)
    if idempotency_key is not None:
        async with resources.pool.acquire() as conn:
            found = await repository.find_idempotent(conn, idempotency_key)
        if found is not None:
            return _replay(found, fingerprint)

    # Reading and parsing the plan is file I/O and CPU: keep it off the event loop.
    prepared = await asyncio.to_thread(
        prepare_run,
        request,
        plan_root=settings.plan_root,
        default_agent=settings.default_agent,
        requested_by=requested_by,
    )
    if not resources.nc.is_connected:
        raise ServiceUnavailable("NATS", "not connected; no run was started")

    created = _created(prepared)
    accepted = prepared.accepted
    async with resources.pool.acquire() as conn, conn.transaction():
        if idempotency_key is not None:
            claimed = await repository.claim_idempotency_key(
                conn, idempotency_key, prepared.run_id, fingerprint, _builtins(created)
            )
            if not claimed:  # a concurrent request with the same key won
                found = await repository.find_idempotent(conn, idempotency_key)
                if found is not None:
                    return _replay(found, fingerprint)
        await repository.insert_run(
            conn,
            repository.NewRun(
                id=prepared.run_id,
                mode=accepted.mode,
                plan_path=accepted.plan_path,
                repo=accepted.repo,
                agent=accepted.agent,
                selection=_builtins(prepared.selection),
                requested_by=requested_by,
                base_ref=accepted.base_ref,
                integration_branch=accepted.integration_branch,
                merge_style=accepted.merge_style,
                land=accepted.land,
                max_cost_usd=accepted.max_cost_usd,
            ),
        )

    try:
        await cc_bus.publish_status(resources.js, accepted)
        await cc_bus.publish(
            resources.js,
            subjects.PHASE_START,
            prepared.phase_start,
            msg_id=prepared.run_id,
            timeout=settings.request_timeout_s,
        )
    except (nats.errors.Error, TimeoutError, OSError) as exc:
        reason = f"{type(exc).__name__}: {exc}".strip(": ")
        log.error("run not started: %s", reason, extra={"run_id": prepared.run_id})
        try:
            await repository.mark_run_not_started(
                resources.pool, prepared.run_id, f"not started: NATS publish failed ({reason})"
            )
        except Exception as db_exc:  # already answering 503; the log has both causes
            log.error("could not mark run not started: %s", db_exc)
        raise ServiceUnavailable(
            "NATS", f"publishing failed ({reason}); no run was started"
        ) from exc

    log.info(
        "run accepted: %s batches, %s tasks",
        len(prepared.batches),
        prepared.tasks_scheduled,
        extra={"run_id": prepared.run_id},
    )
    return StartOutcome(created)


def _builtins(value: Any) -> dict[str, Any]:
    result = to_builtins(value)
    assert isinstance(result, dict)
    return result
