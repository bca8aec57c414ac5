"""Tokens against a real gateway (real PostgreSQL and nats-server): every API route refuses a
request without a token, a scope missing is a 403, a revocation works at the next request,
the dashboard's cookie works for the event streams, runs record the token's name."""

from __future__ import annotations

import dataclasses
import stat
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway.app import create_app
from gateway.auth.policy import OPEN, POLICY
from gateway.settings import Settings
from gateway_support import Run, api_routes, only_events, publish_all, sse_events, wait_view
from litestar import Litestar
from litestar.testing import AsyncTestClient
from nats.js import JetStreamContext

from tests.support.polling import eventually

pytestmark = pytest.mark.integration

Client = AsyncTestClient[Litestar]
SSE = {"Accept": "text/event-stream"}
MAX_STREAMS = 2


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared settings with a small stream cap, to reach it cheaply."""
    return dataclasses.replace(settings, sse_max_per_token=MAX_STREAMS)


def concrete(template: str) -> str:
    """A path of the template with made-up ids."""
    return (
        template.replace("{task_number}", "1.1").replace("{token}", "someone").format_map(_AnyId())
    )


class _AnyId(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return str(uuid.uuid4())


async def without_auth(client: Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """A request of the client, minus the admin token it sends by default."""
    request = client.build_request(method, path, **kwargs)
    del request.headers["Authorization"]
    return await client.send(request)


async def new_token(client: Client, name: str, *scopes: str) -> dict[str, str]:
    r = await client.post("/api/v1/tokens", json={"name": name, "scopes": list(scopes)})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def test_every_api_route_refuses_a_request_without_a_token(client: Client) -> None:
    # The app's own routes, not the policy's list: a route added without a scope is caught.
    guarded = [r for r in api_routes(client.app) if POLICY.get(r) != OPEN]
    assert len(guarded) >= 20
    for method, template in guarded:
        r = await without_auth(client, method, concrete(template), json={})
        assert r.status_code == 401, (method, template, r.text)
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert "token" in r.json()["detail"]
    # What stays open.
    for path in ("/health", "/ready", "/schema/openapi.json", "/", "/sign-in", "/metrics"):
        assert (await without_auth(client, "GET", path)).status_code == 200, path


async def test_a_bad_token_is_a_401_and_a_missing_scope_a_403(client: Client) -> None:
    for header in ("Bearer nonsense", "Bearer cc_" + "A" * 43, "Basic YWRtaW46YWRtaW4=", "Bearer"):
        r = await client.get("/api/v1/runs", headers={"Authorization": header})
        assert r.status_code == 401, header
        assert r.headers["WWW-Authenticate"].startswith("Bearer")

    reader = await new_token(client, "reader", "runs:read")
    assert (await client.get("/api/v1/runs", headers=reader)).status_code == 200
    assert (await client.get("/api/v1/dead-letters", headers=reader)).status_code == 200
    for method, path, body in (
        ("POST", "/api/v1/runs", {"plan_path": "docs/plans/TWO.md"}),
        ("POST", "/api/v1/plans/parse", {"plan_path": "docs/plans/TWO.md"}),
        ("POST", f"/api/v1/runs/{uuid.uuid4()}/cancel", {}),
        ("GET", "/api/v1/tokens", None),
    ):
        r = await client.request(method, path, json=body, headers=reader)
        assert r.status_code == 403, (path, r.text)
        assert "reader" in r.json()["detail"] and "lacks the scope" in r.json()["detail"]
    # The scope is checked before the body: no 400 tells a reader what a valid body is.
    r = await client.post("/api/v1/runs", json={"nonsense": 1}, headers=reader)
    assert r.status_code == 403


async def test_tokens_are_listed_without_secrets_and_a_revocation_works_at_once(
    client: Client,
) -> None:
    ci = await new_token(client, "ci", "runs:read", "runs:write")
    assert (await client.get("/api/v1/runs", headers=ci)).status_code == 200

    listed = (await client.get("/api/v1/tokens")).json()
    by_name = {t["name"]: t for t in listed["items"]}
    assert by_name["ci"]["scopes"] == ["runs:read", "runs:write"]
    assert by_name["ci"]["last_used_at"] is not None  # just used
    assert by_name["admin"]["scopes"] == ["admin"]
    assert "token" not in by_name["ci"] and ci["Authorization"][7:] not in str(listed)

    again = await client.post("/api/v1/tokens", json={"name": "ci", "scopes": ["runs:read"]})
    assert again.status_code == 409
    bad = await client.post("/api/v1/tokens", json={"name": "x", "scopes": ["root"]})
    assert bad.status_code == 400
    assert (
        await client.post("/api/v1/tokens", json={"name": "x", "scopes": []})
    ).status_code == 400

    assert (await client.delete("/api/v1/tokens/ci")).status_code == 204
    r = await client.get("/api/v1/runs", headers=ci)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert (await client.delete("/api/v1/tokens/ci")).status_code == 404
    everything = (await client.get("/api/v1/tokens?include_revoked=true")).json()
    assert [t["revoked_at"] is not None for t in everything["items"] if t["name"] == "ci"] == [True]
    # The name is free again.
    await new_token(client, "ci", "runs:read")


async def test_what_a_token_asks_for_is_recorded_under_its_name(
    client: Client, js: JetStreamContext
) -> None:
    ops = await new_token(client, "ops", "control", "runs:read")
    run = Run()
    await publish_all(js, [*run.opened(), run.started(0, 0)])
    await wait_view(client, run.id, "the run running", status="running")
    r = await client.post(
        f"/api/v1/runs/{run.id}/cancel", headers={**ops, "X-Requested-By": "somebody-else"}
    )
    assert r.status_code == 202, r.text
    view = await wait_view(client, run.id, "the run cancelled", status="cancelled")
    assert view["error"] == "cancelled by ops"

    writer = await new_token(client, "ci-writer", "runs:write", "runs:read")
    started = await client.post(
        "/api/v1/runs", json={"plan_path": "docs/plans/TWO.md"}, headers=writer
    )
    assert started.status_code == 202, started.text
    run_view = await wait_view(client, started.json()["id"], "the run stored")
    assert run_view["requested_by"] == "ci-writer"


async def test_the_admin_token_is_made_once_and_kept_private(
    settings: Settings,
    client: Client,  # noqa: ARG001 - the gateway that made the token
) -> None:
    path = settings.bootstrap_token_file
    assert path is not None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text()
    # A second gateway on the same database finds the admin token and writes nothing.
    async with AsyncTestClient(create_app(settings)) as second:
        second.headers["Authorization"] = f"Bearer {first.strip()}"
        assert (await second.get("/api/v1/session")).json()["name"] == "admin"
    assert path.read_text() == first


async def test_the_dashboard_signs_in_with_a_cookie_that_opens_the_event_streams(
    live_url: str, auth: dict[str, str]
) -> None:
    token = auth["Authorization"].removeprefix("Bearer ")
    async with httpx.AsyncClient(base_url=live_url, timeout=30) as browser:
        refused = await browser.post("/api/v1/session", json={"token": "cc_" + "B" * 43})
        assert refused.status_code == 401
        assert (await browser.get("/api/v1/events", headers=SSE)).status_code == 401

        signed_in = await browser.post("/api/v1/session", json={"token": token})
        assert signed_in.status_code == 200
        assert signed_in.json() == {"name": "admin", "scopes": ["admin"], "auth": True}
        cookie = signed_in.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        assert (await browser.get("/api/v1/session")).json() == {
            "name": "admin",
            "scopes": ["admin"],
            "auth": True,
        }
        async with browser.stream("GET", "/api/v1/events", headers=SSE) as stream:
            assert stream.status_code == 200
            first = await anext(only_events(sse_events(stream.aiter_lines())))
            assert first.event == "ready"

        # A change from another site with the cookie is refused.
        other = await browser.post(
            "/api/v1/tokens",
            json={"name": "evil", "scopes": ["admin"]},
            headers={"Origin": "https://evil.example"},
        )
        assert other.status_code == 403

        assert (await browser.delete("/api/v1/session")).json() == {"signed_out": True}
        assert (await browser.get("/api/v1/runs")).status_code == 401


async def test_a_token_may_hold_only_so_many_event_streams(
    live_url: str, auth: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=live_url, timeout=30, headers=auth) as http:

        async def open_stream() -> httpx.Response:
            return await http.send(
                http.build_request("GET", "/api/v1/events", headers=SSE), stream=True
            )

        held = [await open_stream() for _ in range(MAX_STREAMS)]
        assert [r.status_code for r in held] == [200] * MAX_STREAMS
        refused = await open_stream()
        assert refused.status_code == 429
        assert "CC_SSE_MAX_PER_TOKEN" in (await refused.aread()).decode()
        await refused.aclose()

        await held.pop().aclose()  # the client leaves: its slot comes back

        async def reopened() -> httpx.Response | None:
            r = await open_stream()
            if r.status_code == 200:
                return r
            await r.aclose()
            return None

        held.append(await eventually(reopened, what="a stream slot to come back"))
        for r in held:
            await r.aclose()


async def test_the_openapi_document_declares_the_token_and_its_refusals(client: Client) -> None:
    doc = (await client.get("/schema/openapi.json")).json()
    assert doc["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"
    for (method, template), need in POLICY.items():
        operation = doc["paths"][template][method.lower()]
        if need == OPEN:  # signing in: no token needed (a bad one in the body is its 401)
            assert not operation.get("security"), template
            continue
        assert "401" in operation["responses"], template
        assert {"BearerToken": []} in operation["security"], template
    assert "429" in doc["paths"]["/api/v1/events"]["get"]["responses"]
    assert "security" not in doc["paths"]["/health"]["get"]


@pytest.fixture
def auth_off_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, auth=False, bootstrap_token_file=None)


async def test_with_auth_off_nobody_is_checked_and_the_log_says_so(
    auth_off_settings: Settings, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    async with AsyncTestClient(create_app(auth_off_settings)) as anyone:
        r = await anyone.get("/api/v1/runs")
        assert r.status_code == 200
        me = (await anyone.get("/api/v1/session")).json()
        assert (me["name"], me["auth"]) == ("anonymous", False)
    warnings = [
        r for r in caplog.records if r.levelname == "WARNING" and "CC_AUTH=off" in r.message
    ]
    assert warnings and "OPEN" in warnings[0].message
    assert not (tmp_path / "admin.token").exists()
