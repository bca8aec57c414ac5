"""The `Idempotency-Key` flow of `POST /runs` and the replays (one key space):

1. `earlier`: a stored answer under the key is answered again (`Idempotent-Replayed: true`),
   or refused (`IdempotencyMismatch`, a 422) when it was given to a different request;
2. the use case checks and prepares its work;
3. `claim`: the key and the answer are recorded, in the use case's transaction, before
   anything is published; a concurrent request that claimed the key first wins, and its
   answer is given instead;
4. `release`: a request that then failed frees its key, so the client's retry starts afresh.

Without a key every step is a no-op.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any, Generic, TypeAlias, TypeVar

import asyncpg
import msgspec

from gateway.domain_errors import IdempotencyMismatch
from gateway.readmodel.sql import Connection

T = TypeVar("T", bound=msgspec.Struct)
Db: TypeAlias = asyncpg.Pool | Connection
"""A pool, or a connection (in a transaction when the caller opened one)."""

REPLAYED_HEADER = "Idempotent-Replayed"


def request_hash(value: Any) -> str:
    """What identifies a request's content: the same key with another hash is refused."""
    return hashlib.sha256(msgspec.json.encode(value)).hexdigest()


@dataclass(frozen=True)
class Answer(Generic[T]):
    body: T
    replayed: bool = False
    """True when an earlier request with the same Idempotency-Key gave this answer."""

    @property
    def headers(self) -> dict[str, str]:
        return {REPLAYED_HEADER: "true"} if self.replayed else {}


@dataclass(frozen=True)
class Idempotency(Generic[T]):
    """One request's key, the hash of its content and the type of its answer."""

    key: str | None
    request_hash: str
    answer_type: type[T]

    async def earlier(self, db: Db) -> Answer[T] | None:
        """The answer stored under the key, if any."""
        if self.key is None:
            return None
        return await self._stored(db, self.key)

    async def claim(self, db: Db, run_id: str, answer: T) -> Answer[T] | None:
        """Record `answer` under the key (in the transaction of `db`, a connection, if it has
        one). None: the key is ours, go on; else the answer of a concurrent request that
        holds it."""
        if self.key is None:
            return None
        claimed = await db.fetchval(
            """
            INSERT INTO idempotency_keys (key, run_id, request_hash, response)
            VALUES ($1, $2, $3, $4::jsonb)
            ON CONFLICT (key) DO NOTHING
            RETURNING 1
            """,
            self.key,
            uuid.UUID(run_id),
            self.request_hash,
            msgspec.json.encode(answer).decode(),
        )
        if claimed is not None:
            return None
        return await self._stored(db, self.key)

    async def release(self, pool: asyncpg.Pool) -> None:
        """Free the key of a request that did not go through."""
        if self.key is not None:
            await pool.execute("DELETE FROM idempotency_keys WHERE key = $1", self.key)

    async def _stored(self, db: Db, key: str) -> Answer[T] | None:
        row = await db.fetchrow(
            "SELECT request_hash, response FROM idempotency_keys WHERE key = $1", key
        )
        if row is None:
            return None
        if row["request_hash"] != self.request_hash:
            raise IdempotencyMismatch()
        return Answer(msgspec.json.decode(row["response"], type=self.answer_type), replayed=True)
