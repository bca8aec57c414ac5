"""`python -m executor_local` as deployed: separate processes on one durable consumer."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from cc_taskrunner.process import process_alive
from commandcenter.gitfixtures import GitSandbox, git
from commandcenter.servers import NatsServer
from commandcenter_contracts import TaskStarted, TaskSucceeded, new_id
from executor_local_support import bus, executor_env, make_task, spawn_executor

from tests.support.executors import (
    HANGS_FIRST_AGENT,
    JOURNAL_AGENT,
    ExecutorProcess,
    journal_runs,
    python_agent,
    read_lines,
)
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


def _stop_all(executors: list[ExecutorProcess]) -> None:
    for executor in executors:
        executor.kill()


async def test_the_module_runs_a_task_and_exits_cleanly_on_sigterm(
    nats_server: NatsServer, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    base = git(git_sandbox.repo, "rev-parse", "HEAD").strip()
    executor = spawn_executor(
        executor_env(nats_server.url, tmp_path, CC_EXECUTOR_ID="solo"), tmp_path / "solo.log"
    )
    try:
        async with bus(nats_server) as client:
            task = make_task(git_sandbox, new_id())
            await client.publish(task)
            (outcome,) = await client.outcomes([task])
            assert isinstance(outcome, TaskSucceeded), executor.log()
            assert client.of(task.task_id, TaskStarted)[0].executor == "solo"
        assert executor.terminate(timeout=30) == 0, executor.log()
    finally:
        executor.kill()
    assert git_sandbox.file_at(task.branch, "out/1-1.txt") == "task 1.1\n"
    assert git_sandbox.commits_between(base, task.branch) == [outcome.commit]
    assert "Traceback" not in executor.log()


async def test_two_executors_never_overlap_and_run_every_task_once(
    nats_server: NatsServer, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    executors = [
        spawn_executor(
            executor_env(nats_server.url, tmp_path, CC_EXECUTOR_ID=f"exec-{i}"),
            tmp_path / f"exec-{i}.log",
        )
        for i in (1, 2)
    ]
    try:
        async with bus(nats_server) as client:
            run_id = new_id()
            tasks = [
                make_task(
                    git_sandbox,
                    run_id,
                    f"1.{n}",
                    agent=python_agent(JOURNAL_AGENT, str(journal), "0.4"),
                )
                for n in range(1, 7)
            ]
            for task in tasks:
                await client.publish(task)
            outcomes = await client.outcomes(tasks, within_s=150)
            assert all(isinstance(o, TaskSucceeded) for o in outcomes), outcomes
            started = [e for t in tasks for e in client.of(t.task_id, TaskStarted)]
            assert len(started) == len(tasks)  # no redelivery, no second start
            info = await client.settled_consumer()
            assert info.num_redelivered == 0
        assert all(e.process.poll() is None for e in executors), "an executor died"
        for executor in executors:
            assert executor.terminate(timeout=30) == 0, executor.log()
    finally:
        _stop_all(executors)

    runs = journal_runs(journal)
    # every task ran exactly once: one start and one end
    assert sorted(r.task for r in runs) == sorted(t.task_id for t in tasks)
    assert all(r.end is not None for r in runs), runs
    # and never two at a time, whichever executor ran them
    intervals = sorted((r.start, r.end or r.start) for r in runs)
    for (_, end), (next_start, _) in itertools.pairwise(intervals):
        assert end <= next_start, f"tasks overlapped: {intervals}"
    for task in tasks:
        assert git_sandbox.file_at(task.branch, "work.txt") == f"{task.task_id}\n"


async def test_sigterm_hands_the_running_task_back_to_another_executor(
    nats_server: NatsServer, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    # The first delivery hangs (until killed); the second one does the work at once.
    pidfile, attempts = tmp_path / "pid", tmp_path / "attempts"
    first = spawn_executor(
        executor_env(nats_server.url, tmp_path, CC_EXECUTOR_ID="first"), tmp_path / "first.log"
    )
    second: ExecutorProcess | None = None
    try:
        async with bus(nats_server) as client:
            task = make_task(
                git_sandbox,
                new_id(),
                agent=python_agent(HANGS_FIRST_AGENT, str(attempts), str(pidfile)),
                timeout_s=600,
            )
            await client.publish(task)
            await eventually(
                lambda: pidfile.exists() and pidfile.read_text(), within_s=60, what="the agent pid"
            )
            agent_pid = int(pidfile.read_text())

            assert first.terminate(timeout=30) == 0, first.log()
            await eventually(
                lambda: not process_alive(agent_pid), within_s=10, what="the agent gone"
            )
            assert client.outcome(task.task_id) is None  # stopped, not failed

            second = spawn_executor(
                executor_env(nats_server.url, tmp_path, CC_EXECUTOR_ID="second"),
                tmp_path / "second.log",
            )
            (outcome,) = await client.outcomes([task], within_s=90)
            assert isinstance(outcome, TaskSucceeded), second.log()
            executors = [e.executor for e in client.of(task.task_id, TaskStarted)]
            assert executors == ["first", "second"]
        assert second.terminate(timeout=30) == 0
    finally:
        _stop_all([first, *([second] if second else [])])
    assert read_lines(attempts) == ["run", "run"]
    assert git_sandbox.file_at(task.branch, "done.txt") == "done\n"


def test_a_max_deliver_not_above_the_attempts_stops_the_start_with_a_clear_error(
    tmp_path: Path,
) -> None:
    env = executor_env("nats://127.0.0.1:1", tmp_path, CC_MAX_DELIVER="3", CC_MAX_ATTEMPTS="3")
    executor = spawn_executor(env, tmp_path / "refused.log")
    try:
        assert executor.process.wait(timeout=60) == 2
    finally:
        executor.kill()
    assert "CC_MAX_DELIVER (3) must be larger than CC_MAX_ATTEMPTS (3)" in executor.log()
    assert "Traceback" not in executor.log()
