"""`commandcenter up` as a user runs it: a process that starts everything and stops it on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from commandcenter.main import main
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


def test_up_serves_the_gateway_and_ctrl_c_stops_every_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
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
        # Not the default port and data directory: the banner says how to reach it elsewhere.
        lines.append(proc.stdout.readline())
        export = f"export CC_GATEWAY_URL=http://127.0.0.1:{port} CC_DATA_DIR={tmp_path / 'cc'}"
        assert any(export in line for line in lines), lines
        ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=10)
        assert ready.status_code == 200, ready.text
        # The first start made an admin token, for the owner's eyes only, and said where.
        token_file = tmp_path / "cc" / "admin.token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert any(str(token_file) in line for line in lines), lines
        token = token_file.read_text().strip()
        assert not any(token in line for line in lines)  # never printed
        runs = f"http://127.0.0.1:{port}/api/v1/runs"
        assert httpx.get(runs, timeout=10).status_code == 401
        ok = httpx.get(runs, timeout=10, headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        # The CLI finds the stack of its data directory, and sends that token by itself.
        monkeypatch.delenv("CC_TOKEN", raising=False)
        monkeypatch.delenv("CC_GATEWAY_URL", raising=False)
        capsys.readouterr()
        assert main(["runs", "--json", "--data-dir", str(tmp_path / "cc")]) == 0
        assert json.loads(capsys.readouterr().out) == []
        assert main(["status", "--data-dir", str(tmp_path / "cc")]) == 0
        assert capsys.readouterr().out == "no runs yet\n"
        main(["preflight", "--data-dir", str(tmp_path / "cc")])  # agents decide its status
        found = f"http://127.0.0.1:{port} (the stack of {tmp_path / 'cc'})"
        assert f"ok  gateway        {found}" in capsys.readouterr().out
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
