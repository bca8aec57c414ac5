"""`run --follow`'s view reads status events as the bus carries them, via the contracts."""

from __future__ import annotations

from commandcenter.progress import RunProgress
from commandcenter_contracts import (
    FailureCode,
    PlannedBatch,
    PlannedTask,
    RunHalted,
    RunPlanned,
    TaskFailed,
    TaskReplayRefused,
    TaskSucceeded,
    TaskUsage,
    encode,
)


def _planned() -> RunPlanned:
    tasks = [
        PlannedTask(task_id="t-a", plan_task_id="1.1", title="Add parser", branch="cc/a"),
        PlannedTask(task_id="t-b", plan_task_id="1.2", title="Add tests", branch="cc/b"),
    ]
    return RunPlanned(
        run_id="r1",
        batches=[PlannedBatch(index=0, phase="1", number="1", title="Core", tasks=tasks)],
    )


def test_events_draw_bars_and_the_run_end() -> None:
    lines: list[str] = []
    view = RunProgress(say=lines.append)
    view.feed(encode(_planned()))
    view.feed(
        encode(
            TaskSucceeded(
                run_id="r1",
                task_id="t-a",
                branch="cc/a",
                commit="0123456789abcdef",
                pushed=True,
                usage=TaskUsage(cost_usd=0.25),
            )
        )
    )
    view.feed(
        encode(
            TaskFailed(
                run_id="r1", task_id="t-b", error_code=FailureCode.VERIFICATION_FAILED, message="x"
            )
        )
    )
    view.feed(encode(RunHalted(run_id="r1", batch_index=0, reason="1.2 failed")))

    assert lines[0] == "planned 1 batch(es), 2 task(s)"
    assert "✔ 1.1 Add parser  cc/a @ 0123456789 (pushed, $0.2500)" in lines[1]
    assert lines[2].endswith("1/2")
    assert "✘ 1.2 Add tests  VERIFICATION_FAILED: x" in lines[3]
    assert lines[4].endswith("2/2")
    assert lines[-1] == "run halted after batch 1: 1.2 failed"
    assert view.final is not None and not view.succeeded
    assert view.failures == ["1.2 Add tests: VERIFICATION_FAILED"]


def test_an_unknown_event_type_or_garbage_is_skipped() -> None:
    lines: list[str] = []
    view = RunProgress(say=lines.append)
    view.feed(b'{"type": "run.teleported", "run_id": "r1"}')
    view.feed("not json")
    assert lines == [] and view.final is None


def test_a_refused_replay_is_said_with_its_reason_and_changes_no_task() -> None:
    lines: list[str] = []
    view = RunProgress(say=lines.append)
    view.feed(encode(_planned()))
    refused = TaskReplayRefused(
        run_id="r1", task_id="t-b", request_id="q", reason="1.2 has a newer attempt (2) already"
    )
    view.feed(encode(refused))
    assert lines[-1] == "  ✗ replay of 1.2 Add tests refused: 1.2 has a newer attempt (2) already"
    assert view.tasks["t-b"].status == "pending"
