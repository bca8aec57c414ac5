"""Faults: NATS goes away exactly when the outcome is to be published. The executor waits for
it, holding the task message: the outcome of the one run gets out once NATS is back, and no
delivery is spent (a crash at that point is `tests/faults/test_executor_crashes.py`'s, whose
redelivery finds the pushed work)."""

from __future__ import annotations

from pathlib import Path

import pytest
from commandcenter.gitfixtures import GitSandbox, git
from commandcenter.servers import NatsServer
from commandcenter_contracts import TaskFailed, TaskStarted, TaskSucceeded, new_id
from executor_local_support import bus, executor_env, make_task, spawn_executor

from tests.support.executors import python_agent, read_lines
from tests.support.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.faults]


async def test_an_outcome_nats_cannot_take_waits_for_nats_and_the_agent_runs_once(
    nats_server: NatsServer, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    runs = tmp_path / "runs"
    script = (
        "import pathlib, sys, time\n"
        "while not pathlib.Path(sys.argv[1]).exists(): time.sleep(0.05)\n"
        "with open(sys.argv[2], 'a') as fh: fh.write('run\\n')\n"
        "pathlib.Path('result.txt').write_text('result\\n')\n"
    )
    base = git(git_sandbox.repo, "rev-parse", "HEAD").strip()
    executor = spawn_executor(
        executor_env(nats_server.url, tmp_path, CC_ACK_WAIT_S="5", CC_RETRY_DELAY_S="1"),
        tmp_path / "executor.log",
    )
    try:
        async with bus(nats_server) as client:
            task = make_task(git_sandbox, new_id(), agent=python_agent(script, str(go), str(runs)))
            await client.publish(task)
            await client.wait_for(lambda: bool(client.of(task.task_id, TaskStarted)))

            nats_server.stop()  # NATS is down while the agent finishes and the branch is pushed
            go.touch()
            await eventually(
                lambda: "JetStream did not answer the outcome" in executor.log(),
                within_s=60,
                what="the executor to wait for NATS to take the outcome",
                detail=executor.log,
            )
            assert task.branch in git_sandbox.remote_branches()
            nats_server.start()

            await client.wait_for(lambda: bool(client.of(task.task_id, TaskSucceeded)))
            (outcome,) = client.of(task.task_id, TaskSucceeded)
            assert (outcome.attempt, outcome.pushed) == (1, True), executor.log()
            assert not client.of(task.task_id, TaskFailed)
        assert executor.terminate(timeout=30) == 0
    finally:
        executor.kill()
    # the agent ran once, its one commit reported; the message was never handed back
    assert read_lines(runs) == ["run"]
    assert git_sandbox.commits_between(base, task.branch) == [outcome.commit]
    log = executor.log()
    assert "(delivery 1)" in log and "(delivery 2)" not in log, log
    assert "could not publish the outcome" not in log, log
