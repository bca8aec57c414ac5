"""The token and session endpoints' bodies."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from gateway.auth.scopes import ALL_SCOPES

TokenName = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$",
        description="letters, digits and . _ @ - (at most 64); recorded as `requested_by`",
    ),
]
ScopeName = Annotated[str, msgspec.Meta(pattern="^(" + "|".join(ALL_SCOPES) + ")$")]


class TokenRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: TokenName
    scopes: Annotated[list[ScopeName], msgspec.Meta(min_length=1, max_length=len(ALL_SCOPES))]


class TokenView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    scopes: list[str]
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class TokenCreated(TokenView, frozen=True, kw_only=True):
    token: str
    """The secret: shown this once, stored only as its hash."""


class TokenList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[TokenView]
    count: int


class SignIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class SessionView(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    scopes: list[str]
    auth: bool
    """False when the gateway runs with CC_AUTH=off"""


class SignedOut(msgspec.Struct, frozen=True, kw_only=True):
    signed_out: bool
