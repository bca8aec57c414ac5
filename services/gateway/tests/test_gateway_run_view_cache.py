"""The run view in one statement, its `ETag` and `If-None-Match`, and the cache of views of
runs that ended: served without a statement while PostgreSQL's notifications reach it, never
served once the run changed (a replay re-opening it, a pull request merged after it
succeeded, an operator's own UPDATE), and never holding a run still going."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, NamedTuple

import asyncpg
import pytest
from commandcenter_contracts import (
    FailureCode,
    PullRequestRef,
    PullRequestUpdated,
    RunHalted,
    RunSucceeded,
    TaskFailed,
)
from gateway.resources import provide_view_cache
from gateway.runs import queries, viewing
from gateway.runs.view_cache import TRUST_S, ViewCache
from gateway_support import Client, Run, publish_all, tasks_of, wait_view
from litestar import Litestar
from nats.js import JetStreamContext

from tests.support.polling import eventually

pytestmark = pytest.mark.integration


def cache_of(app: Litestar) -> ViewCache:
    return provide_view_cache(app.state)


async def get_view(client: Client, run_id: str, etag: str | None = None) -> tuple[int, str, Any]:
    headers = {} if etag is None else {"If-None-Match": etag}
    r = await client.get(f"/api/v1/runs/{run_id}", headers=headers)
    assert r.status_code in (200, 304), r.text
    return r.status_code, r.headers["etag"], r.json() if r.status_code == 200 else r.content


async def succeeded_run(client: Client, js: JetStreamContext) -> Run:
    run = Run()
    await publish_all(
        js,
        [
            *run.opened(),
            run.succeeded(0, 0),
            run.succeeded(0, 1),
            run.batch_completed(0),
            *run.batch_started(1),
            run.succeeded(1, 0),
            run.succeeded(1, 1),
            run.batch_completed(1),
            RunSucceeded(run_id=run.id),
        ],
    )
    await wait_view(client, run.id, "run succeeded", status="succeeded")
    return run


async def test_a_running_runs_view_is_never_cached_and_follows_the_projector(
    client: Client, app: Litestar, js: JetStreamContext
) -> None:
    run = Run()
    await publish_all(js, run.opened())
    await wait_view(client, run.id, "run running", status="running")
    _, first_tag, first = await get_view(client, run.id)
    assert cache_of(app).get(run.id) is None

    await publish_all(js, [run.started(0, 0)])

    async def started() -> tuple[str, Any] | None:
        status, tag, view = await get_view(client, run.id, etag=first_tag)
        if status == 304:
            assert tasks_of(first)[run.tasks[0][0]]["status"] == "queued"
            return None
        # A new tag with the task still queued: an earlier event of the run (another task's
        # `task.queued`) projected since the first read; the started one is still to come.
        return (tag, view) if tasks_of(view)[run.tasks[0][0]]["status"] == "running" else None

    tag, _ = await eventually(started, what="the view to show the task started")
    assert tag != first_tag
    assert cache_of(app).get(run.id) is None


async def test_an_etag_named_in_if_none_match_is_a_304_without_a_body(
    client: Client, app: Litestar, js: JetStreamContext
) -> None:
    run = await succeeded_run(client, js)
    r = await client.get(f"/api/v1/runs/{run.id}")
    tag, body = r.headers["etag"], r.content
    cached = cache_of(app).get(run.id)
    assert cached is not None and cached.body == body  # an ended run's view is cached

    for named in (tag, f"W/{tag}", f'"other", {tag}', "*"):
        again = await client.get(f"/api/v1/runs/{run.id}", headers={"If-None-Match": named})
        assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", tag)
    # another tag, or none: the view, byte for byte the same, from the cache
    for headers in ({"If-None-Match": '"v0"'}, {}):
        again = await client.get(f"/api/v1/runs/{run.id}", headers=headers)
        assert (again.status_code, again.content, again.headers["etag"]) == (200, body, tag)


async def test_a_replay_reopening_a_halted_run_changes_its_etag(
    client: Client, app: Litestar, js: JetStreamContext
) -> None:
    run = Run()
    await publish_all(
        js,
        [
            *run.opened(),
            run.succeeded(0, 0),
            TaskFailed(
                run_id=run.id,
                task_id=run.tasks[0][1],
                attempt=1,
                error_code=FailureCode.VERIFICATION_FAILED,
                message="failed",
            ),
            run.batch_completed(0, succeeded=False),
            RunHalted(run_id=run.id, batch_index=0, failed_tasks=[run.tasks[0][1]]),
        ],
    )
    await wait_view(client, run.id, "run halted", status="halted")
    _, halted_tag, _ = await get_view(client, run.id)
    assert cache_of(app).get(run.id) is not None
    assert (await get_view(client, run.id, etag=halted_tag))[0] == 304

    await publish_all(js, [run.queued(0, 1, attempt=2)])  # what a replay makes the planner say
    await wait_view(client, run.id, "run re-opened", status="running")
    status, tag, view = await get_view(client, run.id, etag=halted_tag)
    assert (status, view["status"]) == (200, "running") and tag != halted_tag
    assert cache_of(app).get(run.id) is None


async def test_a_finished_run_that_changes_again_changes_its_etag(
    client: Client, js: JetStreamContext
) -> None:
    run = await succeeded_run(client, js)
    _, tag, _ = await get_view(client, run.id)
    merged = PullRequestRef(url="https://example.test/pr/7", number=7, state="merged")
    await publish_all(js, [PullRequestUpdated(run_id=run.id, pull_request=merged)])

    async def changed() -> Any:
        status, new_tag, view = await get_view(client, run.id, etag=tag)
        return (new_tag, view) if status == 200 else None

    new_tag, view = await eventually(changed, what="the merged pull request in the view")
    assert new_tag != tag and view["pull_request"]["state"] == "merged"


class CountedPool(NamedTuple):
    pool: asyncpg.Pool
    sent: list[str]
    """Every statement the pool's one connection sent, as asyncpg logs it."""
    reset: str
    """The statement the pool sends when a connection is released (the pool's, not ours)."""

    async def statements_of(self, call: Any, *args: Any, **kwargs: Any) -> list[str]:
        """The statements `call(pool, …)` sent."""
        self.sent.clear()
        await call(self.pool, *args, **kwargs)
        # The logger is called soon after each statement: the release's reset comes last.
        await eventually(lambda: self.reset in self.sent or None, what="the release logged")
        return [q for q in self.sent if q != self.reset]


@pytest.fixture
async def counted_pool(database_url: str) -> AsyncIterator[CountedPool]:
    sent: list[str] = []

    async def init(conn: asyncpg.Connection) -> None:
        conn.add_query_logger(lambda record: sent.append(record.query))

    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1, init=init)
    assert pool is not None
    async with pool.acquire() as conn:
        reset = conn.get_reset_query()
    await eventually(lambda: reset in sent or None, what="the first release logged")
    yield CountedPool(pool, sent, reset)
    await pool.close()


async def test_one_statement_per_view_cached_or_not_and_per_list(
    client: Client, js: JetStreamContext, counted_pool: CountedPool
) -> None:
    run = await succeeded_run(client, js)
    cache = ViewCache()
    # the connection's first use of the statement (asyncpg may introspect types once)
    await queries.read_run_view(counted_pool.pool, run.id)

    read = await counted_pool.statements_of(viewing.encoded_run_view, cache, run.id)
    assert len(read) == 1 and cache.get(run.id) is not None
    from_cache = await counted_pool.statements_of(viewing.encoded_run_view, cache, run.id)
    assert from_cache == read  # the same statement, answering with the version only
    listed = await counted_pool.statements_of(queries.list_runs, status=None, limit=50)
    assert len(listed) == 1


async def test_a_trusted_view_is_served_without_a_statement(
    client: Client, js: JetStreamContext, counted_pool: CountedPool
) -> None:
    run = await succeeded_run(client, js)
    cache = ViewCache()
    cache.start_trusting()
    await queries.read_run_view(counted_pool.pool, run.id)

    async def view_then_probe(pool: asyncpg.Pool) -> None:
        await viewing.encoded_run_view(pool, cache, run.id)
        await pool.fetchval("SELECT 'probe'")

    read = await counted_pool.statements_of(view_then_probe)
    assert len(read) == 2
    cached = cache.get(run.id)
    assert cached is not None and cached.trusted
    assert await counted_pool.statements_of(view_then_probe) == ["SELECT 'probe'"]
    # asked to wait for an event, the route reads PostgreSQL whatever the cache holds
    fresh = await counted_pool.statements_of(viewing.encoded_run_view, cache, run.id, fresh=True)
    assert len(fresh) == 1


def _held(cache: ViewCache, run_id: str) -> tuple[int, bytes, bool] | None:
    cached = cache.get(run_id)
    return None if cached is None else (cached.version, cached.body, cached.trusted)


def test_only_views_read_while_every_change_is_heard_are_trusted() -> None:
    cache = ViewCache()
    cache.put("a", 1, b"a1", cache.generation)
    assert _held(cache, "a") == (1, b"a1", False)  # nobody listens: checked before served
    started = cache.generation
    cache.start_trusting()
    cache.put("a", 1, b"a1", started)  # read before listening began: may have missed a change
    assert _held(cache, "a") == (1, b"a1", False)
    cache.put("a", 1, b"a1", cache.generation)
    assert _held(cache, "a") == (1, b"a1", True)

    started = cache.generation  # a read of "b" starts...
    cache.changed("a")  # ...while another ended run changes
    cache.put("b", 2, b"b2", started)
    assert _held(cache, "a") is None and _held(cache, "b") == (2, b"b2", False)
    cache.put("b", 2, b"b2", cache.generation)

    cache.stop_trusting()  # the listener's connection is lost: kept, but checked again
    assert _held(cache, "b") == (2, b"b2", False)
    assert len(cache) == 1 and cache.size == 2


def test_a_trusted_view_is_checked_again_after_a_while() -> None:
    cache = ViewCache()
    cache.start_trusting()
    cache.put("a", 1, b"a1", cache.generation)
    cached = cache.get("a")
    assert cached is not None
    assert cached.serve_unchecked(cached.checked_at + TRUST_S - 1)
    assert not cached.serve_unchecked(cached.checked_at + TRUST_S)


async def test_an_operators_update_of_an_ended_run_reaches_the_cache(
    client: Client, app: Litestar, js: JetStreamContext, database_url: str
) -> None:
    run = await succeeded_run(client, js)
    cache = cache_of(app)
    await eventually(lambda: cache.listening or None, what="the gateway listening")

    async def trusted_tag() -> str | None:
        _, tag, _ = await get_view(client, run.id)
        cached = cache.get(run.id)
        return tag if cached is not None and cached.trusted else None

    tag = await eventually(trusted_tag, what="the view cached and trusted")
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE runs SET version = nextval('run_view_versions') WHERE id = $1", run.id
        )
    finally:
        await conn.close()

    async def new_tag() -> str | None:
        _, now, _ = await get_view(client, run.id)
        return now if now != tag else None

    assert await eventually(new_tag, what="the run's new version served") != tag
