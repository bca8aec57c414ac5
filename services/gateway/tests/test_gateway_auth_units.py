"""The token logic without servers: secrets and their hashes, scopes, the route policy (every
API route has one), the cap on event streams, the admin token's file."""

from __future__ import annotations

import gc
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from gateway.app import create_app
from gateway.auth.bootstrap import _write_private
from gateway.auth.openapi import STREAMS
from gateway.auth.policy import OPEN, POLICY, SIGNED_IN, needs
from gateway.auth.scopes import Scope, grants, unknown_scopes
from gateway.auth.sse_limit import SseLimiter
from gateway.auth.token_secrets import looks_like_token, new_secret, secret_hash
from gateway.settings import Settings
from gateway_support import api_routes
from litestar.exceptions import TooManyRequestsException


def test_secrets_are_random_prefixed_and_kept_only_as_a_hash() -> None:
    one, two = new_secret(), new_secret()
    assert one != two
    assert one.startswith("cc_") and len(one) == 46
    assert looks_like_token(one)
    assert secret_hash(one) != secret_hash(two)
    assert len(secret_hash(one)) == 32  # sha256
    for garbage in ("", "cc_", "Bearer x", "cc_" + "a" * 42, "xx_" + one[3:], one + "=", one[:-1]):
        assert not looks_like_token(garbage)


def test_admin_holds_every_scope_and_others_only_their_own() -> None:
    assert grants(["admin"], Scope.CONTROL) and grants(["admin"], Scope.RUNS_WRITE)
    assert grants(["runs:read"], Scope.RUNS_READ)
    assert not grants(["runs:read"], Scope.RUNS_WRITE)
    assert not grants(["runs:write", "control"], Scope.ADMIN)
    assert not grants([], Scope.RUNS_READ)
    assert unknown_scopes(["runs:read", "root", "write"]) == ["root", "write"]


def test_every_api_route_of_the_app_has_its_scope_in_the_policy() -> None:
    routes = api_routes(create_app(Settings(database_url="postgresql://nowhere/x")))
    assert ("POST", "/api/v1/runs") in routes  # the walk found the routes
    missing = sorted(routes - POLICY.keys())
    assert not missing, f"routes without a scope in gateway.auth.policy.POLICY: {missing}"
    stale = sorted(POLICY.keys() - routes)
    assert not stale, f"POLICY names routes the app does not have: {stale}"
    assert {path for _, path in routes} >= STREAMS


def test_the_policy_needs() -> None:
    assert needs("GET", "/api/v1/runs") == Scope.RUNS_READ
    assert needs("HEAD", "/api/v1/runs") == Scope.RUNS_READ
    assert needs("POST", "/api/v1/plans/parse") == Scope.RUNS_WRITE
    assert needs("POST", "/api/v1/runs/{run_id}/cancel") == Scope.CONTROL
    assert needs("DELETE", "/api/v1/tokens/{token}") == Scope.ADMIN
    assert needs("POST", "/api/v1/session") == OPEN
    assert needs("GET", "/api/v1/session") == SIGNED_IN
    assert needs("GET", "/api/v1/not-declared") == Scope.ADMIN  # fails closed
    for open_path in ("/health", "/ready", "/metrics", "/schema/openapi.json", "/", "/sign-in"):
        assert needs("GET", open_path) is None
    assert needs("OPTIONS", "/api/v1/runs") is None


async def _stream() -> AsyncIterator[int]:
    yield 1
    yield 2


async def test_the_stream_cap_counts_per_token_and_gives_slots_back() -> None:
    limiter = SseLimiter(2)
    first = limiter.take("a")
    async with limiter.slot("a") as second:
        pass
    with pytest.raises(TooManyRequestsException) as refused:
        limiter.take("a")
    assert "CC_SSE_MAX_PER_TOKEN" in refused.value.detail
    limiter.take("b").release()  # another token: its own count

    assert [x async for x in second.hold(_stream())] == [1, 2]  # ended: given back
    assert limiter.open_streams("a") == 1
    first.release()
    first.release()  # twice is once
    assert limiter.open_streams("a") == 0


async def test_a_slot_goes_back_when_opening_fails_or_the_stream_never_starts() -> None:
    limiter = SseLimiter(1)
    with pytest.raises(RuntimeError):
        async with limiter.slot("a"):
            raise RuntimeError("the run is unknown")
    assert limiter.open_streams("a") == 0

    held = limiter.take("a").hold(_stream())
    assert limiter.open_streams("a") == 1
    del held  # the response never started: the generator is dropped unstarted
    gc.collect()
    assert limiter.open_streams("a") == 0


def test_the_admin_token_file_is_private_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "data" / "admin.token"
    old_umask = os.umask(0)  # even with a permissive umask
    try:
        _write_private(path, "cc_secret")
        path.chmod(0o644)
        _write_private(path, "cc_other")  # replaced, private again
    finally:
        os.umask(old_umask)
    assert path.read_text() == "cc_other\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["admin.token"]


def test_auth_settings() -> None:
    base = {"CC_DATABASE_URL": "postgresql://x/y"}
    defaults = Settings.from_env(base)
    assert defaults.auth is True and defaults.bootstrap_token_file is None
    assert defaults.sse_max_per_token == 20
    off = Settings.from_env({**base, "CC_AUTH": "off", "CC_SSE_MAX_PER_TOKEN": "3"})
    assert off.auth is False and off.sse_max_per_token == 3
    with pytest.raises(Exception, match="CC_AUTH"):
        Settings.from_env({**base, "CC_AUTH": "maybe"})
    with_file = Settings.from_env({**base, "CC_BOOTSTRAP_TOKEN_FILE": "/d/admin.token"})
    assert with_file.bootstrap_token_file == Path("/d/admin.token")
