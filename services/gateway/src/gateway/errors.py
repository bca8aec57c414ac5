"""The exception handlers: every failure becomes a JSON answer.

Shape (litestar's own): `{"status_code", "detail", "extra"?}`. The domain errors of
`gateway.domain_errors` map to their statuses here and nowhere else: bad input is a 400
naming the field, a path or remote the settings do not allow a 403 naming the setting, an
unknown run, task or plan file a 404, a state that does not allow the request a 409, a plan or
body over its size limit a 413, a reused Idempotency-Key a 422, PostgreSQL or NATS being down
a 503; anything else is a 500 carrying a request id that is also in the log, never a stack trace.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import nats.errors
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.types import ExceptionHandlersMap

from gateway.domain_errors import (
    AgentUnavailable,
    Conflict,
    GatewayError,
    IdempotencyMismatch,
    InvalidRequest,
    NotFound,
    NotPermitted,
    TooLarge,
    Unavailable,
)
from gateway.readmodel.db_errors import is_db_unavailable

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
RETRY_AFTER = {"Retry-After": "5"}
_TOO_LARGE = HTTP_413_REQUEST_ENTITY_TOO_LARGE
BODY_SIZE_SETTING = "CC_GATEWAY_MAX_BODY_BYTES"


def _json(
    status_code: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(
        content=body, status_code=status_code, media_type=MediaType.JSON, headers=headers
    )


def _body(status_code: int, detail: str, **more: Any) -> dict[str, Any]:
    return {"status_code": status_code, "detail": detail, **more}


def answer(exc: GatewayError) -> Response[Any]:
    """The HTTP answer to a domain error."""
    match exc:
        case InvalidRequest():
            extra = [{"key": f, "message": exc.message, "source": exc.source} for f in exc.fields]
            body = _body(HTTP_400_BAD_REQUEST, exc.message, extra=extra)
            if exc.candidates:
                body["candidates"] = exc.candidates
            return _json(HTTP_400_BAD_REQUEST, body)
        case NotFound():
            return _json(HTTP_404_NOT_FOUND, _body(HTTP_404_NOT_FOUND, str(exc)))
        case AgentUnavailable():
            checked = {"agent": exc.agent, "executors": exc.executors}
            return _json(HTTP_409_CONFLICT, _body(HTTP_409_CONFLICT, exc.message, extra=checked))
        case Conflict():
            body = _body(HTTP_409_CONFLICT, exc.message)
            if exc.candidates:
                body["candidates"] = exc.candidates
            return _json(HTTP_409_CONFLICT, body)
        case NotPermitted() | TooLarge():
            status = HTTP_403_FORBIDDEN if isinstance(exc, NotPermitted) else _TOO_LARGE
            extra = [{"key": exc.field, "message": exc.message, "source": exc.source}]
            return _json(status, _body(status, exc.message, extra=extra, setting=exc.setting))
        case IdempotencyMismatch():
            extra = [{"key": "Idempotency-Key", "message": "reused", "source": "header"}]
            status = HTTP_422_UNPROCESSABLE_ENTITY
            return _json(status, _body(status, str(exc), extra=extra))
        case Unavailable():
            status = HTTP_503_SERVICE_UNAVAILABLE
            return _json(status, _body(status, str(exc)), RETRY_AFTER)
    raise TypeError(f"no HTTP answer for {type(exc).__name__}")  # pragma: no cover


def _domain_error(_: Request[Any, Any, Any], exc: GatewayError) -> Response[Any]:
    return answer(exc)


def _too_deep(request: Request[Any, Any, Any], _exc: RecursionError) -> Response[Any]:
    # msgspec gives up on deeply nested JSON with a RecursionError while litestar decodes
    # the body: that is the client's input, not our bug.
    log.info("refused a too deeply nested body in %s %s", request.method, request.url.path)
    detail = "request body is nested too deeply"
    return _json(HTTP_400_BAD_REQUEST, _body(HTTP_400_BAD_REQUEST, detail))


def _body_too_large(request: Request[Any, Any, Any], _exc: Exception) -> Response[Any]:
    limit = request.route_handler.resolve_request_max_body_size()
    detail = f"the request body is larger than {limit} bytes ({BODY_SIZE_SETTING})"
    body = _body(_TOO_LARGE, detail, setting=BODY_SIZE_SETTING)
    return _json(_TOO_LARGE, body)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Every exception no other handler claimed (and HTTP 500s)."""
    if isinstance(exc, HTTPException) and exc.status_code != HTTP_500_INTERNAL_SERVER_ERROR:
        body = _body(exc.status_code, exc.detail)
        return _json(exc.status_code, body, dict(exc.headers or {}))
    if is_db_unavailable(exc):
        log.warning("PostgreSQL unavailable in %s %s: %s", request.method, request.url.path, exc)
        return answer(Unavailable("PostgreSQL", type(exc).__name__))
    if isinstance(exc, nats.errors.Error):
        log.warning("NATS unavailable in %s %s: %s", request.method, request.url.path, exc)
        return answer(Unavailable("NATS", type(exc).__name__))
    request_id = request.headers.get(REQUEST_ID_HEADER) or str(uuid.uuid4())
    log.error(
        "unexpected error in %s %s (request %s)",
        request.method,
        request.url.path,
        request_id[:100],
        exc_info=exc,
    )
    return _json(
        HTTP_500_INTERNAL_SERVER_ERROR,
        _body(
            HTTP_500_INTERNAL_SERVER_ERROR,
            "internal error; the gateway's log has the details under this request id",
            request_id=request_id[:100],
        ),
        {REQUEST_ID_HEADER: request_id[:100]},
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    GatewayError: _domain_error,
    RecursionError: _too_deep,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE: _body_too_large,
    HTTP_500_INTERNAL_SERVER_ERROR: _unexpected,
}
