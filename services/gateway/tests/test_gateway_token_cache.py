"""The gateway's cache of tokens: trusted only while PostgreSQL's revocation notifications
reach it (real PostgreSQL: the trigger of migration 0007, a listener's own connection killed
and coming back), a lookup that raced a revocation never cached, and a token revoked behind
the gateway's back (plain SQL) refused long before the cache's entries expire."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import asyncpg
import pytest
from gateway.auth.store import TokenRecord, issue
from gateway.auth.token_cache import TTL_S, TokenCache
from gateway.notifications import LISTENER_NAME, ChangeListener
from gateway.readmodel.migrate import migrate
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.support.polling import eventually

pytestmark = pytest.mark.integration


_CREATED = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _record(token_id: str = "t1") -> TokenRecord:
    return TokenRecord(token_id, "someone", ("runs:read",), _CREATED, None, None)


def test_the_cache_serves_nothing_while_nobody_listens_for_revocations() -> None:
    cache = TokenCache()
    cache.put(b"k", _record(), cache.generation)
    assert cache.get(b"k") is None
    cache.start_trusting()
    cache.put(b"k", _record(), cache.generation)
    assert cache.get(b"k") == _record()
    cache.stop_trusting()
    assert cache.get(b"k") is None
    cache.start_trusting()
    assert cache.get(b"k") is None  # forgotten, not only hidden


def test_a_lookup_that_raced_a_revocation_is_not_cached() -> None:
    cache = TokenCache()
    cache.start_trusting()
    started = cache.generation  # the lookup reads PostgreSQL from here on...
    cache.changed("t1")  # ...while the token is revoked and its notification comes in
    cache.put(b"k", _record("t1"), started)
    assert cache.get(b"k") is None


def test_entries_expire_and_revocations_drop_only_their_token() -> None:
    cache = TokenCache(ttl_s=0.0)
    cache.start_trusting()
    cache.put(b"k", _record(), cache.generation)
    assert cache.get(b"k") is None
    cache = TokenCache()
    cache.start_trusting()
    cache.put(b"a", _record("t1"), cache.generation)
    cache.put(b"b", _record("t2"), cache.generation)
    cache.changed("t1")
    assert (cache.get(b"a"), cache.get(b"b")) == (None, _record("t2"))


@pytest.fixture
async def tokens_db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    await migrate(conn)
    yield conn
    await conn.close()


async def test_a_revocation_by_plain_sql_reaches_the_listener(
    database_url: str, tokens_db: asyncpg.Connection
) -> None:
    cache = TokenCache()
    listener = ChangeListener(database_url, [cache])
    listener.start()
    try:
        await eventually(lambda: cache.listening or None, what="the listener listening")
        record, _secret = await issue(tokens_db, "cache-probe", ["runs:read"])
        cache.put(b"probe", record, cache.generation)
        assert cache.get(b"probe") == record
        await tokens_db.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = $1", record.id)
        await eventually(lambda: cache.get(b"probe") is None or None, what="the token dropped")

        # its connection killed: nothing served until it listens again, and then from scratch
        other, _ = await issue(tokens_db, "cache-probe-2", ["runs:read"])
        cache.put(b"other", other, cache.generation)
        killed = await tokens_db.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = $1",
            LISTENER_NAME,
        )
        assert killed >= 1
        await eventually(lambda: not cache.listening or None, what="the cache distrusted")
        assert cache.get(b"other") is None
        await eventually(lambda: cache.listening or None, within_s=30, what="listening again")
        assert cache.get(b"other") is None
    finally:
        await listener.close()
    assert not cache.listening


async def test_the_gateway_refuses_a_token_revoked_behind_its_back(
    app: Litestar, client: AsyncTestClient[Litestar], database_url: str
) -> None:
    """Revoked by plain SQL (another gateway, an operator): refused within moments, long
    before the cache's entries would expire."""
    r = await client.post("/api/v1/tokens", json={"name": "behind", "scopes": ["runs:read"]})
    assert r.status_code == 201, r.text
    token = {"Authorization": f"Bearer {r.json()['token']}"}
    await eventually(
        lambda: app.state.resources.tokens.listening or None, what="the gateway listening"
    )
    assert (await client.get("/api/v1/runs", headers=token)).status_code == 200
    assert (await client.get("/api/v1/runs", headers=token)).status_code == 200  # cached
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE name = 'behind'")
    finally:
        await conn.close()

    async def refused() -> bool | None:
        return (await client.get("/api/v1/runs", headers=token)).status_code == 401 or None

    await eventually(refused, within_s=TTL_S / 3, what="the revoked token refused")
    assert (await client.get("/api/v1/runs")).status_code == 200  # the admin token still works
