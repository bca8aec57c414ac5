"""Retries, attempts and dead letters, with the executor in this process, a real nats-server and
real git: every delivery is the next attempt; recoverable failures come back after a jittered
backoff; final failures go to `CC_DEAD` with the original task message."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from cc_bus import letter_id
from commandcenter.gitfixtures import GitSandbox, git
from commandcenter.servers import NatsServer
from commandcenter_contracts import (
    DeadLetter,
    FailureCode,
    LogLine,
    TaskDispatched,
    TaskFailed,
    TaskProgress,
    TaskStarted,
    TaskSucceeded,
    dead_letter_decoder,
    log_decoder,
    new_id,
    subjects,
)
from executor_local_support import bus, make_task, running_app, settings_for
from nats.js import JetStreamContext

from tests.support.executors import (
    FAILING_AGENT,
    FLAKY_SKILL,
    Bus,
    python_agent,
    write_skill,
)

pytestmark = pytest.mark.integration

FAST_RETRIES = {"CC_RETRY_BASE_S": "0.2", "CC_RETRY_CAP_S": "1"}

# Counts its runs in argv[1]; the runs listed in argv[2] ("1,2") sleep past any short timeout,
# the others write `result.txt` saying which run they were.
COUNTING_AGENT = """
import pathlib, sys, time
counter = pathlib.Path(sys.argv[1])
run = len(counter.read_text().splitlines()) + 1 if counter.exists() else 1
with counter.open("a") as fh:
    fh.write(f"{run}\\n")
print(f"agent run {run}", flush=True)
if str(run) in sys.argv[2].split(","):
    time.sleep(60)
pathlib.Path("result.txt").write_text(f"run {run}\\n")
"""


def _failures(client: Bus, task: TaskDispatched) -> list[tuple[int, FailureCode, bool, bool]]:
    return [
        (e.attempt, e.error_code, e.will_retry, e.recoverable)
        for e in client.of(task.task_id, TaskFailed)
    ]


def _started(client: Bus, task: TaskDispatched) -> list[int]:
    return [e.attempt for e in client.of(task.task_id, TaskStarted)]


async def _stream_count(js: JetStreamContext, stream: str) -> int:
    return int((await js.stream_info(stream)).state.messages)


async def _dead_letters(js: JetStreamContext) -> list[DeadLetter]:
    count = await _stream_count(js, subjects.STREAM_DEAD)
    if not count:
        return []
    sub = await js.pull_subscribe(subjects.TASK_DEAD, stream=subjects.STREAM_DEAD)
    try:
        return [dead_letter_decoder.decode(m.data) for m in await sub.fetch(count, timeout=10)]
    finally:
        await sub.unsubscribe()


async def _log_lines(js: JetStreamContext, task: TaskDispatched) -> list[LogLine]:
    subject = subjects.log_subject(task.run_id, task.task_id)
    info = await js.stream_info(subjects.STREAM_LOGS, subjects_filter=subject)
    count = int((info.state.subjects or {}).get(subject, 0))
    sub = await js.pull_subscribe(subject, stream=subjects.STREAM_LOGS)
    try:
        return [log_decoder.decode(m.data) for m in await sub.fetch(count, timeout=10)]
    finally:
        await sub.unsubscribe()


async def _final(client: Bus, task: TaskDispatched, *, within_s: float = 90) -> Any:
    """The task's final outcome: a success, or a failure without a retry coming."""

    def final() -> list[Any]:
        return [
            e
            for e in client.of(task.task_id, (TaskSucceeded, TaskFailed))
            if not getattr(e, "will_retry", False)
        ]

    await client.wait_for(lambda: bool(final()), within_s=within_s)
    (outcome,) = final()
    await client.settled_consumer()
    return outcome


async def test_a_task_that_times_out_twice_succeeds_on_its_third_attempt(
    nats_server: NatsServer, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    base = git(git_sandbox.repo, "rev-parse", "HEAD").strip()
    counter = tmp_path / "runs"
    settings = settings_for(nats_server.url, tmp_path, **FAST_RETRIES)
    async with bus(nats_server) as client, running_app(settings):
        agent = python_agent(COUNTING_AGENT, str(counter), "1,2")
        task = make_task(git_sandbox, new_id(), agent=agent, timeout_s=1.0)
        await client.publish(task)
        outcome = await _final(client, task)

        assert isinstance(outcome, TaskSucceeded), client.events
        assert outcome.attempt == 3 and outcome.pushed
        assert _started(client, task) == [1, 2, 3]
        assert _failures(client, task) == [
            (1, FailureCode.TIMEOUT, True, True),
            (2, FailureCode.TIMEOUT, True, True),
        ]
        # every event and log line of a delivery carries that delivery's attempt
        progress = client.of(task.task_id, TaskProgress)
        assert {e.attempt for e in progress if e.step == "agent_started"} == {1, 2, 3}
        assert {e.attempt for e in progress if e.step == "pushed"} == {3}
        lines = [(line.attempt, line.line) for line in await _log_lines(client.js, task)]
        for run in (1, 2, 3):
            assert (run, f"agent run {run}") in lines
        assert await _dead_letters(client.js) == []
        assert await _stream_count(client.js, subjects.STREAM_TASKS) == 0

    assert counter.read_text().split() == ["1", "2", "3"]
    assert git_sandbox.commits_between(base, task.branch) == [outcome.commit]
    assert git_sandbox.file_at(task.branch, "result.txt") == "run 3\n"
    assert not any((tmp_path / "worktrees").rglob("result.txt"))  # every checkout removed


# Refuses every push while the flag file exists (Python, not a shell script).
REJECTING_HOOK = """\
import pathlib, sys
if pathlib.Path({flag!r}).exists():
    print("pushes are closed today", file=sys.stderr)
    sys.exit(1)
"""

# Writes `result.txt`; on its third run it first reopens the remote (removes the flag).
REOPENING_AGENT = """
import pathlib, sys
counter, flag = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
run = len(counter.read_text().splitlines()) + 1 if counter.exists() else 1
with counter.open("a") as fh:
    fh.write(f"{run}\\n")
if run == 3:
    flag.unlink()
pathlib.Path("result.txt").write_text(f"run {run}\\n")
"""


async def test_a_remote_that_rejects_two_pushes_gets_one_commit_on_the_third_attempt(
    nats_server: NatsServer, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    base = git(git_sandbox.repo, "rev-parse", "HEAD").strip()
    flag, counter = tmp_path / "closed", tmp_path / "runs"
    flag.touch()
    hook = git_sandbox.remote / "hooks" / "pre-receive"
    hook.write_text(f"#!{sys.executable}\n" + REJECTING_HOOK.format(flag=str(flag)))
    hook.chmod(0o755)
    settings = settings_for(nats_server.url, tmp_path, **FAST_RETRIES)
    async with bus(nats_server) as client, running_app(settings):
        agent = python_agent(REOPENING_AGENT, str(counter), str(flag))
        task = make_task(git_sandbox, new_id(), agent=agent)
        await client.publish(task)
        outcome = await _final(client, task)

        assert isinstance(outcome, TaskSucceeded), client.events
        assert outcome.attempt == 3
        assert _failures(client, task) == [
            (1, FailureCode.PUSH_FAILED, True, True),
            (2, FailureCode.PUSH_FAILED, True, True),
        ]
        assert all(
            "pushes are closed today" in e.message for e in client.of(task.task_id, TaskFailed)
        )
        assert await _dead_letters(client.js) == []

    assert git_sandbox.commits_between(base, task.branch) == [outcome.commit]
    assert git_sandbox.file_at(task.branch, "result.txt") == "run 3\n"


async def test_used_up_attempts_end_in_a_final_failure_and_a_dead_letter(
    nats_server: NatsServer, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    counter = tmp_path / "runs"
    settings = settings_for(nats_server.url, tmp_path, CC_MAX_ATTEMPTS="2", **FAST_RETRIES)
    async with bus(nats_server) as client, running_app(settings):
        agent = python_agent(COUNTING_AGENT, str(counter), "1,2,3")
        task = make_task(git_sandbox, new_id(), agent=agent, timeout_s=1.0)
        await client.publish(task)
        outcome = await _final(client, task)

        assert isinstance(outcome, TaskFailed) and outcome.attempt == 2
        assert _started(client, task) == [1, 2]
        assert _failures(client, task) == [
            (1, FailureCode.TIMEOUT, True, True),
            (2, FailureCode.TIMEOUT, False, True),  # recoverable, but no attempt left
        ]
        (letter,) = await _dead_letters(client.js)
        assert letter.task == task  # the original message, base attempt and all
        assert letter.error_code is FailureCode.TIMEOUT and letter.error == outcome.message
        assert letter.num_delivered == 2
        assert letter.subject == subjects.TASK_DISPATCH_LOCAL
        # one letter per message: its id comes from the message's place in the stream
        assert letter.event_id == letter_id(
            subjects.STREAM_TASKS, 1, subjects.CONSUMER_EXECUTOR_LOCAL
        )
        assert await _stream_count(client.js, subjects.STREAM_TASKS) == 0
    assert counter.read_text().split() == ["1", "2"]
    assert task.branch not in git_sandbox.remote_branches()


async def test_an_unrecoverable_failure_is_not_retried_and_is_dead_lettered(
    nats_server: NatsServer, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    settings = settings_for(nats_server.url, tmp_path, **FAST_RETRIES)
    async with bus(nats_server) as client, running_app(settings):
        # a replay's message: its first delivery is attempt 2
        task = make_task(git_sandbox, new_id(), attempt=2, verification=["test -s missing.txt"])
        await client.publish(task)
        outcome = await _final(client, task)

        assert isinstance(outcome, TaskFailed)
        assert _started(client, task) == [2]
        assert _failures(client, task) == [(2, FailureCode.VERIFICATION_FAILED, False, False)]
        (letter,) = await _dead_letters(client.js)
        assert letter.task == task and letter.num_delivered == 1
        assert letter.error_code is FailureCode.VERIFICATION_FAILED
        info = await client.settled_consumer()
        assert info.delivered.consumer_seq == 1  # delivered once: not retried


async def test_a_skill_makes_agent_failures_recoverable_and_bounds_the_attempts(
    nats_server: NatsServer, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    skills = write_skill(tmp_path / "skills", "flaky", FLAKY_SKILL)
    settings = settings_for(
        nats_server.url, tmp_path, CC_SKILLS_DIR=str(skills), CC_MAX_ATTEMPTS="3", **FAST_RETRIES
    )
    run_id = new_id()

    def failing(number: str, fails: str, *, counter: str, **fields: Any) -> TaskDispatched:
        agent = python_agent(FAILING_AGENT, str(tmp_path / counter), fails)
        return make_task(git_sandbox, run_id, number, agent=agent, **fields)

    async with bus(nats_server) as client, running_app(settings):
        once = failing("1.1", "1", counter="once", skill="flaky")
        always = failing("1.2", "always", counter="always", skill="flaky")
        unskilled = failing("1.3", "always", counter="unskilled")
        for task in (once, always, unskilled):
            await client.publish(task)
        recovered = await _final(client, once)
        gave_up = await _final(client, always)
        plain = await _final(client, unskilled)

        assert isinstance(recovered, TaskSucceeded) and recovered.attempt == 2
        assert _failures(client, once) == [(1, FailureCode.AGENT_FAILED, True, True)]
        # the skill allows 2 attempts, fewer than CC_MAX_ATTEMPTS (3): the smaller wins
        assert isinstance(gave_up, TaskFailed) and gave_up.attempt == 2
        assert _failures(client, always) == [
            (1, FailureCode.AGENT_FAILED, True, True),
            (2, FailureCode.AGENT_FAILED, False, True),
        ]
        # without the skill, AGENT_FAILED is not recoverable
        assert isinstance(plain, TaskFailed) and plain.attempt == 1
        assert _failures(client, unskilled) == [(1, FailureCode.AGENT_FAILED, False, False)]
        letters = {
            letter.task.task_id: letter for letter in await _dead_letters(client.js) if letter.task
        }
        assert sorted(letters) == sorted([always.task_id, unskilled.task_id])
        assert letters[always.task_id].num_delivered == 2
    assert git_sandbox.file_at(once.branch, "result.txt") == "run 2\n"
