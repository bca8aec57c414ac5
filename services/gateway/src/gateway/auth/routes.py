"""Tokens (`/api/v1/tokens`, admin) and the dashboard's session (`/api/v1/session`: sign in
with a token, who am I, sign out) over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from litestar import Request, Response, delete, get, post
from litestar.datastructures import Cookie, State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from litestar.types import ControllerRouterHandler

from gateway.api_schema import refusals
from gateway.auth import store
from gateway.auth.guard import NOBODY, SESSION_COOKIE, Principal, principal_of, unauthorized
from gateway.auth.schemas import (
    SessionView,
    SignedOut,
    SignIn,
    TokenCreated,
    TokenList,
    TokenRequest,
    TokenView,
)
from gateway.auth.token_secrets import looks_like_token
from gateway.domain_errors import Conflict, NotFound
from gateway.resources import opened
from gateway.settings import Settings

SESSION_MAX_AGE_S = 12 * 3600


def _view(record: store.TokenRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "scopes": list(record.scopes),
        "created_at": record.created_at,
        "last_used_at": record.last_used_at,
        "revoked_at": record.revoked_at,
    }


@post(
    "/api/v1/tokens",
    status_code=HTTP_201_CREATED,
    tags=["tokens"],
    summary="Create a token (its secret is in this answer only)",
    responses=refusals(409),  # a live token has that name
)
async def create_token(
    data: JSONBody[TokenRequest], pool: NamedDependency[asyncpg.Pool]
) -> TokenCreated:
    try:
        async with pool.acquire() as conn:
            record, secret = await store.issue(conn, data.name, list(data.scopes))
    except store.NameTaken:
        taken = f"a live token is named {data.name!r} already: revoke it or pick another"
        raise Conflict(taken) from None
    return TokenCreated(token=secret, **_view(record))


@get("/api/v1/tokens", tags=["tokens"], summary="The tokens (never their secrets)")
async def list_tokens(
    pool: NamedDependency[asyncpg.Pool],
    include_revoked: Annotated[
        bool, QueryParameter(required=False, description="revoked tokens too")
    ] = False,
) -> TokenList:
    records = await store.list_tokens(pool, include_revoked=include_revoked)
    return TokenList(items=[TokenView(**_view(r)) for r in records], count=len(records))


@delete(
    "/api/v1/tokens/{token:str}",
    status_code=HTTP_204_NO_CONTENT,
    tags=["tokens"],
    summary="Revoke a token, by id or name: it stops working at once",
    responses=refusals(404),
)
async def revoke_token(token: FromPath[str], state: State) -> None:
    resources = opened(state)
    revoked = await store.revoke(resources.pool, token)
    if revoked is None:
        raise NotFound(f"live token {token[:100]!r}")
    # PostgreSQL tells every gateway (its notification comes a moment later); this one knows now
    resources.tokens.changed(revoked.id)


def _session_cookie(request: Request[Any, Any, Any], value: str, max_age: int) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=value,
        path="/",
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


@post(
    "/api/v1/session",
    status_code=HTTP_200_OK,
    tags=["session"],
    summary="Sign the dashboard in with a token: it is kept in an HttpOnly session cookie",
    security=[],
    responses=refusals(401),  # the token is unknown or revoked
)
async def sign_in(
    data: JSONBody[SignIn],
    request: Request[Any, Any, Any],
    pool: NamedDependency[asyncpg.Pool],
    settings: NamedDependency[Settings],
) -> Response[SessionView]:
    if not settings.auth:  # nothing to keep: nobody is checked
        return Response(SessionView(name=NOBODY.name, scopes=list(NOBODY.scopes), auth=False))
    record = None
    if looks_like_token(data.token):
        record = await store.authenticate(pool, data.token)
    if record is None:
        raise unauthorized("the token is unknown or revoked", "invalid_token")
    cookie = _session_cookie(request, data.token, SESSION_MAX_AGE_S)
    who = SessionView(name=record.name, scopes=list(record.scopes), auth=True)
    return Response(who, cookies=[cookie])


@get("/api/v1/session", tags=["session"], summary="Who the caller is: the token's name, scopes")
async def whoami(
    request: Request[Any, Any, Any], settings: NamedDependency[Settings]
) -> SessionView:
    who: Principal | None = principal_of(request)
    assert who is not None  # the guard put it there
    return SessionView(name=who.name, scopes=list(who.scopes), auth=settings.auth)


@delete(
    "/api/v1/session",
    status_code=HTTP_200_OK,
    tags=["session"],
    summary="Sign out: the session cookie is cleared",
)
async def sign_out(request: Request[Any, Any, Any]) -> Response[SignedOut]:
    cookie = _session_cookie(request, "", 0)
    return Response(SignedOut(signed_out=True), cookies=[cookie])


ROUTES: list[ControllerRouterHandler] = [
    create_token,
    list_tokens,
    revoke_token,
    sign_in,
    whoami,
    sign_out,
]
