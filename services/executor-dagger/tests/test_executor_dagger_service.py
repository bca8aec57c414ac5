"""The dagger executor in this process, against a real nats-server and real git (engine-less)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from commandcenter.gitfixtures import GitSandbox, git
from commandcenter.servers import NatsServer
from commandcenter_contracts import (
    FailureCode,
    TaskFailed,
    TaskProgress,
    TaskStarted,
    TaskSucceeded,
    dead_letter_decoder,
    new_id,
    subjects,
)
from executor_dagger import create_app
from executor_dagger_support import bus, make_task, running_app, settings_for

from tests.support.executors import (
    FAILING_AGENT,
    FLAKY_SKILL,
    HANGS_FIRST_AGENT,
    JOURNAL_AGENT,
    SUCCESS_STEPS,
    journal_runs,
    peak,
    python_agent,
    read_lines,
    write_skill,
)
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


async def test_a_task_runs_and_is_acked(
    nats_server: NatsServer, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    base = git(git_sandbox.remote, "rev-parse", "main").strip()
    settings = settings_for(nats_server.url, tmp_path, CC_EXECUTOR_ID="dagger-1")
    async with bus(nats_server) as client, running_app(settings):
        task = make_task(git_sandbox, new_id(), verification=["test -s out/1-1.txt"])
        await client.publish(task)
        (outcome,) = await client.outcomes([task])
        assert isinstance(outcome, TaskSucceeded), outcome
        assert client.of(task.task_id, TaskStarted)[0].executor == "dagger-1"
        assert [e.step for e in client.of(task.task_id, TaskProgress)] == SUCCESS_STEPS
        info = await client.settled_consumer()
        assert info.num_pending == 0 and info.num_redelivered == 0
    assert git_sandbox.commits_between(base, task.branch) == [outcome.commit]


async def test_the_durable_is_updated_when_the_setting_changes(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with bus(nats_server) as client:
        first = settings_for(
            nats_server.url, tmp_path, CC_DAGGER_SLOTS="2", CC_DAGGER_MAX_IN_FLIGHT="3"
        )
        async with running_app(first):
            info = await client.consumer()
            assert (info.config.max_ack_pending, info.config.ack_wait) == (3, 30)
        # JetStream would silently keep 3 and 30 s if the executor only re-declared it
        second = settings_for(
            nats_server.url, tmp_path, CC_DAGGER_MAX_IN_FLIGHT="12", CC_ACK_WAIT_S="20"
        )
        async with running_app(second):
            info = await client.consumer()
            assert (info.config.max_ack_pending, info.config.ack_wait) == (12, 20)
            assert info.config.filter_subject == subjects.TASK_DISPATCH_DAGGER


async def test_one_replica_never_runs_more_tasks_than_its_slots(
    nats_server: NatsServer, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    """The server would allow 10 at once: the cap of 2 is the replica's own."""
    journal = tmp_path / "journal"
    settings = settings_for(
        nats_server.url, tmp_path, CC_DAGGER_SLOTS="2", CC_DAGGER_MAX_IN_FLIGHT="10"
    )
    async with bus(nats_server) as client, running_app(settings):
        run_id = new_id()
        tasks = [
            make_task(
                git_sandbox, run_id, f"1.{n}", agent=python_agent(JOURNAL_AGENT, str(journal), "1")
            )
            for n in range(1, 6)
        ]
        for task in tasks:
            await client.publish(task)
        in_flight: list[int] = []
        while not all(client.outcome(t.task_id) for t in tasks):
            in_flight.append((await client.consumer()).num_ack_pending)
            await asyncio.sleep(0.1)
            assert len(in_flight) < 1200, "the tasks did not finish"
        assert all(isinstance(client.outcome(t.task_id), TaskSucceeded) for t in tasks)
    assert max(in_flight) <= 2, in_flight  # never a third message held, not even queued
    runs = journal_runs(journal)
    assert all(r.end is not None for r in runs), runs
    assert peak([(r.start, r.end or r.start) for r in runs]) == 2


async def test_an_undecodable_message_goes_to_the_dead_letters_and_work_goes_on(
    nats_server: NatsServer, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    async with bus(nats_server) as client, running_app(settings_for(nats_server.url, tmp_path)):
        await client.js.publish(
            subjects.TASK_DISPATCH_DAGGER, b"{not json", headers={"Nats-Msg-Id": "garbage"}
        )
        task = make_task(git_sandbox, new_id())
        await client.publish(task)
        (outcome,) = await client.outcomes([task])
        assert isinstance(outcome, TaskSucceeded), outcome
        sub = await client.js.pull_subscribe(subjects.TASK_DEAD, stream=subjects.STREAM_DEAD)
        (letter,) = [dead_letter_decoder.decode(m.data) for m in await sub.fetch(1, timeout=10)]
        assert (letter.raw, letter.error_code) == (b"{not json", FailureCode.BAD_MESSAGE)
        assert letter.subject == subjects.TASK_DISPATCH_DAGGER
        info = await client.settled_consumer()
        assert info.num_pending == 0


async def test_draining_takes_no_new_task_and_lets_the_running_one_finish(
    nats_server: NatsServer, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    go, started = tmp_path / "go", tmp_path / "started"
    script = (
        "import pathlib, sys, time\n"
        "pathlib.Path(sys.argv[2]).touch()\n"
        "while not pathlib.Path(sys.argv[1]).exists(): time.sleep(0.05)\n"
        "pathlib.Path('done.txt').write_text('done\\n')\n"
    )
    settings = settings_for(nats_server.url, tmp_path, CC_DAGGER_GRACE_S="60")
    async with bus(nats_server) as client:
        app = create_app(settings)
        await app.start()
        run_id = new_id()
        task = make_task(git_sandbox, run_id, agent=python_agent(script, str(go), str(started)))
        await client.publish(task)
        await eventually(started.exists, within_s=60, what="the task started")

        stopping = asyncio.create_task(app.stop())
        await eventually(lambda: not app.fetching, within_s=30, what="fetching stopped")
        for _ in range(200):  # and the server holds no pull request of ours any more
            if (await client.consumer()).num_waiting == 0:
                break
            await asyncio.sleep(0.05)
        later = make_task(git_sandbox, run_id, "1.2")
        await client.publish(later)
        go.touch()  # only now can the running task end: the drain waited for it
        await asyncio.wait_for(stopping, timeout=60)

        (outcome,) = await client.outcomes([task])
        assert isinstance(outcome, TaskSucceeded), outcome
        assert client.of(later.task_id, TaskStarted) == []  # taken by nobody during the drain
        info = await client.settled_consumer()
        assert info.num_pending == 1  # `later` waits for the next replica


async def test_a_task_that_outlives_the_grace_is_handed_back_not_failed(
    nats_server: NatsServer, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    attempts = tmp_path / "attempts"  # the first delivery hangs; the second one does the work
    async with bus(nats_server) as client:
        first = create_app(
            settings_for(nats_server.url, tmp_path, CC_DAGGER_GRACE_S="1", CC_EXECUTOR_ID="first")
        )
        await first.start()
        task = make_task(
            git_sandbox,
            new_id(),
            agent=python_agent(HANGS_FIRST_AGENT, str(attempts)),
            timeout_s=600,
        )
        await client.publish(task)
        await eventually(attempts.exists, within_s=60, what="the first attempt")
        await asyncio.wait_for(first.stop(), timeout=60)
        assert client.outcome(task.task_id) is None  # stopped, not failed

        second = settings_for(nats_server.url, tmp_path, CC_EXECUTOR_ID="second")
        async with running_app(second):
            (outcome,) = await client.outcomes([task])
        assert isinstance(outcome, TaskSucceeded), outcome
        assert [e.executor for e in client.of(task.task_id, TaskStarted)] == ["first", "second"]
    assert read_lines(attempts) == ["run", "run"]
    assert git_sandbox.file_at(task.branch, "done.txt") == "done\n"


async def test_a_failure_the_skill_calls_recoverable_is_retried_as_the_next_attempt(
    nats_server: NatsServer, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    skills = write_skill(tmp_path / "skills", "flaky", FLAKY_SKILL)
    settings = settings_for(
        nats_server.url, tmp_path, CC_SKILLS_DIR=str(skills), CC_RETRY_BASE_S="0.2"
    )
    async with bus(nats_server) as client, running_app(settings):
        agent = python_agent(FAILING_AGENT, str(tmp_path / "runs"), "1")
        task = make_task(git_sandbox, new_id(), skill="flaky", agent=agent)
        await client.publish(task)
        await client.wait_for(lambda: bool(client.of(task.task_id, TaskSucceeded)), within_s=90)
        (outcome,) = client.of(task.task_id, TaskSucceeded)
        (failure,) = client.of(task.task_id, TaskFailed)
        assert (failure.attempt, failure.error_code) == (1, FailureCode.AGENT_FAILED)
        assert failure.will_retry and failure.recoverable
        assert outcome.attempt == 2
        assert [e.attempt for e in client.of(task.task_id, TaskStarted)] == [1, 2]
        await client.settled_consumer()
    assert git_sandbox.file_at(task.branch, "result.txt") == "run 2\n"
