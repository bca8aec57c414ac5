"""The dashboard's pages (`/`, `/runs/{id}`, `/runs/{id}/tasks/{task}`, `/dead-letters`,
`/sign-in`) and their assets under `/console/`. Kept out of the OpenAPI schema: that is about
the API. They are open; the data their scripts ask the API for is not (`gateway.auth`).

A page is the same HTML whatever the ids in its path: its script reads them from the address
and asks the API, so an unknown run is the API's 404, shown on the page.
"""

from __future__ import annotations

import functools
from pathlib import Path

from litestar import MediaType, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

STATIC = Path(__file__).parent / "static"
ASSETS_PATH = "/console"

# Nothing from outside the gateway, no inline script or style: the browser enforces it.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@functools.cache
def _page(name: str) -> bytes:
    return (STATIC / name).read_bytes()


def _html(name: str) -> Response[bytes]:
    return Response(_page(name), media_type=MediaType.HTML, headers=PAGE_HEADERS)


@get("/", include_in_schema=False)
async def runs_page() -> Response[bytes]:
    return _html("runs.html")


@get("/runs/{run_id:str}", include_in_schema=False)
async def run_page() -> Response[bytes]:
    return _html("run.html")


@get("/runs/{run_id:str}/tasks/{task_id:str}", include_in_schema=False)
async def task_page() -> Response[bytes]:
    return _html("task.html")


@get("/dead-letters", include_in_schema=False)
async def dead_letters_page() -> Response[bytes]:
    return _html("dead-letters.html")


@get("/sign-in", include_in_schema=False)
async def sign_in_page() -> Response[bytes]:
    return _html("sign-in.html")


assets = create_static_files_router(
    path=ASSETS_PATH,
    directories=[STATIC],
    name="console-assets",
    cache_control=CacheControlHeader(no_cache=True),  # revalidated: an upgrade shows at once
    include_in_schema=False,
)

ROUTES: list[ControllerRouterHandler] = [
    runs_page,
    run_page,
    task_page,
    dead_letters_page,
    sign_in_page,
    assets,
]
