"""The gateway's PostgreSQL pool on a real server: a connection goes back without a reset
statement (a round trip per request saved), and never with a transaction left open."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from gateway.resources import create_pool

from tests.support.polling import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, max_size=1, command_timeout=10)
    yield pool
    await pool.close()


async def test_a_released_connection_sends_nothing_more(pool: asyncpg.Pool) -> None:
    sent: list[str] = []
    async with pool.acquire() as conn:
        conn.add_query_logger(lambda record: sent.append(record.query))
        assert await conn.fetchval("SELECT 1") == 1
    async with pool.acquire() as conn:  # the same connection (max_size 1), still logging
        assert await conn.fetchval("SELECT 2") == 2
    await eventually(lambda: "SELECT 2" in sent or None, what="the second statement logged")
    assert sent == ["SELECT 1", "SELECT 2"]  # no reset statement between the two uses


async def test_a_transaction_left_open_is_rolled_back_at_release(pool: asyncpg.Pool) -> None:
    conn = await pool.acquire()
    await conn.execute("CREATE TEMP TABLE IF NOT EXISTS scratch (n int)")
    transaction = conn.transaction()
    await transaction.start()
    await conn.execute("INSERT INTO scratch VALUES (1)")
    await pool.release(conn)  # a handler that failed between BEGIN and COMMIT
    async with pool.acquire() as again:
        assert not again.is_in_transaction()
        assert await again.fetchval("SELECT count(*) FROM scratch") == 0
