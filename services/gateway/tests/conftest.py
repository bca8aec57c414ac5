"""Gateway test fixtures: the real app (lifespan and all) against the real servers of the root
conftest, plus helpers to publish and read JetStream messages."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import cc_bus
import httpx
import pytest
import uvicorn
from commandcenter.gitfixtures import GitSandbox, git
from commandcenter.servers import NatsServer, free_port
from gateway.app import create_app
from gateway.settings import Settings
from gateway_support import SEED_PLAN, TWO_BY_TWO_PLAN, admin_headers, fixture_plan
from litestar import Litestar
from litestar.testing import AsyncTestClient
from nats.aio.client import Client
from nats.js import JetStreamContext


@pytest.fixture
def plan_repo(git_sandbox: GitSandbox) -> GitSandbox:
    """The sandbox repository with plans committed under docs/plans/."""
    plans = git_sandbox.repo / "docs" / "plans"
    plans.mkdir(parents=True)
    (plans / "SEED_PLAN.md").write_text(SEED_PLAN)
    (plans / "TWO.md").write_text(TWO_BY_TWO_PLAN)
    shutil.copy(fixture_plan("cc4-MASTER_PLAN.md"), plans / "MASTER_PLAN.md")
    git(git_sandbox.repo, "add", "-A")
    git(git_sandbox.repo, "commit", "-q", "-m", "plans")
    return git_sandbox


@pytest.fixture
def settings(
    nats_server: NatsServer,
    database_url: str,
    plan_repo: GitSandbox,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    return Settings(
        database_url=database_url,
        nats_url=nats_server.url,
        plan_root=plan_repo.repo,
        default_agent="plan-follower",
        sse_keepalive_s=0.5,
        startup_timeout_s=30.0,
        request_timeout_s=5.0,
        bootstrap_token_file=tmp_path / "admin.token",  # the admin token the tests use
        # plans and repositories live in pytest's temporary folders (this test's and others')
        allowed_roots=(tmp_path_factory.getbasetemp(),),
    )


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar, settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app, timeout=60) as test_client:
        test_client.headers.update(admin_headers(settings))  # written at start-up
        yield test_client


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[Client]:
    """A test's own NATS connection (the app has its own)."""
    conn = await cc_bus.connect(nats_server.url, name="gateway-tests")
    yield conn
    if not conn.is_closed:
        await conn.close()


@pytest.fixture
async def js(nc: Client) -> JetStreamContext:
    jetstream = nc.jetstream()
    await cc_bus.ensure_streams(jetstream)
    return jetstream


@pytest.fixture
async def live_url(app: Litestar) -> AsyncIterator[str]:
    """The app served by a real uvicorn on a free port (streams are really incremental)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 60
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            server.should_exit = True
            await task
            raise RuntimeError("uvicorn did not start")
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await asyncio.wait_for(task, 30)


@pytest.fixture
def auth(live_url: str, settings: Settings) -> dict[str, str]:  # noqa: ARG001 - started first
    """The admin token's `Authorization` header, for clients of the live server."""
    return admin_headers(settings)


@pytest.fixture
async def live_client(live_url: str, auth: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the live server, for tests that follow event streams: they use no other
    (the in-process `client` would run a second lifespan, sharing its PostgreSQL pool across
    event loops)."""
    async with httpx.AsyncClient(base_url=live_url, timeout=30, headers=auth) as client:
        yield client
