"""The first admin token: made at start when `CC_BOOTSTRAP_TOKEN_FILE` is set and no live
admin token exists (a fresh database, or every admin token revoked), and written to that file
only (mode 0600, created so): never logged, never printed. `commandcenter up` sets the file to
`<data-dir>/admin.token`; the CLI reads it from there."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import asyncpg

from gateway.auth import store
from gateway.auth.scopes import Scope

log = logging.getLogger(__name__)

BOOTSTRAP_NAME = "admin"
_LOCK_KEY = 0x43435F544F4B  # "CC_TOK": two gateways starting together make one token


async def ensure_admin_token(pool: asyncpg.Pool, path: Path) -> bool:
    """Make the first admin token and write it to `path`; False when one exists already."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        if await store.has_live_admin(conn):
            if not await asyncio.to_thread(path.exists):
                log.warning(
                    "%s does not exist, but admin tokens do: it is not written again "
                    "(revoke every admin token and restart to get a new one there)",
                    path,
                )
            return False
        name = BOOTSTRAP_NAME
        if not await store.name_is_free(conn, name):
            name = f"{BOOTSTRAP_NAME}-bootstrap"
        record, secret = await store.issue(conn, name, [Scope.ADMIN])
        # Written inside the transaction: a token nobody can read is never committed.
        await asyncio.to_thread(_write_private, path, secret)
    log.info("created the admin token %r (id %s) in %s", record.name, record.id, path)
    return True


def _write_private(path: Path, secret: str) -> None:
    """`secret` in a file only its owner may read, created with that mode (no window in which
    it is readable by others), replacing any older file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask or an older file said
        os.write(fd, f"{secret}\n".encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
