"""The local executor in this process, against a real nats-server and real git repositories."""

from __future__ import annotations

from pathlib import Path

import pytest
from cc_bus.publish import publish
from commandcenter.gitfixtures import GitSandbox, git
from commandcenter.servers import NatsServer
from commandcenter_contracts import (
    FailureCode,
    LogLine,
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
from prometheus_client import REGISTRY

from tests.support.executors import FAILING_TASKS, SUCCESS_STEPS, python_agent
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


async def _stream_messages(js: object, stream: str) -> int:
    info = await js.stream_info(stream)  # type: ignore[attr-defined]
    return int(info.state.messages)


async def test_a_task_runs_and_its_events_and_log_are_published(
    nats_server: NatsServer, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    base = git(git_sandbox.repo, "rev-parse", "HEAD").strip()
    async with bus(nats_server) as client, running_app(settings_for(nats_server.url, tmp_path)):
        task = make_task(git_sandbox, new_id(), verification=["test -s out/1-1.txt"])
        await client.publish(task)
        (outcome,) = await client.outcomes([task])

        assert isinstance(outcome, TaskSucceeded), outcome
        assert outcome.pushed and outcome.branch == task.branch
        types = [type(e) for e in client.events if getattr(e, "task_id", "") == task.task_id]
        assert types[0] is TaskStarted and types[-1] is TaskSucceeded
        assert [e.step for e in client.of(task.task_id, TaskProgress)] == SUCCESS_STEPS
        # the message was acked: the work queue is empty and nothing is pending
        info = await client.settled_consumer()
        assert info.num_pending == 0
        assert await _stream_messages(client.js, subjects.STREAM_TASKS) == 0
        # the agent's output went to cc.log.<run>.<task>
        sub = await client.js.subscribe(subjects.log_subject(task.run_id, task.task_id))
        line: LogLine = log_decoder.decode((await sub.next_msg(timeout=10)).data)
        assert line.line == "plan-follower: wrote out/1-1.txt (9 bytes)"
        await sub.unsubscribe()

    assert git_sandbox.file_at(task.branch, "out/1-1.txt") == "task 1.1\n"
    assert git_sandbox.commits_between(base, task.branch) == [outcome.commit]


async def test_a_dispatch_published_again_after_jetstream_forgot_its_id_is_not_run_again(
    nats_server: NatsServer, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    """A planner redoing a step past the duplicate window (or after a server restart)
    publishes the same attempt as a new message. Once the task landed, its branch is gone from
    the remote, so nothing in git tells the second message apart: the claim drops it."""
    run_id = new_id()
    integration = f"cc/{run_id[:8]}/integration"
    async with bus(nats_server) as client, running_app(settings_for(nats_server.url, tmp_path)):
        task = make_task(git_sandbox, run_id, integration_branch=integration)
        await client.publish(task)
        (outcome,) = await client.outcomes([task])
        assert isinstance(outcome, TaskSucceeded) and outcome.integrated_commit, outcome
        assert task.branch not in git_sandbox.remote_branches()
        landed = git_sandbox.commits_between(task.base_ref, integration)
        dropped_before = _duplicates_dropped()
        # What JetStream no longer recognises: the same dispatch under an id it does not know.
        subject = subjects.task_dispatch_subject(task.mode)
        await publish(client.js, subject, task, msg_id=f"{task.msg_id}:forgotten")

        async def second_one_acked() -> bool:
            info = await client.consumer()
            return info.delivered.consumer_seq == 2 and info.num_ack_pending == 0

        await eventually(second_one_acked, within_s=30, what="the second message acked")
        assert await _stream_messages(client.js, subjects.STREAM_TASKS) == 0
        assert len(client.of(task.task_id, TaskStarted)) == 1
        assert _duplicates_dropped() == dropped_before + 1
    assert git_sandbox.commits_between(task.base_ref, integration) == landed


def _duplicates_dropped() -> float:
    found = REGISTRY.get_sample_value("cc_task_duplicates_dropped_total", {"mode": "local"})
    return found or 0.0


@pytest.mark.parametrize("case", FAILING_TASKS)
async def test_failed_tasks_publish_their_code_and_are_acked(
    nats_server: NatsServer, git_sandbox: GitSandbox, tmp_path: Path, case: str
) -> None:
    overrides, code = FAILING_TASKS[case]
    async with bus(nats_server) as client, running_app(settings_for(nats_server.url, tmp_path)):
        task = make_task(git_sandbox, new_id(), **overrides)
        await client.publish(task)
        (outcome,) = await client.outcomes([task])
        assert isinstance(outcome, TaskFailed)
        assert outcome.error_code is code and not outcome.recoverable
        assert not outcome.will_retry and outcome.attempt == 1
        assert len(client.of(task.task_id, TaskStarted)) == 1
        info = await client.settled_consumer()
        assert info.delivered.consumer_seq == 1  # delivered once: not retried
        assert await _stream_messages(client.js, subjects.STREAM_DEAD) == 1
    assert task.branch not in git_sandbox.remote_branches()


async def test_an_undecodable_message_goes_to_the_dead_letters_and_work_goes_on(
    nats_server: NatsServer, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    garbage = [b"not json at all", b'{"run_id": 42, "title": ["wrong"]}']
    async with bus(nats_server) as client, running_app(settings_for(nats_server.url, tmp_path)):
        for i, raw in enumerate(garbage):
            await client.js.publish(
                subjects.TASK_DISPATCH_LOCAL, raw, headers={"Nats-Msg-Id": f"garbage-{i}"}
            )
        task = make_task(git_sandbox, new_id())
        await client.publish(task)
        (outcome,) = await client.outcomes([task])
        assert isinstance(outcome, TaskSucceeded), outcome

        sub = await client.js.pull_subscribe(subjects.TASK_DEAD, stream=subjects.STREAM_DEAD)
        letters = [dead_letter_decoder.decode(m.data) for m in await sub.fetch(2, timeout=10)]
        assert [letter.raw for letter in letters] == garbage
        assert {letter.error_code for letter in letters} == {FailureCode.BAD_MESSAGE}
        assert {letter.subject for letter in letters} == {subjects.TASK_DISPATCH_LOCAL}
        assert all(letter.error for letter in letters)
        # terminated, not redelivered: the work queue is empty
        await client.settled_consumer()
        assert await _stream_messages(client.js, subjects.STREAM_TASKS) == 0


async def test_heartbeats_keep_a_long_task_from_being_redelivered(
    nats_server: NatsServer, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    starts = tmp_path / "starts"
    script = (
        "import pathlib, sys, time\n"
        "with open(sys.argv[1], 'a') as fh: fh.write('start\\n')\n"
        "time.sleep(7)\n"
        "pathlib.Path('slow.txt').write_text('slow\\n')\n"
    )
    settings = settings_for(nats_server.url, tmp_path, CC_ACK_WAIT_S="2", CC_HEARTBEAT_S="0.5")
    async with bus(nats_server) as client, running_app(settings):
        task = make_task(git_sandbox, new_id(), agent=python_agent(script, str(starts)))
        await client.publish(task)
        await client.wait_for(lambda: bool(client.of(task.task_id, TaskStarted)))
        # A second puller on the same durable: it would get the task if ack_wait ran out.
        thief = await client.js.pull_subscribe_bind(
            durable=subjects.CONSUMER_EXECUTOR_LOCAL, stream=subjects.STREAM_TASKS
        )
        with pytest.raises(TimeoutError):
            await thief.fetch(1, timeout=5)
        await thief.unsubscribe()
        (outcome,) = await client.outcomes([task])
        assert isinstance(outcome, TaskSucceeded), outcome
        assert starts.read_text().splitlines() == ["start"]
        assert len(client.of(task.task_id, TaskStarted)) == 1
        info = await client.settled_consumer()
        assert info.num_redelivered == 0


async def test_a_cancel_request_stops_the_running_task(
    nats_server: NatsServer, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    from commandcenter_contracts import CancelRequested, encode

    marker = tmp_path / "started"
    script = "import pathlib, sys, time; pathlib.Path(sys.argv[1]).touch(); time.sleep(300)"
    async with bus(nats_server) as client, running_app(settings_for(nats_server.url, tmp_path)):
        run_id = new_id()
        task = make_task(git_sandbox, run_id, agent=python_agent(script, str(marker)))
        later = make_task(git_sandbox, run_id, "1.2")
        await client.publish(task)
        await client.publish(later)
        await client.wait_for(marker.exists)
        await client.nc.publish(
            subjects.cancel_subject(run_id), encode(CancelRequested(run_id=run_id, reason="test"))
        )
        outcomes = await client.outcomes([task, later])
        assert [o.error_code for o in outcomes if isinstance(o, TaskFailed)] == [
            FailureCode.CANCELLED,
            FailureCode.CANCELLED,
        ]
        # a cancel is final but no failure to keep: no retry, no dead letter
        assert not any(isinstance(o, TaskFailed) and o.will_retry for o in outcomes)
        await client.settled_consumer()
        assert await _stream_messages(client.js, subjects.STREAM_DEAD) == 0
    assert git_sandbox.remote_branches() == ["main"]
