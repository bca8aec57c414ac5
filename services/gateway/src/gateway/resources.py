"""The gateway's long-lived resources: the NATS connection, the PostgreSQL pool, the projectors
(status events and dead letters), the caches of tokens and of ended runs' views and the
listener that tells them what changed.

Opened once in the app's lifespan (`open_resources`) and closed there (`Resources.close`);
handlers get the parts they use (`provide_pool`, `provide_js`, …), never the whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import cc_bus
from cc_bus import Consumer
from commandcenter_contracts import StatusEvent
from litestar.datastructures import State
from nats.aio.client import Client
from nats.js import JetStreamContext

from gateway.auth.token_cache import TokenCache
from gateway.notifications import ChangeListener
from gateway.readmodel.dead_letter_projector import DeadLetterProjector, LetterRow
from gateway.readmodel.migrate import migrate
from gateway.readmodel.projecting import Projection
from gateway.readmodel.projector import Projector
from gateway.runs.view_cache import ViewCache
from gateway.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Resources:
    nc: Client
    js: JetStreamContext
    pool: asyncpg.Pool
    projector: Projector
    projector_consumer: Consumer[StatusEvent]
    projector_task: asyncio.Task[None]
    dead_letters: DeadLetterProjector
    dead_letters_consumer: Consumer[LetterRow]
    dead_letters_task: asyncio.Task[None]
    tokens: TokenCache
    views: ViewCache
    notifications: ChangeListener

    async def close(self, grace_s: float = 5.0) -> None:
        await self.notifications.close()
        await asyncio.gather(
            _stop(self.projector, self.projector_consumer, self.projector_task, grace_s),
            _stop(self.dead_letters, self.dead_letters_consumer, self.dead_letters_task, grace_s),
        )
        try:
            await asyncio.wait_for(self.pool.close(), grace_s)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            self.pool.terminate()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.nc.close(), grace_s)


async def _stop(
    projection: Projection[Any], consumer: Consumer[Any], task: asyncio.Task[None], grace_s: float
) -> None:
    projection.stopping.set()
    consumer.stop_fetching()
    try:
        await asyncio.wait_for(task, grace_s)
    except (TimeoutError, asyncio.CancelledError):
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


async def _retrying(what: str, deadline: float, attempt: Callable[[], Awaitable[T]]) -> T:
    """Start-up: dependencies may come up after us (compose, k8s); wait for them a while."""
    delay = 0.2
    while True:
        try:
            return await attempt()
        except Exception as exc:
            if time.monotonic() + delay > deadline:
                raise RuntimeError(f"{what} not reachable at start-up: {exc}") from exc
            log.warning("%s not reachable yet (%s); retrying", what, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


class PooledConnection(asyncpg.Connection):
    """A pooled connection handed back without asyncpg's reset statement (`pg_advisory_unlock_all`,
    `CLOSE ALL`, `UNLISTEN *`, `RESET ALL`): one more round trip on every release, for session
    state the gateway never leaves on a connection (no `SET`, `LISTEN`, cursors or session
    advisory locks; its advisory locks are transaction-level). A transaction still open at
    release is rolled back by asyncpg all the same."""

    def get_reset_query(self) -> str:
        return ""


async def create_pool(database_url: str, *, max_size: int, command_timeout: float) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        database_url,
        min_size=1,
        max_size=max_size,
        timeout=5.0,
        command_timeout=command_timeout,
        connection_class=PooledConnection,
    )
    assert pool is not None
    return pool


async def open_resources(settings: Settings) -> Resources:
    deadline = time.monotonic() + settings.startup_timeout_s
    nc = await _retrying(
        "NATS",
        deadline,
        lambda: cc_bus.connect(settings.nats_url, name="cc-gateway", auth=settings.nats_auth),
    )
    try:
        js = nc.jetstream(timeout=settings.request_timeout_s)
        await cc_bus.ensure_streams(js, replicas=settings.stream_replicas)
        # Before anything consumes: a changed consumer setting must reach the server.
        await cc_bus.ensure_consumer(js, cc_bus.projector_consumer())
        await cc_bus.ensure_consumer(js, cc_bus.dead_letters_consumer())
        pool = await _retrying(
            "PostgreSQL",
            deadline,
            lambda: create_pool(
                settings.database_url,
                max_size=settings.db_pool_max,
                command_timeout=settings.request_timeout_s,
            ),
        )
    except BaseException:
        await nc.close()
        raise
    try:
        async with pool.acquire() as conn:
            applied = await migrate(conn)
        if applied:
            log.info("database migrated: %s", ", ".join(applied))
    except BaseException:
        pool.terminate()
        await nc.close()
        raise
    projector = Projector(js, pool)
    dead_letters = DeadLetterProjector(js, pool)
    projector_consumer = projector.consumer()
    dead_letters_consumer = dead_letters.consumer()
    tokens, views = TokenCache(), ViewCache()
    notifications = ChangeListener(settings.database_url, [tokens, views])
    notifications.start()
    return Resources(
        nc=nc,
        js=js,
        pool=pool,
        projector=projector,
        projector_consumer=projector_consumer,
        projector_task=asyncio.create_task(projector_consumer.run(), name="gateway-projector"),
        dead_letters=dead_letters,
        dead_letters_consumer=dead_letters_consumer,
        dead_letters_task=asyncio.create_task(
            dead_letters_consumer.run(), name="gateway-dead-letters"
        ),
        tokens=tokens,
        views=views,
        notifications=notifications,
    )


# --- dependency providers: what a handler names (`pool`, `js`, `nc`) is taken from here ---------
def opened(state: State) -> Resources:
    resources = state.get("resources")
    if not isinstance(resources, Resources):  # only outside a running lifespan
        raise RuntimeError("the gateway's resources are not open")
    return resources


SETTINGS = "settings"
"""Where `create_app` puts the settings in the app's state."""


def provide_settings(state: State) -> Settings:
    settings = state[SETTINGS]
    assert isinstance(settings, Settings)
    return settings


def provide_pool(state: State) -> asyncpg.Pool:
    return opened(state).pool


def provide_view_cache(state: State) -> ViewCache:
    return opened(state).views


def provide_js(state: State) -> JetStreamContext:
    return opened(state).js


def provide_nc(state: State) -> Client:
    return opened(state).nc
