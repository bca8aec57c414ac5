"""How the CLI draws: rich bars, tables and colours on a terminal, the same facts as plain lines
elsewhere (rendered into a rich Console writing to a string, with and without a terminal)."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from commandcenter import views
from commandcenter.dashboard import dashboard_url, display_available, open_in_browser
from commandcenter.live import LiveRunView
from commandcenter.main import agent_argv_as_options, main
from commandcenter.sse import messages
from commandcenter.terminal import line_style, wants_plain
from commandcenter_contracts import (
    BatchStarted,
    FailureCode,
    PlannedBatch,
    PlannedTask,
    RunHalted,
    RunPlanned,
    TaskFailed,
    TaskProgress,
    TaskStarted,
    TaskSucceeded,
    TaskUsage,
    encode,
)
from rich.console import Console

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _console(*, terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    # On a terminal: 16 colours whatever $TERM says; elsewhere rich decides, as in the CLI.
    colours = "standard" if terminal else "auto"
    console = Console(
        file=out, force_terminal=terminal, width=120, color_system=colours, highlight=False
    )
    return console, out


def _planned() -> RunPlanned:
    def batch(index: int, tasks: list[tuple[str, str]]) -> PlannedBatch:
        return PlannedBatch(
            index=index,
            phase=None,
            number=str(index + 1),
            title=f"Batch {index + 1}",
            tasks=[
                PlannedTask(task_id=tid, plan_task_id=pid, title=f"do {pid}", branch=f"cc/{tid}")
                for tid, pid in tasks
            ],
        )

    return RunPlanned(
        run_id="r1",
        batches=[batch(0, [("t-a", "1.1"), ("t-b", "1.2")]), batch(1, [("t-c", "2.1")])],
    )


def _events() -> list[Any]:
    return [
        _planned(),
        BatchStarted(run_id="r1", batch_index=0),
        TaskStarted(run_id="r1", task_id="t-a"),
        TaskProgress(run_id="r1", task_id="t-b", step="verify"),
        TaskSucceeded(
            run_id="r1",
            task_id="t-a",
            branch="cc/t-a",
            commit="0123456789abcdef",
            usage=TaskUsage(cost_usd=0.5),
        ),
        TaskFailed(
            run_id="r1", task_id="t-b", error_code=FailureCode.VERIFICATION_FAILED, message="x"
        ),
        RunHalted(run_id="r1", batch_index=0, reason="1.2 failed"),
    ]


# --- run --follow / demo: the live view ------------------------------------------------------
def test_the_live_view_draws_a_bar_per_batch_and_a_task_table_in_colour() -> None:
    console, out = _console(terminal=True)
    view = LiveRunView(console)
    with view.shown():
        for event in _events():
            view.feed(encode(event))
    text = out.getvalue()
    assert ANSI.search(text), "a terminal gets colours"
    plain = ANSI.sub("", text)
    # the outcome lines, printed above the display as they happen
    assert "✔ 1.1 do 1.1  cc/t-a @ 0123456789" in plain
    assert "✘ 1.2 do 1.2  VERIFICATION_FAILED: x" in plain
    assert "run halted after batch 1: 1.2 failed" in plain
    # the last drawing: both bars, then a row per task with its status as a word
    last = plain[plain.rindex("▸ batch 1: Batch 1") :]
    assert re.search(r"▸ batch 1: Batch 1 .* 2/2", last)
    assert re.search(r"batch 2: Batch 2 .* 0/1", last)
    rows = {line.split()[0]: line for line in last.splitlines() if re.match(r"\s*\d\.\d ", line)}
    assert "succeeded" in rows["1.1"] and "$0.5000" in rows["1.1"] and "0123456789" in rows["1.1"]
    assert "failed VERIFICATION_FAILED" in rows["1.2"]
    assert "pending" in rows["2.1"]
    assert view.progress.final is not None and not view.progress.succeeded
    assert view.progress.cost_usd == 0.5


def test_the_live_view_without_a_terminal_has_no_colour_codes() -> None:
    console, out = _console(terminal=False)
    view = LiveRunView(console)
    with view.shown():
        for event in _events():
            view.feed(encode(event))
    assert "\x1b[" not in out.getvalue()
    assert "run halted after batch 1: 1.2 failed" in out.getvalue()


def test_a_large_run_shows_the_current_batchs_tasks_only() -> None:
    tasks = [
        PlannedTask(task_id=f"t{i}", plan_task_id=f"1.{i}", title="t", branch="b")
        for i in range(25)
    ]
    later = [PlannedTask(task_id="u", plan_task_id="2.1", title="u", branch="b")]
    planned = RunPlanned(
        run_id="r1",
        batches=[
            PlannedBatch(index=0, phase=None, number="1", title="One", tasks=tasks),
            PlannedBatch(index=1, phase=None, number="2", title="Two", tasks=later),
        ],
    )
    view = LiveRunView(_console(terminal=False)[0])
    view.feed(encode(planned))
    view.feed(encode(BatchStarted(run_id="r1", batch_index=1)))
    assert [task.plan_task_id for task in view.shown_tasks()] == ["2.1"]


def test_progress_lines_are_coloured_by_what_they_say() -> None:
    assert line_style("  ✔ 1.1 x  cc/a @ 0123") == "green"
    assert line_style("  ✘ 1.1 x  AGENT_UNAVAILABLE: y  (will retry)") == "yellow"
    assert line_style("  ✘ 1.1 x  NO_CHANGES: y") == "red"
    assert line_style("run halted after batch 1: z") == "bold red"
    assert line_style("planned 1 batch(es), 2 task(s)") == ""


# --- status RUN_ID, runs -----------------------------------------------------------------------
VIEW: dict[str, Any] = {
    "id": "r-1",
    "status": "halted",
    "mode": "local",
    "cost_usd": 0.75,
    "max_cost_usd": 5.0,
    "integration_branch": "cc/r-1/integration",
    "integration_commit": "abcdef0123456789",
    "land": "branch",
    "pull_request": None,
    "counts": {"succeeded": 1, "failed": 1, "total": 2},
    "batches": [
        {
            "phase": None,
            "number": "1",
            "title": "Core",
            "status": "failed",
            "tasks": [
                {
                    "task_id": "t-a",
                    "plan_task_id": "1.1",
                    "title": "Parser",
                    "status": "succeeded",
                    "attempt": 1,
                    "branch": "cc/r-1/1.1",
                    "integrated_commit": "fedcba9876543210",
                    "cost_usd": 0.75,
                    "error_code": None,
                    "error": None,
                },
                {
                    "task_id": "t-b",
                    "plan_task_id": "1.2",
                    "title": "Tests",
                    "status": "failed",
                    "attempt": 2,
                    "branch": "cc/r-1/1.2",
                    "integrated_commit": None,
                    "cost_usd": 0.0,
                    "error_code": "NO_CHANGES",
                    "error": "nothing changed",
                },
            ],
        }
    ],
}


def test_a_run_as_plain_lines_stays_as_it_was() -> None:
    assert views.run_lines(VIEW) == [
        "run r-1  halted  (local)  $0.7500 of $5.00",
        "  integration branch cc/r-1/integration @ abcdef0123  (land: branch)",
        "  batch 1: Core  [failed]",
        "    1.1      succeeded  cc/r-1/1.1  → fedcba9876",
        "    1.2      failed     cc/r-1/1.2  NO_CHANGES: nothing changed",
        "             replay: commandcenter replay t-b",
        "  succeeded 1, failed 1, total 2",
    ]


def test_a_run_as_a_table_on_a_terminal() -> None:
    console, out = _console(terminal=True)
    console.print(views.run_renderable(VIEW))
    text = out.getvalue()
    assert "\x1b[" in text
    plain = ANSI.sub("", text)
    row = next(line for line in plain.splitlines() if " 1.2 " in line)
    assert "Tests" in row and "failed NO_CHANGES" in row and " 2 " in row
    assert "replay: commandcenter replay t-b" in plain
    assert "integration branch cc/r-1/integration @ abcdef0123" in plain

    console, out = _console(terminal=False)
    console.print(views.run_renderable(VIEW))
    assert "\x1b[" not in out.getvalue() and "failed NO_CHANGES" in out.getvalue()


RUN_ITEM = {
    "id": "11111111-2222-3333-4444-555555555555",
    "status": "running",
    "mode": "local",
    "plan_path": "/plans/MASTER_PLAN.md",
    "created_at": "2026-11-30T08:00:00Z",
    "finished_at": None,
    "counts": {"succeeded": 3, "total": 7},
    "cost_usd": 1.25,
}
NOW = datetime(2026, 11, 30, 8, 12, 5, tzinfo=UTC)


def test_runs_as_plain_lines_and_as_a_table() -> None:
    line = views.runs_line(RUN_ITEM, NOW)
    assert line.startswith(f"{RUN_ITEM['id']}  running    local       3/7    $1.2500  ")
    assert line.endswith("12m05s  /plans/MASTER_PLAN.md")
    done = {**RUN_ITEM, "status": "succeeded", "finished_at": "2026-11-30T10:03:00+00:00"}
    assert views.duration(done) == "2h03m"
    assert views.duration({**RUN_ITEM, "finished_at": "2026-11-30T08:00:09Z"}) == "9s"

    console, out = _console(terminal=True)
    console.print(views.runs_table([RUN_ITEM, done], NOW))
    plain = ANSI.sub("", out.getvalue())
    header = plain.splitlines()[0].split()
    assert header == list(views.RUNS_COLUMNS)
    assert "running" in plain and "succeeded" in plain and "3/7" in plain and "12m05s" in plain
    assert "\x1b[" in out.getvalue()


# --- plain or rich ---------------------------------------------------------------------------
class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_unless_stdout_is_a_terminal_and_plain_was_not_asked_for() -> None:
    assert wants_plain(False, io.StringIO())
    assert not wants_plain(False, _Tty())
    assert wants_plain(True, _Tty())


def test_commands_print_plain_lines_when_output_is_captured(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # capsys is not a terminal: what CI and pipes see
    assert main(["open", "--print-only", "--gateway", "http://gw.example:8001/"]) == 0
    assert capsys.readouterr().out == "http://gw.example:8001/\n"


# --- open ------------------------------------------------------------------------------------
def test_the_dashboard_address_and_when_a_browser_is_opened() -> None:
    assert dashboard_url("http://h:1/") == "http://h:1/"
    assert dashboard_url("http://h:1", "r-1") == "http://h:1/runs/r-1"
    assert dashboard_url("http://h:1", "../x") == "http://h:1/runs/..%2Fx"
    assert not display_available({}, "linux")
    assert display_available({"DISPLAY": ":0"}, "linux")
    assert display_available({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert display_available({}, "darwin")

    opened: list[str] = []

    def opener(url: str) -> bool:
        opened.append(url)
        return True

    assert not open_in_browser("http://h:1/", environ={}, opener=opener)
    assert open_in_browser("http://h:1/", environ={"DISPLAY": ":0"}, opener=opener)
    assert opened == ["http://h:1/"]


# --- the command line ------------------------------------------------------------------------
def test_everything_after_agent_argv_is_the_agents() -> None:
    argv = ["run", "p.md", "--agent", "command", "--agent-argv", "tool", "--follow", "-x"]
    assert agent_argv_as_options(argv) == [
        "run",
        "p.md",
        "--agent",
        "command",
        "--agent-argv",
        "tool",
        "--agent-argv",
        "--follow",
        "--agent-argv",
        "-x",
    ]
    assert agent_argv_as_options(["status"]) == ["status"]


def test_usage_errors_exit_2_and_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "logs" in capsys.readouterr().out
    assert main([]) == 2
    assert main(["no-such-command"]) == 2
    assert main(["run"]) == 2  # PLAN is missing
    assert main(["run", "p.md", "--mode", "teleport"]) == 2
    assert main(["run", "p.md", "--batches", "-3", "--gateway", "http://127.0.0.1:9"]) == 2
    assert "expected A-B" in capsys.readouterr().err


# --- httpx-sse ---------------------------------------------------------------------------------
def test_messages_skip_keep_alives_and_keep_the_last_id() -> None:
    body = (
        b": keep-alive\n\n"
        b'id: 1\nevent: run.planned\ndata: {"a": 1}\n\n'
        b": keep-alive\n\n"
        b"event: log\ndata: two\ndata: lines\n\n"
    )
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)
    got = [(m.id, m.event, m.data) for m in messages(response)]
    assert got == [("1", "run.planned", '{"a": 1}'), ("1", "log", "two\nlines")]


def test_titles_are_shown_as_written_never_as_markup() -> None:
    title = "[bold]Fix[/] the :smile: parser [wip]"
    planned = RunPlanned(
        run_id="r1",
        batches=[
            PlannedBatch(
                index=0,
                phase=None,
                number="1",
                title="[/]",
                tasks=[PlannedTask(task_id="t", plan_task_id="1.1", title=title, branch="b")],
            )
        ],
    )
    console, out = _console(terminal=True)
    view = LiveRunView(console)
    view.feed(encode(planned))
    console.print(view.render())
    task = {**VIEW["batches"][0]["tasks"][0], "title": title}
    console.print(
        views.run_renderable({**VIEW, "batches": [{**VIEW["batches"][0], "tasks": [task]}]})
    )
    plain = ANSI.sub("", out.getvalue())
    assert plain.count(title) == 2
    assert "batch 1: [/]" in plain


def test_a_new_attempts_output_gets_a_heading() -> None:
    from commandcenter.logs import attempt_marker
    from commandcenter_contracts import LogLine

    def line(attempt: int) -> LogLine:
        return LogLine(run_id="r", task_id="t", attempt=attempt, line="x")

    assert attempt_marker(None, line(1)) is None
    assert attempt_marker(1, line(1)) is None
    assert attempt_marker(1, line(2)) == "── attempt 2 ──"
