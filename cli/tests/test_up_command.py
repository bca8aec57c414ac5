"""`commandcenter up` as a user runs it: a process that starts everything and stops it on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from commandcenter.servers import free_port

pytestmark = pytest.mark.integration


def _children_alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        stat = Path(f"/proc/{pid}/stat")
        if stat.exists() and stat.read_text().split()[2] != "Z":
            alive.append(pid)
    return alive


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(entry.name)
            found += [child, *_descendants(child)]
    return found


def test_up_serves_the_gateway_and_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603 - our own command
        [
            sys.executable,
            "-m",
            "commandcenter.main",
            "up",
            "--data-dir",
            str(tmp_path / "cc"),
            "--port",
            str(port),
            "--dagger-executors",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "CommandCenter is up" in line:
                break
        assert any(f"http://127.0.0.1:{port}" in line for line in lines), lines
        ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=10)
        assert ready.status_code == 200, ready.text
        services = _descendants(proc.pid)
        assert len(services) >= 4  # nats-server, gateway, planner, executor (+ postgres)

        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=60)[0]
        assert proc.returncode == 0, rest
        assert "stopped" in rest
        deadline = time.monotonic() + 10
        while _children_alive(services) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _children_alive(services) == []
        assert not (tmp_path / "cc" / "stack.json").exists()
        # PostgreSQL daemonizes (not our child): its pid file is gone once it has stopped
        assert not (tmp_path / "cc" / "postgres" / "postmaster.pid").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
