"""Starting a run: check the request, record the run, announce it, hand it to the planner.

Order matters: the run row is committed before anything is published, so the run can be read
as soon as the client has its id; `RunAccepted` goes out before `PhaseStartRequested`, so the
run's event stream starts with it. Both publishes carry message ids (the event id, the run id):
a retried publish is a no-op on the server.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass

import asyncpg
import cc_bus
import nats.errors
from commandcenter_contracts import RunCancelled, RunStatus, subjects
from litestar.di import NamedDependency
from nats.aio.client import Client
from nats.js import JetStreamContext

from gateway import links
from gateway.agent_availability import require_runnable
from gateway.control import NAMESPACE
from gateway.domain_errors import Unavailable
from gateway.idempotency import Answer, Idempotency, request_hash
from gateway.runs import queries
from gateway.runs.requests import PreparedRun, prepare_run
from gateway.runs.schemas import RunCreated, RunRequest
from gateway.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Starting:
    """What starting a run takes: the read model (the run's row, the Idempotency-Key),
    JetStream and the NATS client (the announcement), the settings (where plans are, the
    default agent, how long a publish may take). Its fields are the dependencies of the same
    names: handlers get one per request (`Provide(Starting)`)."""

    pool: NamedDependency[asyncpg.Pool]
    js: NamedDependency[JetStreamContext]
    nc: NamedDependency[Client]
    settings: NamedDependency[Settings]


def _created(prepared: PreparedRun, warnings: list[str]) -> RunCreated:
    return RunCreated(
        id=prepared.run_id,
        execution_id=prepared.run_id,
        status=RunStatus.ACCEPTED,
        batches_scheduled=prepared.batches_scheduled,
        tasks_scheduled=prepared.tasks_scheduled,
        links=links.run_links(prepared.run_id),
        warnings=[*prepared.warnings, *warnings],
    )


async def start_run(
    starting: Starting,
    request: RunRequest,
    idempotency_key: str | None = None,
    requested_by: str = "anonymous",
) -> Answer[RunCreated]:
    idempotency = Idempotency(idempotency_key, request_hash(request), RunCreated)
    earlier = await idempotency.earlier(starting.pool)
    if earlier is not None:
        return earlier

    # Reading and parsing the plan is file I/O and CPU: keep it off the event loop.
    prepared = await asyncio.to_thread(
        prepare_run,
        request,
        plans=starting.settings.plans,
        default_agent=starting.settings.default_agent,
        requested_by=requested_by,
    )
    if not starting.nc.is_connected:
        raise Unavailable("NATS", "not connected; no run was started")

    accepted = prepared.accepted
    # Refused (409) when executors of its mode are alive and none can run its agent.
    warnings = await require_runnable(starting.nc, starting.js, accepted.agent, accepted.mode)
    created = _created(prepared, warnings)
    async with starting.pool.acquire() as conn, conn.transaction():
        concurrent = await idempotency.claim(conn, prepared.run_id, created)
        if concurrent is not None:
            return concurrent
        await queries.insert_run(conn, prepared.accepted)

    try:
        await cc_bus.publish_status(starting.js, prepared.accepted)
        await cc_bus.publish(
            starting.js,
            subjects.PHASE_START,
            prepared.phase_start,
            msg_id=prepared.run_id,
            timeout=starting.settings.request_timeout_s,
        )
    except (nats.errors.Error, TimeoutError, OSError) as exc:
        reason = cc_bus.why_not_stored(exc)
        log.error("run not started: %s", reason, extra={"run_id": prepared.run_id})
        try:
            await queries.mark_run_not_started(
                starting.pool, prepared.run_id, f"not started: NATS publish failed ({reason})"
            )
            await idempotency.release(starting.pool)
        except Exception as db_exc:  # already answering 503; the log has both causes
            log.error("could not mark run not started: %s", db_exc)
        _withdraw_later(starting.js, prepared.run_id, f"not started: {reason}")
        raise Unavailable("NATS", f"publishing failed ({reason}); no run was started") from exc

    log.info(
        "run accepted: %s batches, %s tasks",
        len(prepared.batches),
        prepared.tasks_scheduled,
        extra={"run_id": prepared.run_id},
    )
    return Answer(created)


WITHDRAW_FOR_S = 3600.0
"""How long a refused run's cancel is retried while JetStream cannot store it."""
_withdrawals: set[asyncio.Task[None]] = set()


def _withdraw_later(js: JetStreamContext, run_id: str, reason: str) -> None:
    """A publish JetStream did not acknowledge may still be stored later: a stream leader
    without quorum keeps what it proposed and commits it once a node comes back. So the run
    the client was told was not started is also cancelled on the bus, in the background until
    JetStream takes it: a phase start committed late then finds its run cancelled, and the
    planner does not plan it."""
    event = RunCancelled(
        event_id=str(uuid.uuid5(NAMESPACE, f"{run_id}/run.cancelled")),  # as a cancel's
        run_id=run_id,
        reason=reason,
    )

    async def withdraw() -> None:
        deadline = time.monotonic() + WITHDRAW_FOR_S
        while time.monotonic() < deadline:
            try:
                await cc_bus.publish_status(js, event)
            except (nats.errors.Error, TimeoutError, OSError) as exc:
                log.info("the refused run's cancel waits for JetStream: %s", exc)
                await asyncio.sleep(2.0)
                continue
            log.info("refused run cancelled on the bus", extra={"run_id": run_id})
            return
        log.error("the refused run's cancel never reached JetStream", extra={"run_id": run_id})

    task = asyncio.create_task(withdraw())
    _withdrawals.add(task)
    task.add_done_callback(_withdrawals.discard)
