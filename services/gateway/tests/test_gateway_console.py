"""The dashboard's pages and assets as the gateway serves them (no servers needed): HTML with a
policy that keeps everything on the gateway, assets that exist, small pages, nothing of the
console in the API's schema. The pages at work are tested in a real browser (tests/browser)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from gateway.app import create_app
from gateway.console import routes as console
from gateway.settings import Settings
from litestar import Litestar
from litestar.testing import TestClient

PAGES = {
    "/": "runs.html",
    "/runs/8d6a6c1e-0000-4000-8000-000000000001": "run.html",
    "/runs/8d6a6c1e-0000-4000-8000-000000000001/tasks/some-task": "task.html",
    "/dead-letters": "dead-letters.html",
}
PAGE_BUDGET = 100_000  # bytes per page before data: its HTML, CSS and scripts
RESERVED = ("/api/", "/schema", "/health", "/ready", "/metrics")

_ASSET = re.compile(r'(?:src|href)="([^"]+)"')
_IMPORT = re.compile(r'from\s+"([^"]+)"')


@pytest.fixture
def client() -> Iterator[TestClient[Litestar]]:
    # Only the console's routes: serving a page needs neither NATS nor PostgreSQL.
    with TestClient(Litestar(route_handlers=console.ROUTES, logging_config=None)) as test_client:
        yield test_client


def _assets(html: str) -> list[str]:
    return [a for a in _ASSET.findall(html) if a.startswith("/console/")]


def _with_imports(client: TestClient[Litestar], path: str, seen: set[str]) -> None:
    """`path` and every module it imports, transitively, into `seen`."""
    if path in seen:
        return
    seen.add(path)
    if path.endswith(".js"):
        base = path.rsplit("/", 1)[0]
        for target in _IMPORT.findall(client.get(path).text):
            assert target.startswith("./"), f"{path} imports {target} from elsewhere"
            _with_imports(client, f"{base}/{target[2:]}", seen)


@pytest.mark.parametrize(("path", "name"), PAGES.items())
def test_each_page_is_html_that_loads_nothing_from_elsewhere(
    client: TestClient[Litestar], path: str, name: str
) -> None:
    r = client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.content == (console.STATIC / name).read_bytes()
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in r.text and " style=" not in r.text  # the policy forbids inline
    assert '<html lang="en">' in r.text and 'name="viewport"' in r.text
    assert "<main" in r.text and "<nav" in r.text


@pytest.mark.parametrize("path", PAGES)
def test_each_page_with_all_it_loads_stays_under_100_kb(
    client: TestClient[Litestar], path: str
) -> None:
    html = client.get(path).text
    files: set[str] = set()
    for asset in _assets(html):
        _with_imports(client, asset, files)
    assert any(f.endswith(".css") for f in files) and any(f.endswith(".js") for f in files)
    sizes = {}
    for asset in sorted(files):
        r = client.get(asset)
        assert r.status_code == 200, asset
        kind = "text/javascript" if asset.endswith(".js") else "text/css"
        assert r.headers["content-type"].startswith(kind), asset
        sizes[asset] = len(r.content)
    total = len(html.encode()) + sum(sizes.values())
    assert total < PAGE_BUDGET, sizes


def test_no_static_file_names_another_origin() -> None:
    for file in sorted(console.STATIC.iterdir()):
        text = file.read_text()
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", text), file.name
        assert "url(" not in text or file.suffix != ".css", file.name  # no fonts, no images


def test_an_unknown_asset_is_404_and_a_path_outside_is_refused(
    client: TestClient[Litestar],
) -> None:
    assert client.get("/console/nothing.js").status_code == 404
    assert client.get("/console/%2e%2e/routes.py").status_code == 404


def test_pages_are_not_part_of_the_api_schema_and_take_no_reserved_path() -> None:
    settings = Settings(
        database_url="postgresql://nobody@127.0.0.1:1/none", nats_url="nats://127.0.0.1:1"
    )
    app = create_app(settings)  # built, never started: no connection is made
    schema_paths = set(app.openapi_schema.paths or {})
    assert "/api/v1/events" in schema_paths
    pages = {"/", "/runs/{run_id:str}", "/runs/{run_id:str}/tasks/{task_id:str}", "/dead-letters"}
    assert pages <= {route.path for route in app.routes}
    assert not [p for p in pages if p.startswith(RESERVED)]
    for path in schema_paths:
        assert path.startswith(RESERVED), f"{path} is in the API's schema"
    run_view = app.openapi_schema.paths["/api/v1/runs/{run_id}"].get
    assert run_view is not None
    assert "wait_for_event" in {p.name for p in run_view.parameters or []}
