"""The control-plane contracts: replay requests and the names they travel under."""

from __future__ import annotations

import msgspec
from commandcenter_contracts import (
    AgentSpec,
    TaskReplayRequested,
    encode,
    replay_decoder,
    subjects,
)


def test_a_replay_request_round_trips_and_defaults_to_no_overrides() -> None:
    full = TaskReplayRequested(
        request_id="q1",
        run_id="r1",
        task_id="t1",
        expected_attempt=2,
        agent=AgentSpec(name="command", argv=["fix", "--it"]),
        timeout_s=30.0,
        verification=["pytest -q"],
        requested_by="alice",
    )
    assert replay_decoder.decode(encode(full)) == full

    minimal = replay_decoder.decode(b'{"request_id": "q", "run_id": "r", "task_id": "t"}')
    assert (minimal.expected_attempt, minimal.agent, minimal.timeout_s) == (0, None, None)
    assert minimal.verification is None  # None keeps the task's own; [] means none at all


def test_a_newer_writers_fields_are_ignored() -> None:
    doc = msgspec.json.decode(encode(TaskReplayRequested(request_id="q", run_id="r", task_id="t")))
    doc["priority"] = "high"
    assert replay_decoder.decode(msgspec.json.encode(doc)).task_id == "t"


def test_control_subjects_do_not_overlap() -> None:
    assert not subjects.CONTROL_REPLAY.startswith(subjects.CONTROL_CANCEL_ALL[:-1])
    assert subjects.max_deliveries_advisory_subject("CC_TASKS") == (
        "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.CC_TASKS.*"
    )
    assert subjects.TASK_DISPATCH_ALL.removesuffix(">") + "local" == subjects.TASK_DISPATCH_LOCAL
