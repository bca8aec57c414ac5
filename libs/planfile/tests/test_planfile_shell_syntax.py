"""Verification commands run without a shell: shell syntax in one is a warning at parse time."""

from __future__ import annotations

from textwrap import dedent

import pytest
from cc_planfile import parse_plan
from cc_planfile.shell_syntax import shell_syntax, shell_syntax_problem


@pytest.mark.parametrize(
    ("command", "operators"),
    [
        ("ls | wc -l", ["|"]),
        ("make build && make test", ["&&"]),
        ("pytest || true", ["||"]),
        ("a; b", [";"]),
        ("echo ok > out.txt", [">"]),
        ("sort < in.txt", ["<"]),
        ("pytest 2>&1", [">&"]),
        ("test -s $(ls dist)", ["$("]),
        ("echo `date`", ["`"]),
        ('echo "$HOME"', ["$"]),
        ("pytest tests/*.py", ["*"]),
        ("ls src/?.py", ["?"]),
        ("ls [ab].py", ["["]),
        ("FOO=1 BAR=2 pytest", ["FOO=", "BAR="]),
        ("ls ~/x", ["~"]),
        ("pytest # all of them", ["#"]),
        ("sleep 1 &", ["&"]),
    ],
)
def test_each_operator_is_named(command: str, operators: list[str]) -> None:
    assert [found.operator for found in shell_syntax(command)] == operators


@pytest.mark.parametrize(
    "command",
    [
        "pytest tests/test_a.py -q",
        'grep -q "a|b" notes.txt',
        "python -c 'import sys; sys.exit(0)'",
        "echo 'lit $x > y'",
        "echo a\\|b",
        "make VAR=1 test",
        "pytest --maxfail=1",
        "pytest tests/test_a.py::test_b[1-2]",
        "curl -fsS http://127.0.0.1:8001/health?deep=1",
        "test -f a.txt",
    ],
)
def test_quoted_or_literal_forms_are_fine(command: str) -> None:
    assert shell_syntax(command) == []
    assert shell_syntax_problem(command) is None


def test_an_unclosed_quote_is_a_problem_too() -> None:
    problem = shell_syntax_problem("echo 'oops")
    assert problem is not None and "cannot be split into arguments" in problem


def test_warnings_name_the_operator_and_the_line() -> None:
    plan = parse_plan(
        dedent(
            """\
            # P
            ## Batch 1: B
            ### Task 1.1: Count
            **Verification:**
            - `ls | wc -l`
            - `pytest -q`
            ```bash
            pytest -q
            make lint \\
              && make test
            ```
            """
        )
    )
    task = plan.batches[0].tasks[0]
    # The commands stay as written: a warning, not a rewrite.
    assert task.verification == ["ls | wc -l", "pytest -q", "pytest -q", "make lint && make test"]
    tail = ", but commands run without a shell; put such a check in a script the task commits"
    assert [(w.line, w.message) for w in plan.warnings] == [
        (5, "task 1.1: verification `ls | wc -l` uses shell syntax: '|' (a pipe)" + tail),
        (
            9,
            "task 1.1: verification `make lint && make test` uses shell syntax: "
            "'&&' (an and-list)" + tail,
        ),
    ]


def test_table_verification_cells_are_checked() -> None:
    plan = parse_plan(
        dedent(
            """\
            # P
            ## Batch 1: B
            | Task | Title | Verification |
            |------|-------|--------------|
            | 1.1 | Build | `make > log` |
            """
        )
    )
    assert plan.batches[0].tasks[0].verification == ["make > log"]
    assert [(w.line, w.message.split(":")[0]) for w in plan.warnings] == [(5, "task 1.1")]
    assert "'>' (a redirection)" in plan.warnings[0].message
