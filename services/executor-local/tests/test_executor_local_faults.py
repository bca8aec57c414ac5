"""Faults: NATS goes away exactly when the outcome is to be published."""

from __future__ import annotations

from pathlib import Path

import pytest
from commandcenter.gitfixtures import GitSandbox, git
from commandcenter.servers import NatsServer
from commandcenter_contracts import TaskFailed, TaskProgress, TaskStarted, TaskSucceeded, new_id
from executor_local_support import bus, executor_env, make_task, spawn_executor

from tests.support.executors import python_agent, read_lines
from tests.support.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.faults]


async def test_an_outcome_that_cannot_be_published_is_not_acked_and_the_redelivery_is_free(
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
                lambda: "could not publish the outcome" in executor.log(),
                within_s=60,
                what="the executor to notice it cannot publish",
                detail=executor.log,
            )
            assert task.branch in git_sandbox.remote_branches()
            nats_server.start()

            # The redelivery is attempt 2: it recognised the pushed branch (attempt 1's work)
            # instead of running the agent again, and reports attempt 1's commit.
            await client.wait_for(
                lambda: any(e.attempt == 2 for e in client.of(task.task_id, TaskSucceeded))
            )
            (outcome,) = [e for e in client.of(task.task_id, TaskSucceeded) if e.attempt == 2]
            assert outcome.pushed, executor.log()
            steps = [(e.attempt, e.step) for e in client.of(task.task_id, TaskProgress)]
            assert (2, "already_done") in steps
            # attempt 1's outcome may still have got out (the client buffered it while NATS
            # was away): one outcome per attempt at most, and every one names the same commit
            succeeded = client.of(task.task_id, TaskSucceeded)
            assert sorted(e.attempt for e in succeeded) in ([2], [1, 2])
            assert {e.commit for e in succeeded} == {outcome.commit}
            assert not client.of(task.task_id, TaskFailed)
        assert executor.terminate(timeout=30) == 0
    finally:
        executor.kill()
    # the agent ran once; the redelivery found the pushed branch and made no second commit
    assert read_lines(runs) == ["run"]
    assert git_sandbox.commits_between(base, task.branch) == [outcome.commit]
    assert "(delivery 2)" in executor.log()
