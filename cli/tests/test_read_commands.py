"""`runs`, `logs`, `open` and following a run, against a real gateway process (with a real
nats-server and PostgreSQL): what they print, how they pick a task, how they fail, and that a
closed pipe ends them quietly."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import httpx
import pytest
from cli_support import auth_headers, bus, halted_run, publish_logs, wait
from commandcenter.commands import follow_run
from commandcenter.main import main
from commandcenter.servers import NatsServer
from commandcenter_contracts import (
    BatchSelection,
    BatchStarted,
    LogLine,
    PlannedBatch,
    PlannedTask,
    RunAccepted,
    RunPlanned,
    TaskStarted,
    TaskSucceeded,
)
from rich.console import Console

from tests.support.polling import eventually_sync

pytestmark = pytest.mark.integration


def _lines(run_id: str, task_id: str, *texts: str, attempt: int = 1) -> list[LogLine]:
    return [LogLine(run_id=run_id, task_id=task_id, attempt=attempt, line=t) for t in texts]


def _running_run(nats_url: str, url: str) -> tuple[str, str]:
    """A run whose only task (1.1) is running."""
    run_id, task_id = str(uuid.uuid4()), str(uuid.uuid4())
    bus(
        nats_url,
        RunAccepted(
            run_id=run_id, mode="local", plan_path="/p.md", selection=BatchSelection(), repo="/r"
        ),
        RunPlanned(
            run_id=run_id,
            batches=[
                PlannedBatch(
                    index=0,
                    phase=None,
                    number="1",
                    title="One",
                    tasks=[
                        PlannedTask(task_id=task_id, plan_task_id="1.1", title="T", branch="cc/t")
                    ],
                )
            ],
        ),
        BatchStarted(run_id=run_id, batch_index=0),
        TaskStarted(run_id=run_id, task_id=task_id),
    )
    wait(
        url,
        f"/api/v1/runs/{run_id}",
        lambda v: v.get("counts", {}).get("running") == 1,
        "the task to run",
    )
    return run_id, task_id


def _cli(*argv: str) -> list[str]:
    return [sys.executable, "-m", "commandcenter.main", *argv]


def test_runs_lists_the_runs_newest_first(
    gateway: str, nats_server: NatsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "--gateway", gateway]) == 0
    assert capsys.readouterr().out == "no runs yet\n"

    older, _ = halted_run(nats_server.url, gateway)
    newer, _ = halted_run(nats_server.url, gateway)
    assert main(["runs", "--gateway", gateway]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [newer, older]
    assert lines[0].split()[1:4] == ["halted", "local", "1/3"]
    assert lines[0].endswith("  /p.md")

    assert main(["runs", "--status", "running", "--gateway", gateway]) == 0
    assert capsys.readouterr().out == "no running runs\n"
    assert main(["runs", "--limit", "1", "--json", "--gateway", gateway]) == 0
    assert [item["id"] for item in json.loads(capsys.readouterr().out)] == [newer]
    # `status` without a run id keeps its own line
    assert main(["status", "--gateway", gateway]) == 0
    assert f"{newer}  halted     local   /p.md" in capsys.readouterr().out


def test_logs_of_a_task_by_its_plan_id_or_its_id(
    gateway: str, nats_server: NatsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    first_run, first_tasks = halted_run(nats_server.url, gateway)
    run_id, tasks = halted_run(nats_server.url, gateway)
    publish_logs(nats_server.url, *_lines(first_run, first_tasks[1], "old run"))
    publish_logs(nats_server.url, *_lines(run_id, tasks[1], "first line", "second line"))

    # a plan id without --run: the newest run that has such a task
    assert main(["logs", "1.2", "--gateway", gateway]) == 0
    captured = capsys.readouterr()
    assert captured.out == "first line\nsecond line\n"
    assert f"log of task 1.2 T1 ({tasks[1]}) of run {run_id}: attempt 1, failed" in captured.err

    assert main(["logs", "1.2", "--run", first_run, "--gateway", gateway]) == 0
    assert capsys.readouterr().out == "old run\n"
    assert main(["logs", tasks[1], "--run", run_id, "--gateway", gateway]) == 0
    assert capsys.readouterr().out == "first line\nsecond line\n"
    assert main(["logs", first_tasks[1], "--gateway", gateway]) == 0  # an id: in any run
    assert capsys.readouterr().out == "old run\n"
    assert main(["logs", tasks[0], "--gateway", gateway]) == 0  # no output (yet): nothing
    assert capsys.readouterr().out == ""

    assert main(["logs", "9.9", "--gateway", gateway]) == 2
    assert "no task 9.9 in the 2 newest run(s)" in capsys.readouterr().err
    assert main(["logs", "9.9", "--run", run_id, "--gateway", gateway]) == 2
    assert f"run {run_id} has no task 9.9" in capsys.readouterr().err
    missing = str(uuid.uuid4())
    assert main(["logs", "1.2", "--run", missing, "--gateway", gateway]) == 2
    assert capsys.readouterr().err == f"commandcenter: run {missing} not found\n"


def test_logs_follow_streams_the_output_until_the_task_ends(
    gateway: str, nats_server: NatsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id, task_id = _running_run(nats_server.url, gateway)
    publish_logs(nats_server.url, *_lines(run_id, task_id, "one"))
    result: list[int] = []
    follower = threading.Thread(
        target=lambda: result.append(main(["logs", "1.1", "--follow", "--gateway", gateway])),
        daemon=True,
    )
    follower.start()
    seen: list[str] = []

    def printed(text: str) -> bool:
        seen.append(capsys.readouterr().out)
        return text in "".join(seen)

    eventually_sync(lambda: printed("one\n"), within_s=30, what="the first line")
    publish_logs(nats_server.url, *_lines(run_id, task_id, "two"), first_seq=2)
    eventually_sync(lambda: printed("two\n"), within_s=30, what="a line written while following")
    assert follower.is_alive(), "the task still runs: the log goes on"

    bus(
        nats_server.url,
        TaskSucceeded(run_id=run_id, task_id=task_id, branch="cc/t", commit="c" * 40),
    )
    follower.join(timeout=60)
    assert not follower.is_alive(), "the task has ended: so has its log"
    assert result == [0]
    seen.append(capsys.readouterr().out)
    assert "".join(seen) == "one\ntwo\n"


def test_following_a_run_draws_it_live_on_a_terminal_and_as_lines_elsewhere(
    gateway: str, nats_server: NatsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id, _ = halted_run(nats_server.url, gateway)
    with httpx.Client(base_url=gateway, headers=auth_headers()) as http:
        out = io.StringIO()
        console = Console(file=out, force_terminal=True, width=120, color_system="standard")
        assert follow_run(http, run_id, console=console) == 1  # halted: not a success
        drawn = out.getvalue()
        assert "\x1b[" in drawn and "1/3" in drawn and "3/3" in drawn
        assert "run halted after batch 1" in drawn

        assert follow_run(http, run_id) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "planned 1 batch(es), 3 task(s)"
    assert lines[-1].startswith("run halted after batch 1")
    assert "\x1b[" not in "".join(lines)


def test_open_prints_the_dashboard_address_and_opens_it_only_with_a_display(
    gateway: str, nats_server: NatsServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run_id, _ = halted_run(nats_server.url, gateway)
    assert main(["open", run_id, "--print-only", "--gateway", gateway]) == 0
    assert capsys.readouterr().out == f"{gateway}/runs/{run_id}\n"
    missing = str(uuid.uuid4())
    assert main(["open", missing, "--print-only", "--gateway", gateway]) == 2
    assert capsys.readouterr().err == f"commandcenter: run {missing} not found\n"

    # a "browser" that notes what it was asked to open (webbrowser runs $BROWSER first)
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\necho "$1" >> {opened}\n')
    browser.chmod(browser.stat().st_mode | stat.S_IXUSR)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["BROWSER"] = str(browser)

    headless = subprocess.run(  # noqa: S603 - our own command
        _cli("open", "--gateway", gateway), env=env, capture_output=True, text=True, check=False
    )
    assert (headless.returncode, headless.stdout) == (0, f"{gateway}/\n"), headless.stderr
    assert "no display here" in headless.stderr
    assert not opened.exists()

    shown = subprocess.run(  # noqa: S603 - our own command
        _cli("open", run_id, "--gateway", gateway),
        env={**env, "DISPLAY": ":0"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert opened.read_text() == f"{gateway}/runs/{run_id}\n"


@pytest.mark.parametrize("command", [["runs"], ["status", "RUN"], ["logs", "1.2"]])
def test_a_closed_pipe_ends_a_read_command_without_a_traceback(
    gateway: str, nats_server: NatsServer, command: list[str]
) -> None:
    run_id, tasks = halted_run(nats_server.url, gateway)
    publish_logs(nats_server.url, *_lines(run_id, tasks[1], *(f"line {i}" for i in range(50))))
    argv = [run_id if word == "RUN" else word for word in command]
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head` that has already gone away
    try:
        proc = subprocess.run(  # noqa: S603 - our own command
            _cli(*argv, "--gateway", gateway), stdout=write_end, stderr=subprocess.PIPE, check=False
        )
    finally:
        os.close(write_end)
    stderr = proc.stderr.decode()
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert proc.returncode == 1, stderr
