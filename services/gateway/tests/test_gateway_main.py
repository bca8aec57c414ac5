"""`python -m gateway`: serves until SIGTERM, then stops cleanly and quickly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from commandcenter.servers import NatsServer, free_port

pytestmark = pytest.mark.integration


def test_runs_until_sigterm(nats_server: NatsServer, database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CC_NATS_URL": nats_server.url,
        "CC_DATABASE_URL": database_url,
        "CC_GATEWAY_PORT": str(port),
        "CC_PLAN_ROOT": str(tmp_path),
        "CC_LOG_FORMAT": "json",
    }
    log = (tmp_path / "gateway.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        assert ready is not None and ready.status_code == 200, (
            tmp_path / "gateway.log"
        ).read_text()
        body = ready.json()
        assert body.pop("jetstream")["streams"], body  # each stream's replicas and leader
        assert body == {"nats": "ok", "postgres": "ok", "streams": "ok", "executors": []}

        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert time.monotonic() - started < 20
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    output = (tmp_path / "gateway.log").read_text()
    assert '"service": "gateway"' in output  # structured JSON logs
    assert "gateway stopped" in output  # the lifespan closed NATS, the pool, the projector


def test_refuses_to_start_without_a_database_url(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_")}
    result = subprocess.run(
        [sys.executable, "-m", "gateway"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "CC_DATABASE_URL" in result.stderr
