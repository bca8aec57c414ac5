"""API errors and the exception handlers that turn every failure into a JSON answer.

Shape (litestar's own): `{"status_code", "detail", "extra"?}`. Bad input is a 4xx naming the
field; PostgreSQL or NATS being down is a 503; anything else is a 500 carrying a request id
that is also in the log, never a stack trace.
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
    HTTP_404_NOT_FOUND,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.types import ExceptionHandlersMap

from gateway.db.errors import is_db_unavailable
from gateway.run_requests import RunRequestError

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"


class ApiError(Exception):
    """An answer other than success, decided by the gateway (not a crash)."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        *,
        extra: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.extra = extra
        self.headers = headers or {}


def not_found(what: str) -> ApiError:
    return ApiError(HTTP_404_NOT_FOUND, f"{what} not found")


def bad_request(field: str, message: str, *, source: str = "body") -> ApiError:
    return ApiError(
        HTTP_400_BAD_REQUEST,
        message,
        extra=[{"key": field, "message": message, "source": source}],
    )


class ServiceUnavailable(ApiError):
    def __init__(self, dependency: str, reason: str) -> None:
        super().__init__(
            HTTP_503_SERVICE_UNAVAILABLE,
            f"{dependency} is unavailable: {reason}",
            headers={"Retry-After": "5"},
        )


def _json(
    status_code: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(
        content=body, status_code=status_code, media_type=MediaType.JSON, headers=headers
    )


def _api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
    if exc.extra is not None:
        body["extra"] = exc.extra
    return _json(exc.status_code, body, exc.headers)


def _run_request_error(_: Request[Any, Any, Any], exc: RunRequestError) -> Response[Any]:
    body: dict[str, Any] = {
        "status_code": HTTP_400_BAD_REQUEST,
        "detail": exc.message,
        "extra": [{"key": exc.field, "message": exc.message, "source": "body"}],
    }
    if exc.candidates:
        body["candidates"] = exc.candidates
    return _json(HTTP_400_BAD_REQUEST, body)


def _too_deep(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    # msgspec gives up on deeply nested JSON with a RecursionError while litestar decodes
    # the body: that is the client's input, not our bug.
    log.info("refused a too deeply nested body in %s %s", request.method, request.url.path)
    return _api_error(request, ApiError(HTTP_400_BAD_REQUEST, "request body is nested too deeply"))


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Every exception no other handler claimed (and HTTP 500s)."""
    if isinstance(exc, HTTPException) and exc.status_code != HTTP_500_INTERNAL_SERVER_ERROR:
        body = {"status_code": exc.status_code, "detail": exc.detail}
        return _json(exc.status_code, body, dict(exc.headers or {}))
    if is_db_unavailable(exc):
        log.warning("PostgreSQL unavailable in %s %s: %s", request.method, request.url.path, exc)
        return _api_error(request, ServiceUnavailable("PostgreSQL", type(exc).__name__))
    if isinstance(exc, nats.errors.Error):
        log.warning("NATS unavailable in %s %s: %s", request.method, request.url.path, exc)
        return _api_error(request, ServiceUnavailable("NATS", type(exc).__name__))
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
        {
            "status_code": HTTP_500_INTERNAL_SERVER_ERROR,
            "detail": "internal error; the gateway's log has the details under this request id",
            "request_id": request_id[:100],
        },
        {REQUEST_ID_HEADER: request_id[:100]},
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ApiError: _api_error,
    RunRequestError: _run_request_error,
    RecursionError: _too_deep,
    HTTP_500_INTERNAL_SERVER_ERROR: _unexpected,
}
