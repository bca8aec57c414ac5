"""The one guard every route passes (an app-wide middleware): it finds the route's need in the
policy, the caller's token (an `Authorization: Bearer` header, else the dashboard's session
cookie), and refuses with 401 (no token, or one that is unknown or revoked) or 403 (a scope
missing).

A middleware rather than a litestar guard: litestar hands each guard a copy of the route
handler (`copy.copy`, on every request), a twentieth of the CPU of the API's most read route.
It runs after routing, so the route's template is known, inside the HTTP metrics middleware,
so refusals are counted; the app's exception handlers answer what it raises.

A request's token is looked up by hash (one indexed query), or found in the gateway's
`TokenCache`, which PostgreSQL empties of a token the moment it is revoked (or which is not
used at all while the gateway cannot hear that): a revocation takes effect at the next request.
What it found is the connection's `user`: a `Principal`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.types import ASGIApp, Receive, Scope, Send

from gateway.auth import store
from gateway.auth.policy import OPEN, SIGNED_IN, needs
from gateway.auth.scopes import ALL_SCOPES, grants
from gateway.auth.token_secrets import looks_like_token, secret_hash
from gateway.resources import Resources, opened

SESSION_COOKIE = "cc_session"
REALM = 'Bearer realm="commandcenter"'


@dataclass(frozen=True)
class Principal:
    """Who is asking: a token's id, name (what runs record as `requested_by`) and scopes."""

    token_id: str | None
    name: str
    scopes: tuple[str, ...]
    via: str
    """`bearer`, `cookie`, or `off` (CC_AUTH=off: nobody is checked)"""


NOBODY = Principal(token_id=None, name="anonymous", scopes=ALL_SCOPES, via="off")


def unauthorized(detail: str, error: str | None = None) -> NotAuthorizedException:
    challenge = REALM if error is None else f'{REALM}, error="{error}"'
    return NotAuthorizedException(detail=detail, headers={"WWW-Authenticate": challenge})


def credential(connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[str, str] | None:
    """The token the request carries and how: the header wins over the cookie."""
    header = connection.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise unauthorized("expected `Authorization: Bearer <token>`", "invalid_request")
        return value.strip(), "bearer"
    cookie = connection.cookies.get(SESSION_COOKIE)
    return (cookie, "cookie") if cookie else None


async def authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    found = credential(connection)
    if found is None:
        raise unauthorized(
            "this needs an API token: send `Authorization: Bearer <token>` "
            "(`commandcenter up` wrote an admin token to <data-dir>/admin.token)"
        )
    secret, via = found
    record = None
    if looks_like_token(secret):
        record = await _look_up(opened(connection.app.state), secret)
    if record is None:
        raise unauthorized("the token is unknown or revoked", "invalid_token")
    return Principal(token_id=record.id, name=record.name, scopes=record.scopes, via=via)


async def _look_up(resources: Resources, secret: str) -> store.TokenRecord | None:
    """The token from the cache when this gateway hears revocations, else from PostgreSQL."""
    cache = resources.tokens
    digest = secret_hash(secret)
    record = cache.get(digest)
    if record is None:
        generation = cache.generation
        record = await store.authenticate(resources.pool, secret)
        if record is not None:
            cache.put(digest, record, generation)
    return record


def _method(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return str(connection.scope.get("method", "GET"))  # a websocket (none here) is a GET


def _cross_site(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """A change asked with the session cookie from another origin (SameSite=Strict already
    keeps the cookie home; this holds for browsers that ignore it)."""
    origin = connection.headers.get("origin")
    if not origin or _method(connection) in ("GET", "HEAD"):
        return False
    return urlsplit(origin).netloc != connection.headers.get("host", "")


async def check(connection: ASGIConnection[Any, Any, Any, Any], *, enabled: bool) -> None:
    """Let the request through (its `Principal` in the scope's `user`) or raise the refusal
    (`enabled` False: CC_AUTH=off, everyone is `anonymous` admin)."""
    need = needs(_method(connection), connection.scope["path_template"])
    if need is None or need == OPEN:
        return
    if not enabled:
        connection.scope["user"] = NOBODY
        return
    principal = await authenticate(connection)
    if principal.via == "cookie" and _cross_site(connection):
        raise PermissionDeniedException(detail="a cross-site request with the session cookie")
    connection.scope["user"] = principal
    if need == SIGNED_IN or grants(principal.scopes, need):  # type: ignore[arg-type]
        return
    raise PermissionDeniedException(
        detail=f"the token {principal.name!r} lacks the scope `{need}` this needs "
        f"(it has: {', '.join(principal.scopes) or 'none'})",
        headers={"WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="{need}"'},
    )


class AuthMiddleware:
    """`check` before every route (litestar builds one per route, after routing)."""

    def __init__(self, app: ASGIApp, *, enabled: bool) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            await check(ASGIConnection(scope, receive, send), enabled=self.enabled)
        await self.app(scope, receive, send)


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    user = connection.scope.get("user")
    return user if isinstance(user, Principal) else None
