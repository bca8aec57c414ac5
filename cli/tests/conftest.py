"""The CLI's tests: a real gateway process (with a real nats-server and PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from commandcenter.servers import NatsServer, free_port


@pytest.fixture
def gateway(
    nats_server: NatsServer, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """`python -m gateway` as the stack runs it; yields its URL. The admin token it makes at
    start is the CLI's `CC_TOKEN` for the test."""
    port = free_port()
    env = {
        **os.environ,
        "CC_NATS_URL": nats_server.url,
        "CC_DATABASE_URL": database_url,
        "CC_GATEWAY_PORT": str(port),
        "CC_PLAN_ROOT": str(tmp_path),
        "CC_LOG_FORMAT": "json",
        "CC_BOOTSTRAP_TOKEN_FILE": str(tmp_path / "admin.token"),
        # Plans and repositories the tests make in tmp_path, besides the checkout's own.
        "CC_ALLOWED_ROOTS": os.pathsep.join((str(Path.cwd()), str(tmp_path))),
    }
    log_path = tmp_path / "gateway.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        monkeypatch.setenv("CC_TOKEN", (tmp_path / "admin.token").read_text().strip())
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
