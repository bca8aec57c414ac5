"""The OpenAPI document says what the guard does: the bearer scheme (and the session cookie)
on every guarded route, with its 401 and 403 answers, and the 429 of the event streams. It is
derived from the same policy the guard enforces, so the two cannot drift apart."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping

import msgspec
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ControllerRouterHandler

from gateway.auth.guard import SESSION_COOKIE
from gateway.auth.policy import OPEN, SIGNED_IN, needs

BEARER = "BearerToken"
COOKIE = "SessionCookie"

COMPONENTS = Components(
    security_schemes={
        BEARER: SecurityScheme(
            type="http",
            scheme="bearer",
            description="An API token (`cc_…`): `commandcenter token create`, or the admin "
            "token `commandcenter up` writes to `<data-dir>/admin.token`.",
        ),
        COOKIE: SecurityScheme(
            type="apiKey",
            name=SESSION_COOKIE,
            security_scheme_in="cookie",
            description="The dashboard's session, set by `POST /api/v1/session`.",
        ),
    }
)

# The routes that answer with an event stream: capped per token (CC_SSE_MAX_PER_TOKEN).
STREAMS = frozenset(
    {"/api/v1/events", "/api/v1/runs/{run_id}/events", "/api/v1/runs/{run_id}/tasks/{task_id}/log"}
)


class AuthError(msgspec.Struct, frozen=True, kw_only=True):
    status_code: int
    detail: str


def _spec(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=AuthError, description=description, generate_examples=False)


UNAUTHORIZED = _spec("No token, or one that is unknown or revoked (`WWW-Authenticate: Bearer`)")
FORBIDDEN = _spec("The token lacks the scope this route needs")
TOO_MANY = _spec("Too many event streams open with this token (CC_SSE_MAX_PER_TOKEN)")


def _template(path: str) -> str:
    """`/api/v1/runs/{run_id:str}` as the router names it: `/api/v1/runs/{run_id}`."""
    parts = []
    for part in path.split("/"):
        if part.startswith("{") and ":" in part:
            part = part.split(":", 1)[0] + "}"
        parts.append(part)
    return "/".join(parts)


def _merged(
    own: Mapping[int, ResponseSpec], ours: Mapping[int, ResponseSpec]
) -> dict[int, ResponseSpec]:
    """The route's answers plus ours; a status both give (403: a scope missing, or a path the
    settings refuse) says both, in the route's own body shape (a superset of ours)."""
    merged = dict(own)
    for status, spec in ours.items():
        if status in merged:
            theirs = merged[status]
            merged[status] = dataclasses.replace(
                theirs, description=f"{spec.description}; or: {theirs.description}"
            )
        else:
            merged[status] = spec
    return merged


def documented(routes: list[ControllerRouterHandler]) -> list[ControllerRouterHandler]:
    """`routes`, each guarded handler a copy carrying its security and its refusals."""
    out: list[ControllerRouterHandler] = []
    for handler in routes:
        if not isinstance(handler, HTTPRouteHandler):
            out.append(handler)
            continue
        path = _template(next(iter(handler.paths)))
        method = next(iter(sorted(handler.http_methods)))
        need = needs(method, path)
        if need is None or need == OPEN:
            out.append(handler)
            continue
        extra = {401: UNAUTHORIZED} if need == SIGNED_IN else {401: UNAUTHORIZED, 403: FORBIDDEN}
        if path in STREAMS:
            extra[429] = TOO_MANY
        guarded = copy.copy(handler)
        guarded.responses = _merged(handler.responses or {}, extra)
        guarded.security = [{BEARER: []}, {COOKIE: []}]
        out.append(guarded)
    return out
