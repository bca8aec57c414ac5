"""A SIGKILLed executor leaves nothing behind that can spoil the redelivery of its task.

The agent dies with its executor (PR_SET_PDEATHSIG). What the agent itself started does not
(Linux clears the death signal for grandchildren), so the redelivery runs in a worktree of its
own and removes the earlier delivery's: a late write of the orphan, by absolute path as coding
agents write, can never land in the checkout the next attempt commits.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
from cc_taskrunner.process import process_alive
from commandcenter.gitfixtures import GitSandbox, git
from commandcenter.servers import NatsServer
from commandcenter_contracts import TaskSucceeded, new_id
from executor_local_support import bus, executor_env, make_task, spawn_executor

from tests.support.executors import exists, python_agent, read_lines
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

# Started by the first agent and left behind: waits until the second agent runs, then writes
# into the first agent's checkout by absolute path, and reports how that went.
LATE_WRITER = """
import os, pathlib, sys, time
marks, workdir = pathlib.Path(sys.argv[1]), sys.argv[2]
(marks / "late.pid").write_text(str(os.getpid()))
deadline = time.time() + 60
while not (marks / "agent-2").exists() and time.time() < deadline:
    time.sleep(0.05)
try:
    pathlib.Path(workdir, "out.txt").write_text("written by the orphan\\n")
    result = "wrote"
except OSError as exc:
    result = f"could not write: {exc}"
(marks / "late.done").write_text(result)
"""

# Run 1 starts the late writer and then works "forever"; run 2 writes its own file and waits
# until the orphan has made its move, so the move happens while run 2's checkout is in use.
AGENT = """
import os, pathlib, subprocess, sys, time
marks, late = pathlib.Path(sys.argv[1]), sys.argv[2]
workdir = os.environ["CC_WORKDIR"]
run = len(list(marks.glob("agent-*"))) + 1
(marks / f"agent-{run}").write_text(f"{os.getpid()} {workdir}")
if run == 1:
    subprocess.Popen([sys.executable, "-c", late, str(marks), workdir])
    time.sleep(300)
pathlib.Path(workdir, "out.txt").write_text("written by agent 2\\n")
deadline = time.time() + 30
while not (marks / "late.done").exists() and time.time() < deadline:
    time.sleep(0.05)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
async def test_nothing_a_killed_executor_left_running_reaches_the_redelivery(
    nats_server: NatsServer, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    base = git(git_sandbox.repo, "rev-parse", "HEAD").strip()
    env = executor_env(nats_server.url, tmp_path, CC_ACK_WAIT_S="3", CC_HEARTBEAT_S="0.5")
    first = spawn_executor(env, tmp_path / "first.log")
    second = None
    late_pid = 0
    try:
        async with bus(nats_server) as client:
            task = make_task(
                git_sandbox, new_id(), agent=python_agent(AGENT, str(marks), LATE_WRITER)
            )
            await client.publish(task)
            await eventually(
                (marks / "late.pid").exists, within_s=60, what="the agent", detail=first.log
            )
            agent_pid, first_workdir = (marks / "agent-1").read_text().split(" ", 1)
            late_pid = int((marks / "late.pid").read_text())

            first.kill()  # SIGKILL
            # the agent died with its executor; what it started lives on, an orphan
            await eventually(
                lambda: not process_alive(int(agent_pid)), within_s=10, what="the agent gone"
            )
            assert process_alive(late_pid)

            second = spawn_executor(env, tmp_path / "second.log")
            await client.wait_for(lambda: bool(client.of(task.task_id, TaskSucceeded)), within_s=90)
            (outcome,) = client.of(task.task_id, TaskSucceeded)
        assert second.terminate(timeout=30) == 0, second.log()
    finally:
        first.kill()
        if second is not None:
            second.kill()
        if late_pid and process_alive(late_pid):
            os.kill(late_pid, signal.SIGKILL)

    assert outcome.attempt == 2, outcome
    second_workdir = (marks / "agent-2").read_text().split(" ", 1)[1]
    assert second_workdir != first_workdir  # a checkout per delivery
    # the orphan struck while agent 2 ran, into the first checkout, removed by then
    assert read_lines(marks / "late.done")[0].startswith("could not write"), read_lines(
        marks / "late.done"
    )
    assert not exists(Path(first_workdir))
    assert git_sandbox.file_at(task.branch, "out.txt") == "written by agent 2\n"
    assert git_sandbox.commits_between(base, task.branch) == [outcome.commit]
