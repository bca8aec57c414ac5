"""Schema migrations: applied once, in order, even by two gateways starting together."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from gateway.readmodel.migrate import Migration, MigrationError, load_migrations, migrate

pytestmark = pytest.mark.integration

TABLES = {
    "runs",
    "batches",
    "tasks",
    "events",
    "idempotency_keys",
    "dead_letters",
    "api_tokens",
    "schema_migrations",
}


async def _tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {row["tablename"] for row in rows}


async def test_migrations_apply_once(database_url: str) -> None:
    shipped = load_migrations()
    assert [m.version for m in shipped] == sorted(m.version for m in shipped)
    assert shipped[0].name == "0001_init.sql"

    conn = await asyncpg.connect(database_url)
    try:
        assert await migrate(conn) == [m.name for m in shipped]
        assert await _tables(conn) == TABLES
        assert await migrate(conn) == []  # the second time: nothing to do
        recorded = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
        assert [(r["version"], r["name"]) for r in recorded] == [
            (m.version, m.name) for m in shipped
        ]
    finally:
        await conn.close()


async def test_two_gateways_migrating_at_once_do_not_race(database_url: str) -> None:
    conns = [await asyncpg.connect(database_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        applied = [r for r in results if r]
        assert len(applied) == 1, results
        assert await _tables(conns[0]) == TABLES
    finally:
        for c in conns:
            await c.close()


async def test_a_failing_migration_applies_nothing(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await migrate(conn)
        broken = [
            *load_migrations(),
            Migration(9001, "9001_good.sql", "CREATE TABLE extra_one (id int)"),
            Migration(9002, "9002_bad.sql", "CREATE TABLE extra_two (id nonsense_type)"),
        ]
        with pytest.raises(MigrationError, match=r"9002_bad\.sql"):
            await migrate(conn, broken)
        assert "extra_one" not in await _tables(conn)
        latest = max(m.version for m in load_migrations())
        assert await conn.fetchval("SELECT max(version) FROM schema_migrations") == latest
    finally:
        await conn.close()
