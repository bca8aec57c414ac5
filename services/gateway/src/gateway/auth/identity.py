"""Who asked, as the run-start and control messages record it (`requested_by`): the token's
name. With CC_AUTH=off nobody is known, so the `X-Requested-By` header is taken at its word
(else `anonymous`)."""

from __future__ import annotations

from typing import Any

from litestar import Request

from gateway.auth.guard import principal_of
from gateway.headers import RequestedBy, requester


def provide_requester(request: Request[Any, Any, Any], requested_by: RequestedBy = None) -> str:
    """The `requester` of the handlers that publish a request."""
    who = principal_of(request)
    if who is not None and who.token_id is not None:
        return who.name
    return requester(requested_by)
