"""API tokens in PostgreSQL (`api_tokens`, migration 0005): issue, find by secret, list,
revoke. Plain functions over a connection or the pool; nothing of HTTP."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg
from commandcenter_contracts import new_id

from gateway.auth.token_secrets import new_secret, same_hash, secret_hash
from gateway.readmodel.sql import Connection

LAST_USE_EVERY = dt.timedelta(seconds=60)
"""`last_used_at` is written at most this often per token: not a write per request."""


class NameTaken(Exception):
    """A live token already has this name."""


@dataclass(frozen=True)
class TokenRecord:
    id: str
    name: str
    scopes: tuple[str, ...]
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


_COLUMNS = "id, name, scopes, created_at, last_used_at, revoked_at"


def _record(row: asyncpg.Record) -> TokenRecord:
    return TokenRecord(
        id=row["id"],
        name=row["name"],
        scopes=tuple(row["scopes"]),
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


async def issue(conn: Connection, name: str, scopes: list[str]) -> tuple[TokenRecord, str]:
    """A new token: its record and its secret (the only time the secret exists in clear)."""
    secret = new_secret()
    try:
        row = await conn.fetchrow(
            f"INSERT INTO api_tokens (id, name, scopes, secret_hash) VALUES ($1, $2, $3, $4)"
            f" RETURNING {_COLUMNS}",
            new_id(),
            name,
            sorted(set(scopes)),
            secret_hash(secret),
        )
    except asyncpg.UniqueViolationError as exc:
        raise NameTaken(name) from exc
    assert row is not None
    return _record(row), secret


async def authenticate(pool: asyncpg.Pool, secret: str) -> TokenRecord | None:
    """The live token with this secret (None: unknown or revoked); its last use refreshed
    when it is older than `LAST_USE_EVERY`."""
    digest = secret_hash(secret)
    row = await pool.fetchrow(
        f"SELECT {_COLUMNS}, secret_hash FROM api_tokens"
        " WHERE secret_hash = $1 AND revoked_at IS NULL",
        digest,
    )
    if row is None or not same_hash(row["secret_hash"], digest):
        return None
    record = _record(row)
    now = dt.datetime.now(dt.UTC)
    if record.last_used_at is None or now - record.last_used_at >= LAST_USE_EVERY:
        await pool.execute("UPDATE api_tokens SET last_used_at = now() WHERE id = $1", record.id)
    return record


async def list_tokens(pool: asyncpg.Pool, *, include_revoked: bool) -> list[TokenRecord]:
    where = "" if include_revoked else " WHERE revoked_at IS NULL"
    rows = await pool.fetch(f"SELECT {_COLUMNS} FROM api_tokens{where} ORDER BY created_at")
    return [_record(row) for row in rows]


async def revoke(pool: asyncpg.Pool, id_or_name: str) -> TokenRecord | None:
    """Revoke the live token with this id or name; None when there is none."""
    row = await pool.fetchrow(
        f"UPDATE api_tokens SET revoked_at = now()"
        f" WHERE revoked_at IS NULL AND (id = $1 OR name = $1) RETURNING {_COLUMNS}",
        id_or_name,
    )
    return None if row is None else _record(row)


async def has_live_admin(conn: Connection) -> bool:
    found = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM api_tokens"
        " WHERE revoked_at IS NULL AND 'admin' = ANY (scopes))"
    )
    return bool(found)


async def name_is_free(conn: Connection, name: str) -> bool:
    taken = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM api_tokens WHERE revoked_at IS NULL AND name = $1)", name
    )
    return not taken
