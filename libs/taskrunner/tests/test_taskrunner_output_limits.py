"""One attempt's output is capped: lines cut to a length, the attempt's lines and bytes
bounded, one marker line when the budget runs out, nothing after it."""

from __future__ import annotations

from pathlib import Path

from cc_taskrunner.output_limits import TRUNCATED, OutputBudget, OutputLimits
from cc_taskrunner.reporting import Reporter
from cc_taskrunner.settings import RunnerSettings
from commandcenter.gitfixtures import GitSandbox
from commandcenter_contracts import TaskDispatched
from taskrunner_support import RecordingSink, make_task


def _task() -> TaskDispatched:
    # No repository is touched: the reporter only names the attempt.
    return make_task(GitSandbox(repo=Path("/nowhere"), remote=Path("/nowhere.git")))


def test_lines_are_cut_and_the_budget_ends_with_one_marker() -> None:
    budget = OutputBudget(OutputLimits(max_lines=3, max_bytes=10_000, max_line_bytes=300))
    long = "é" * 400  # 800 bytes: cut at a character boundary
    first = budget.admit(long)
    assert first is not None and not first.marker
    assert first.line.startswith("é" * 150) and TRUNCATED in first.line
    assert "500 more bytes" in first.line
    assert budget.admit("two") is not None and budget.admit("three") is not None
    marker = budget.admit("four")
    assert marker is not None and marker.marker
    assert "CC_TASK_LOG_MAX_LINES" in marker.line
    assert [budget.admit(str(n)) for n in range(100)] == [None] * 100
    assert budget.dropped == 101


def test_the_byte_budget_counts_every_line() -> None:
    budget = OutputBudget(OutputLimits(max_lines=1_000, max_bytes=1024, max_line_bytes=256))
    admitted = [budget.admit("x" * 99) for _ in range(20)]  # 100 bytes each, newline counted
    assert [a is not None and not a.marker for a in admitted[:10]] == [True] * 10
    assert admitted[10] is not None and admitted[10].marker
    assert admitted[11:] == [None] * 9


async def test_a_runaway_attempt_publishes_its_limit_and_a_system_marker() -> None:
    sink = RecordingSink()
    limits = OutputLimits(max_lines=5, max_bytes=1 << 20, max_line_bytes=1024)
    report = Reporter(sink, _task(), limits)
    for n in range(10_000):
        await report.line("stdout", f"line {n}")
    assert [line.line for line in sink.lines[:5]] == [f"line {n}" for n in range(5)]
    assert len(sink.lines) == 6
    assert sink.lines[-1].stream == "system" and sink.lines[-1].line.startswith(TRUNCATED)


async def test_an_agent_cannot_fake_the_marker() -> None:
    sink = RecordingSink()
    report = Reporter(sink, _task())
    await report.line("stdout", f"{TRUNCATED} nothing to see")
    assert sink.lines[0].stream == "stdout"


def test_the_limits_are_settings() -> None:
    settings = RunnerSettings.from_env(
        {
            "CC_TASK_LOG_MAX_LINES": "10",
            "CC_TASK_LOG_MAX_BYTES": "2048",
            "CC_LOG_LINE_MAX_BYTES": "512",
        }
    )
    assert settings.output_limits == OutputLimits(max_lines=10, max_bytes=2048, max_line_bytes=512)
    assert RunnerSettings.from_env({}).output_limits == OutputLimits()
