"""Round trips of every wire message, and the schema-evolution promises of the contracts."""

from __future__ import annotations

import msgspec
import pytest
from commandcenter_contracts import (
    AgentSpec,
    BatchCompleted,
    BatchSelection,
    BatchStarted,
    DeadLetter,
    FailureCode,
    LogLine,
    PhaseStartRequested,
    Plan,
    PlanBatch,
    PlannedBatch,
    PlannedTask,
    PlanNote,
    PlanTask,
    PlanWarning,
    RunAccepted,
    RunCancelled,
    RunFailed,
    RunHalted,
    RunPlanned,
    RunStarted,
    RunSucceeded,
    TaskDispatched,
    TaskFailed,
    TaskProgress,
    TaskQueued,
    TaskReplayRefused,
    TaskStarted,
    TaskSucceeded,
    dead_letter_decoder,
    encode,
    is_recoverable,
    log_decoder,
    phase_start_decoder,
    plan_decoder,
    status_decoder,
    subjects,
    task_decoder,
)

PLAN = Plan(
    title="Sample",
    batches=[
        PlanBatch(
            phase="4",
            number="1",
            title="Core",
            tasks=[PlanTask(id="4.1.1", title="Config", files=["a.py"], verification=["pytest"])],
        )
    ],
    warnings=[PlanWarning(line=12, message="odd heading")],
    notes=[PlanNote(batch="1", phase="4", tasks=["4.1.1", "4.1.2"], files=["a.py"], message="m")],
)

TASK = TaskDispatched(
    run_id="r1",
    task_id="t1",
    attempt=2,
    plan_task_id="4.1.1",
    batch_index=0,
    title="Config",
    body="### Task 4.1.1: Config",
    branch="cc/r1/4.1.1-config",
    repo="/repo",
    agent=AgentSpec(name="command", argv=["echo", "hi"]),
)

STATUS_EVENTS = [
    RunAccepted(
        run_id="r1", mode="local", plan_path="p.md", selection=BatchSelection(), repo="/repo"
    ),
    RunPlanned(
        run_id="r1",
        batches=[
            PlannedBatch(
                index=0,
                phase=None,
                number="1",
                title="b",
                tasks=[PlannedTask(task_id="t1", plan_task_id="1.1", title="x", branch="cc/x")],
            )
        ],
    ),
    RunStarted(run_id="r1"),
    RunSucceeded(run_id="r1"),
    RunFailed(run_id="r1", error="boom"),
    RunHalted(run_id="r1", batch_index=0, failed_tasks=["t1"]),
    RunCancelled(run_id="r1"),
    BatchStarted(run_id="r1", batch_index=0),
    BatchCompleted(run_id="r1", batch_index=0, succeeded=True),
    TaskQueued(run_id="r1", task_id="t1", batch_index=0, plan_task_id="1.1", branch="cc/x"),
    TaskStarted(run_id="r1", task_id="t1", executor="host:1"),
    TaskProgress(run_id="r1", task_id="t1", step="committed"),
    TaskSucceeded(run_id="r1", task_id="t1", branch="cc/x", commit="abc", pushed=True),
    TaskReplayRefused(run_id="r1", task_id="t1", request_id="q1", reason="succeeded"),
    TaskFailed(run_id="r1", task_id="t1", error_code=FailureCode.NO_CHANGES),
]


@pytest.mark.parametrize("event", STATUS_EVENTS, ids=lambda e: type(e).__name__)
def test_status_events_round_trip_through_the_union_decoder(event: object) -> None:
    decoded = status_decoder.decode(encode(event))
    assert decoded == event
    assert type(decoded) is type(event)


def test_status_event_tags_are_the_documented_type_names() -> None:
    doc = msgspec.json.decode(
        encode(TaskSucceeded(run_id="r", task_id="t", branch="b", commit="c"))
    )
    assert doc["type"] == "task.succeeded"
    assert doc["event_id"] and doc["at"]


def test_task_and_phase_start_round_trip() -> None:
    assert task_decoder.decode(encode(TASK)) == TASK
    start = PhaseStartRequested(
        event_id="e",
        run_id="r1",
        plan_path="/p.md",
        plan=PLAN,
        selection=BatchSelection(start_batch="1", end_batch="2", phase="4"),
        repo="/repo",
    )
    assert phase_start_decoder.decode(encode(start)) == start


def test_log_line_and_dead_letter_round_trip() -> None:
    line = LogLine(run_id="r", task_id="t", line="hello")
    assert log_decoder.decode(encode(line)) == line
    letter = DeadLetter(
        subject="cc.task.dispatch.local",
        error_code=FailureCode.BAD_MESSAGE,
        error="x",
        raw=b"\x00\xff",
        task=TASK,
    )
    assert dead_letter_decoder.decode(encode(letter)) == letter


def test_a_message_without_a_newer_optional_field_still_decodes() -> None:
    """An older writer (no `attempt`, `agent`, `timeout_s`, …) is read with the defaults."""
    old = msgspec.json.decode(encode(TASK))
    for newer in ("attempt", "agent", "timeout_s", "remote", "verification_notes", "mode"):
        old.pop(newer)
    decoded = task_decoder.decode(msgspec.json.encode(old))
    assert decoded.attempt == 1
    assert decoded.agent == AgentSpec()
    assert decoded.task_id == "t1"


def test_a_plan_from_an_older_writer_decodes_without_notes() -> None:
    old = msgspec.json.decode(encode(PLAN))
    old.pop("notes")
    decoded = plan_decoder.decode(msgspec.json.encode(old))
    assert decoded.notes == []
    assert decoded.batches == PLAN.batches


def test_a_message_with_fields_from_a_newer_writer_still_decodes() -> None:
    """Rolling upgrades: wire messages never forbid unknown fields."""
    doc = msgspec.json.decode(encode(TASK))
    doc["priority"] = "high"
    assert task_decoder.decode(msgspec.json.encode(doc)) == TASK
    event = msgspec.json.decode(encode(STATUS_EVENTS[-1]))
    event["node"] = "x"
    assert status_decoder.decode(msgspec.json.encode(event)) == STATUS_EVENTS[-1]


def test_an_unknown_event_type_is_a_decode_error_not_a_crash() -> None:
    with pytest.raises(msgspec.ValidationError):
        status_decoder.decode(b'{"type": "task.exploded", "run_id": "r"}')
    with pytest.raises(msgspec.DecodeError):
        status_decoder.decode(b"\xff not json")


def test_dispatch_msg_id_is_per_task_attempt() -> None:
    assert TASK.msg_id == "t1:2"


def test_recoverable_failure_codes() -> None:
    assert is_recoverable(FailureCode.INFRA)
    assert is_recoverable(FailureCode.TIMEOUT)
    assert is_recoverable(FailureCode.PUSH_FAILED)
    assert not is_recoverable(FailureCode.NO_CHANGES)
    assert not is_recoverable(FailureCode.VERIFICATION_FAILED)


def test_subject_builders() -> None:
    assert subjects.task_dispatch_subject("local") == subjects.TASK_DISPATCH_LOCAL
    assert subjects.task_dispatch_subject("dagger") == subjects.TASK_DISPATCH_DAGGER
    assert subjects.status_subject("r1") == "cc.status.r1"
    assert subjects.log_subject("r1", "t1") == "cc.log.r1.t1"
