"""`python -m executor_dagger` as deployed: 3 replicas x 2 slots on one durable consumer.

The agent journals "start|end <task> <replica> <time>" around a sleep (`JOURNAL_AGENT`), so
the tests can count runs and measure how many ran at once, overall and per replica. The
replica is read from the agent's folder (each replica has its own CC_WORK_ROOT), which stays
right even for an agent whose executor was just killed.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from commandcenter.gitfixtures import GitSandbox, git
from commandcenter.servers import NatsServer
from commandcenter_contracts import TaskDispatched, TaskStarted, TaskSucceeded, new_id
from executor_dagger_support import bus, executor_env, make_task, spawn_executor
from nats.js.errors import NotFoundError

from tests.support.executors import (
    JOURNAL_AGENT,
    Bus,
    ExecutorProcess,
    journal_runs,
    peak,
    python_agent,
)
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

REPLICAS, SLOTS, TASKS = 3, 2, 24
AGENT_SLEEP_S = "1.5"


@pytest.fixture
def replicas(
    nats_server: NatsServer, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[list[ExecutorProcess]]:
    extra: dict[str, str] = getattr(request, "param", {})
    started = [
        spawn_executor(
            executor_env(
                nats_server.url,
                tmp_path,
                CC_EXECUTOR_ID=f"replica-{i}",
                CC_WORK_ROOT=str(tmp_path / f"replica-{i}"),
                CC_DAGGER_SLOTS=str(SLOTS),
                CC_DAGGER_MAX_IN_FLIGHT=str(REPLICAS * SLOTS),
                **extra,
            ),
            tmp_path / f"replica-{i}.log",
        )
        for i in range(1, REPLICAS + 1)
    ]
    yield started
    for replica in started:
        replica.kill()


async def all_pulling(client: Bus, replicas: list[ExecutorProcess]) -> None:
    """Every replica waits for work (one pull request each), so the race starts fair."""
    for _ in range(1200):
        assert all(r.process.poll() is None for r in replicas), [r.log() for r in replicas]
        try:
            if (await client.consumer()).num_waiting >= len(replicas):
                return
        except NotFoundError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError("the replicas did not start pulling")


def name(replica: ExecutorProcess) -> str:
    return replica.log_path.stem


async def start_race(
    client: Bus, replicas: list[ExecutorProcess], sandbox: GitSandbox, journal: Path
) -> list[TaskDispatched]:
    """Once every replica pulls: TASKS journaling tasks of one run, published."""
    await all_pulling(client, replicas)
    run_id = new_id()
    agent = python_agent(JOURNAL_AGENT, str(journal), AGENT_SLEEP_S)
    tasks = [make_task(sandbox, run_id, f"1.{n}", agent=agent) for n in range(1, TASKS + 1)]
    for task in tasks:
        await client.publish(task)
    return tasks


def one_commit_per_branch(sandbox: GitSandbox, tasks: list[TaskDispatched], client: Bus) -> None:
    base = git(sandbox.remote, "rev-parse", "main").strip()
    for task in tasks:
        outcome = client.outcome(task.task_id)
        assert isinstance(outcome, TaskSucceeded)
        assert sandbox.commits_between(base, task.branch) == [outcome.commit], task.branch
        assert sandbox.file_at(task.branch, "work.txt") == f"{task.task_id}\n"


async def test_every_task_runs_exactly_once_and_at_most_six_at_a_time(
    nats_server: NatsServer,
    git_sandbox: GitSandbox,
    tmp_path: Path,
    replicas: list[ExecutorProcess],
) -> None:
    journal = tmp_path / "journal"
    async with bus(nats_server) as client:
        tasks = await start_race(client, replicas, git_sandbox, journal)
        outcomes = await client.outcomes(tasks, within_s=150)

        assert all(isinstance(o, TaskSucceeded) for o in outcomes), outcomes
        assert len({o.task_id for o in outcomes}) == TASKS
        started = [e for t in tasks for e in client.of(t.task_id, TaskStarted)]
        assert len(started) == TASKS  # no redelivery, no second start
        info = await client.settled_consumer()
        assert info.num_redelivered == 0 and info.num_pending == 0
        assert info.config.max_ack_pending == REPLICAS * SLOTS
    for replica in replicas:
        assert replica.terminate() == 0, replica.log()
        assert "Traceback" not in replica.log()

    done = journal_runs(journal)
    # the agent ran 24 times, once per task, and every run ended
    assert sorted(r.task for r in done) == sorted(t.task_id for t in tasks)
    assert all(r.end is not None for r in done)
    intervals = [(r.start, r.end or r.start) for r in done]
    assert peak(intervals) == REPLICAS * SLOTS  # reaches 6 and never exceeds it
    by_replica = Counter(r.where for r in done)
    assert set(by_replica) == {name(r) for r in replicas}  # all three took part
    for replica in by_replica:
        mine = [(r.start, r.end or r.start) for r in done if r.where == replica]
        assert peak(mine) <= SLOTS, f"{replica} ran more than {SLOTS} at once"
    one_commit_per_branch(git_sandbox, tasks, client)


@pytest.mark.parametrize("replicas", [{"CC_ACK_WAIT_S": "5", "CC_HEARTBEAT_S": "1"}], indirect=True)
async def test_a_killed_replica_loses_nothing(
    nats_server: NatsServer,
    git_sandbox: GitSandbox,
    tmp_path: Path,
    replicas: list[ExecutorProcess],
) -> None:
    journal = tmp_path / "journal"
    async with bus(nats_server) as client:
        tasks = await start_race(client, replicas, git_sandbox, journal)

        # mid-run: some tasks done, and the victim has agents running right now
        def victim_busy() -> bool:
            done = journal_runs(journal)
            return len(done) >= 8 and any(r.end is None for r in done)

        await eventually(victim_busy, within_s=120, what="the victim busy mid-run")
        running = [r for r in journal_runs(journal) if r.end is None]
        victim = next(rep for rep in replicas if name(rep) == running[-1].where)
        finished = {t.task_id for t in tasks if client.outcome(t.task_id) is not None}
        os.kill(victim.pid, signal.SIGKILL)
        victim.process.wait()

        outcomes = await client.outcomes(tasks, within_s=150)
        assert all(isinstance(o, TaskSucceeded) for o in outcomes), outcomes
        for task in tasks:  # one outcome per task (a repeated one is deduplicated by its id)
            assert len(client.of(task.task_id, TaskSucceeded)) == 1
        info = await client.settled_consumer()
        assert info.num_pending == 0
    survivors = [r for r in replicas if r is not victim]
    for replica in survivors:
        assert replica.terminate() == 0, replica.log()

    # nothing lost, nothing doubled: one commit per branch; only interrupted tasks ran twice
    one_commit_per_branch(git_sandbox, tasks, client)
    # only what the victim's agents worked on without an outcome may have run again (an agent
    # running, or done but not yet committed, pushed or reported; its orphaned agents still
    # journal, even the one it started an instant before the kill)
    interrupted = {r.task for r in journal_runs(journal) if r.where == name(victim)} - finished
    assert interrupted, "the kill interrupted nothing: the test proved nothing"
    assert any(  # the victim's unfinished tasks were redelivered to the others
        e.executor != name(victim) for t in interrupted for e in client.of(t, TaskStarted)
    )
    counts = Counter(r.task for r in journal_runs(journal))
    assert set(counts) == {t.task_id for t in tasks}
    twice = {task for task, n in counts.items() if n > 1}
    assert twice <= interrupted, (twice, interrupted)
    assert sum(counts.values()) <= TASKS + len(interrupted)
    assert all(n <= 2 for n in counts.values())
    # during the failover too: the victim's messages count until ack_wait ends, so its orphaned
    # agents and the survivors' never add up to more than the consumer's cap
    assert peak([(r.start, r.end or r.start) for r in journal_runs(journal)]) <= REPLICAS * SLOTS
