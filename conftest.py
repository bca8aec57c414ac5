"""Fixtures shared by every test package: real servers on free ports, real git repositories.

The servers are started by `commandcenter.servers`, the same code `commandcenter up` uses.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from cc_bus.permissions import OPERATOR, SERVICE_USERS
from commandcenter.gitfixtures import GitSandbox, make_git_sandbox
from commandcenter.servers import NatsCluster, NatsServer, PostgresServer


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A fresh nats-server with JetStream per test: streams have fixed names, so no sharing."""
    server = NatsServer(tmp_path / "nats").start()
    yield server
    server.stop()


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    """Three nats-server nodes forming one JetStream cluster on loopback, with the services'
    users and permissions on (`cluster.url_as(user)`), as `up --nats-cluster 3` starts them."""
    users = {user: f"pw-{user}-{uuid.uuid4().hex[:8]}" for user in (*SERVICE_USERS, OPERATOR)}
    cluster = NatsCluster(tmp_path / "nats-cluster", size=3, users=users).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    # Not under pytest's basetemp: every pytest session resets that tree to mode 0700, which
    # would lock PostgreSQL (running as its own system user) out of a concurrent session's data.
    root = Path(tempfile.mkdtemp(prefix="cc-test-pg-"))
    server = PostgresServer(root / "data").start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def database_url(pg_server: PostgresServer) -> Iterator[str]:
    """A new, empty database on the session's PostgreSQL, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(pg_server.admin_uri)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    yield pg_server.admin_uri.replace("/postgres?", f"/{name}?", 1)
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def git_sandbox(tmp_path: Path) -> GitSandbox:
    """A repository with one commit on `main` and a bare repository as its `origin`."""
    return make_git_sandbox(tmp_path / "git")


@pytest.fixture(scope="session", autouse=True)
def _git_identity() -> None:
    if shutil.which("git") is None:
        pytest.exit("git is required", returncode=2)
    subprocess.run(["git", "--version"], check=True, capture_output=True)


FIXTURE_PLANS = Path(__file__).parent / "tests" / "fixtures" / "plans"
"""Copies of the real plans written for the old system (../shared/fixtures/plans)."""


@pytest.fixture
def fixture_plans() -> Path:
    return FIXTURE_PLANS
