"""HTTP request metrics per route template (`/api/v1/runs/{run_id}`, never a path, so run
ids never become label values): the families litestar's Prometheus middleware writes, under
the same names, labels and help texts, for what dashboards already read.

Ours rather than litestar's for its cost per request: it builds a `Request`, a label dict, a
wrapped `send` (`functools.wraps`) and four locked label lookups on every request, about a
tenth of the CPU of the API's most read route (`GET /api/v1/runs/{id}`). Here a request costs
a dict lookup for its label children and a closure.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from litestar.exceptions import HTTPException
from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

PREFIX = "cc_http"
APP_NAME = "gateway"
LABELS = ("method", "path", "status_code", "app_name")

REQUESTS = Counter(f"{PREFIX}_requests_total", "Total requests", LABELS)
DURATION = Histogram(f"{PREFIX}_request_duration_seconds", "Request duration, in seconds", LABELS)
IN_PROGRESS = Gauge(
    f"{PREFIX}_requests_in_progress",
    "Total requests currently in progress",
    LABELS,
    multiprocess_mode="livesum",
)
ERRORS = Counter(f"{PREFIX}_requests_error_total", "Total errors in requests", LABELS)

_IN_PROGRESS_STATUS = "200"
"""What litestar's middleware puts in the in-progress gauge's `status_code` (the answer is not
known yet); kept so the series stay the ones it wrote."""


def _status_of(error: Exception) -> int:
    """The status the app's exception handlers answer an escaped exception with."""
    return error.status_code if isinstance(error, HTTPException) else 500


class HttpMetrics:
    """The app-wide middleware: the first in the app's list, so it sees every route's answer,
    refusals by the auth middleware inside it included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._done: dict[tuple[str, str, int], tuple[Counter, Histogram, Counter | None]] = {}
        self._running: dict[tuple[str, str], Gauge] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind: str = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", kind))  # a websocket's is its scope type, as litestar's
        path = scope["path_template"]
        status: int | None = None

        async def send_seeing_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        running = self._running.get((method, path))
        if running is None:
            running = IN_PROGRESS.labels(method, path, _IN_PROGRESS_STATUS, APP_NAME)
            self._running[(method, path)] = running
        started = time.perf_counter()
        running.inc()
        try:
            await self.app(scope, receive, send_seeing_status)
        except Exception as error:
            # Not answered yet: the app's exception handlers outside this middleware answer it,
            # past this `send`; count what they answer (a refusal by the auth middleware, say).
            # A cancelled request (the server stopping) keeps what it sent, else 200, as
            # litestar's middleware counted it.
            if status is None:
                status = _status_of(error)
            raise
        finally:
            running.dec()
            count, duration, errors = self._children(method, path, status or 200)
            count.inc()
            duration.observe(time.perf_counter() - started)
            if errors is not None:
                errors.inc()

    def _children(
        self, method: str, path: str, status: int
    ) -> tuple[Counter, Histogram, Counter | None]:
        key = (method, path, status)
        found = self._done.get(key)
        if found is None:
            labels = (method, path, str(status), APP_NAME)
            errors = ERRORS.labels(*labels) if status >= 500 else None
            found = (REQUESTS.labels(*labels), DURATION.labels(*labels), errors)
            self._done[key] = found
        return found
