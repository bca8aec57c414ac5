"""Ids as people type them, and following runs, against a real gateway process (with a real
nats-server and PostgreSQL): a run by a unique prefix of its id in every command, a task by its
plan id with its run, `status RUN --follow` re-attaching to a run, and Ctrl-C while following
saying that the run goes on.

The runs are announced on the bus with ids chosen here, so that two of them share a prefix."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import bus, publish_logs, stored, wait
from commandcenter.gitfixtures import GitSandbox, git
from commandcenter.main import main
from commandcenter.servers import NatsServer
from commandcenter_contracts import (
    BatchSelection,
    BatchStarted,
    FailureCode,
    LogLine,
    PlannedBatch,
    PlannedTask,
    RunAccepted,
    RunHalted,
    RunPlanned,
    RunSucceeded,
    TaskFailed,
    TaskQueued,
    TaskReplayRefused,
    TaskStarted,
    TaskSucceeded,
    replay_decoder,
    subjects,
)

pytestmark = pytest.mark.integration

HALTED = "abcd1234-0000-4000-8000-00000000000a"
"""Halted: task 1.1 succeeded, 1.2 and 1.3 failed."""
OTHER = "abcd1234-1111-4000-8000-00000000000b"
"""Only accepted; shares `abcd1234` with HALTED."""


def announce(run_id: str, tasks: list[str]) -> tuple[RunAccepted, RunPlanned]:
    """Accepted and planned: one batch of the tasks, 1.1, 1.2, …"""
    planned = PlannedBatch(
        index=0,
        phase=None,
        number="1",
        title="One",
        tasks=[
            PlannedTask(task_id=t, plan_task_id=f"1.{i + 1}", title=f"T{i + 1}", branch=f"cc/{i}")
            for i, t in enumerate(tasks)
        ],
    )
    accepted = RunAccepted(
        run_id=run_id, mode="local", plan_path="/p.md", selection=BatchSelection(), repo="/r"
    )
    return accepted, RunPlanned(run_id=run_id, batches=[planned])


def halted_with_chosen_ids(nats_url: str, url: str) -> list[str]:
    tasks = [str(uuid.uuid4()) for _ in range(3)]
    bus(
        nats_url,
        *announce(HALTED, tasks),
        TaskSucceeded(run_id=HALTED, task_id=tasks[0], branch="cc/0", commit="a" * 40),
        TaskFailed(run_id=HALTED, task_id=tasks[1], error_code=FailureCode.NO_CHANGES),
        TaskFailed(run_id=HALTED, task_id=tasks[2], error_code=FailureCode.NO_CHANGES),
        RunHalted(run_id=HALTED, batch_index=0),
        announce(OTHER, [])[0],
    )
    wait(url, f"/api/v1/runs/{HALTED}", lambda v: v.get("status") == "halted", "the halt")
    wait(url, f"/api/v1/runs/{OTHER}", lambda v: v.get("status") == "accepted", "the other")
    return tasks


def test_short_run_ids_and_plan_task_ids_in_the_commands(
    gateway: str, nats_server: NatsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = halted_with_chosen_ids(nats_server.url, gateway)
    at = ["--gateway", gateway]

    assert main(["status", "abcd12340", "--plain", *at]) == 0
    assert capsys.readouterr().out.startswith(f"run {HALTED}  halted")
    assert main(["status", "abcd", *at]) == 2
    err = capsys.readouterr().err
    assert "ambiguous" in err and HALTED in err and OTHER in err
    assert main(["status", "0000", *at]) == 2
    assert "not found" in capsys.readouterr().err

    publish_logs(nats_server.url, LogLine(run_id=HALTED, task_id=tasks[1], line="it broke"))
    assert main(["logs", "1.2", "--run", "abcd12340", *at]) == 0
    assert capsys.readouterr().out == "it broke\n"

    assert main(["replay", "1.2", *at]) == 2  # a plan id alone: which run's?
    assert "name its run too" in capsys.readouterr().err
    assert main(["replay", "abcd12340", "1.2", *at]) == 0
    assert main(["replay", "abcd12340", tasks[2], *at]) == 0
    out = capsys.readouterr().out
    assert "replay of 1.2 requested: attempt 2" in out and "replay of 1.3" in out
    assert "commandcenter status abcd1234 --follow" in out
    requests = stored(nats_server.url, subjects.STREAM_PHASES, subjects.CONTROL_REPLAY)
    assert [replay_decoder.decode(r).task_id for r in requests] == tasks[1:]

    assert main(["budget", "abcd12340", "5", *at]) == 0
    assert main(["cancel", "abcd-1234-0", *at]) == 0
    assert main(["open", "abcd12340", "--print-only", *at]) == 0
    out = capsys.readouterr().out
    assert f"run {HALTED} (halted): budget $5.00" in out
    assert f"run {HALTED} (halted): cancel requested" in out
    assert f"/runs/{HALTED}" in out


@pytest.fixture
def cli_processes() -> Iterator[list[subprocess.Popen[str]]]:
    """`commandcenter` processes a test starts: none outlives it."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def commandcenter(
    started: list[subprocess.Popen[str]], *argv: str, cwd: Path | None = None
) -> subprocess.Popen[str]:
    """The command line in a process of its own (the gateway fixture set its `CC_TOKEN`)."""
    proc = subprocess.Popen(  # noqa: S603 - our own argv
        [sys.executable, "-m", "commandcenter.main", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    started.append(proc)
    return proc


def read_until(proc: subprocess.Popen[str], text: str) -> str:
    """What the process printed, up to the line containing `text`."""
    assert proc.stdout is not None
    seen = ""
    for line in proc.stdout:
        seen += line
        if text in line:
            return seen
    raise AssertionError(f"{text!r} never came; it printed {seen!r}, {proc.communicate()}")


def test_status_follow_re_attaches_to_a_running_run(
    gateway: str, nats_server: NatsServer, cli_processes: list[subprocess.Popen[str]]
) -> None:
    run_id, task = str(uuid.uuid4()), str(uuid.uuid4())
    bus(
        nats_server.url,
        *announce(run_id, [task]),
        BatchStarted(run_id=run_id, batch_index=0),
        TaskStarted(run_id=run_id, task_id=task),
    )
    wait(gateway, f"/api/v1/runs/{run_id}", lambda v: v.get("status") == "running", "the run")

    proc = commandcenter(cli_processes, "status", run_id[:8], "--follow", "--gateway", gateway)
    so_far = read_until(proc, "▶ 1.1 T1")  # what happened before it came
    assert "planned 1 batch(es), 1 task(s)" in so_far
    bus(
        nats_server.url,
        TaskSucceeded(run_id=run_id, task_id=task, branch="cc/0", commit="b" * 40),
        RunSucceeded(run_id=run_id),
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "✔ 1.1 T1  cc/0 @ bbbbbbbbbb" in out and out.rstrip().endswith("run succeeded")


def test_replay_follow_follows_the_resumed_run(
    gateway: str, nats_server: NatsServer, cli_processes: list[subprocess.Popen[str]]
) -> None:
    tasks = halted_with_chosen_ids(nats_server.url, gateway)
    proc = commandcenter(
        cli_processes, "replay", "abcd12340", "1.2", "--follow", "--gateway", gateway
    )
    read_until(proc, "replay of 1.2 requested: attempt 2")
    # The planner's part: the replayed task queued again, then the run goes on to its end.
    queued = TaskQueued(
        run_id=HALTED, task_id=tasks[1], attempt=2, batch_index=0, plan_task_id="1.2", branch="cc/1"
    )
    bus(nats_server.url, queued)
    so_far = read_until(proc, "run halted")  # the history first: the halt the replay resumes
    assert "✘ 1.2 T2" in so_far  # its failed first attempt
    bus(
        nats_server.url,
        TaskStarted(run_id=HALTED, task_id=tasks[1], attempt=2),
        TaskSucceeded(run_id=HALTED, task_id=tasks[1], attempt=2, branch="cc/1", commit="c" * 40),
        RunSucceeded(run_id=HALTED),
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, (out, err)
    assert "▶ 1.2 T2 (attempt 2)" in out and out.rstrip().endswith("run succeeded")


def test_replay_follow_says_why_the_planner_refused_it(
    gateway: str, nats_server: NatsServer, cli_processes: list[subprocess.Popen[str]]
) -> None:
    """The gateway said 202, the planner then refused (here: another attempt had just been
    dispatched): the command says why and stops, instead of waiting for an attempt that never
    comes and following a run nothing was replayed in."""
    tasks = halted_with_chosen_ids(nats_server.url, gateway)
    proc = commandcenter(
        cli_processes, "replay", "abcd12340", "1.2", "--follow", "--gateway", gateway
    )
    read_until(proc, "replay of 1.2 requested: attempt 2")
    stored_requests = stored(nats_server.url, subjects.STREAM_PHASES, subjects.CONTROL_REPLAY)
    [request] = [r for r in map(replay_decoder.decode, stored_requests) if r.task_id == tasks[1]]
    # Another person's refusal of the same task first: not this command's request.
    bus(
        nats_server.url,
        TaskReplayRefused(run_id=HALTED, task_id=tasks[1], request_id="someone", reason="no"),
        TaskReplayRefused(
            run_id=HALTED,
            task_id=tasks[1],
            request_id=request.request_id,
            reason="attempt 2 of 1.2 was just dispatched",
        ),
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, (out, err)
    assert "the planner refused the replay of 1.2: attempt 2 of 1.2 was just dispatched" in err
    assert "run halted" not in out  # nothing replayed: nothing followed


def test_ctrl_c_while_following_says_the_run_goes_on(
    gateway: str, git_sandbox: GitSandbox, cli_processes: list[subprocess.Popen[str]]
) -> None:
    plan = git_sandbox.repo / "PLAN.md"
    plan.write_text("# P\n## Batch 1: One\n### Task 1.1: Write\nCreate `a.txt`.\n")
    git(git_sandbox.repo, "add", "PLAN.md")
    git(git_sandbox.repo, "commit", "-q", "-m", "plan")

    # No planner here: the run stays accepted, and the command follows it until interrupted.
    proc = commandcenter(cli_processes, "run", str(plan), "--follow", "--gateway", gateway)
    run_id = read_until(proc, "accepted").split()[1]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert f"run {run_id[:8]} goes on" in err
    assert f"commandcenter status {run_id[:8]} --follow" in err
    assert f"commandcenter cancel {run_id[:8]}" in err
    assert "Traceback" not in err
    view = wait(gateway, f"/api/v1/runs/{run_id[:8]}", lambda v: "status" in v, "the run")
    assert view["status"] == "accepted"  # not cancelled by the interrupt
