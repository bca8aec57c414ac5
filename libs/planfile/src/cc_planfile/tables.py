"""Tasks written as markdown table rows.

Plans often list a batch's tasks as a table instead of headings:

    | Task  | Description               | Files                         |
    |-------|---------------------------|-------------------------------|
    | 3.1.1 | Config Validation Service | `services/config_validator.py` |

A row is a task when its first cell is a task id: a dotted id (`3.1.1`), `Task <id>`, or a
plain number when the first column is headed Task/ID/#. The title comes from the first
later column headed Description, Title, Task, Name or Summary (else the second column);
files from a column headed Files (its code spans, else comma-separated paths); dependencies
and verification from columns with those names, read like the corresponding task fields.
The header and delimiter rows are never tasks. The task body is the header, delimiter and
the row, so the agent sees the column names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cc_planfile.fields import TaskFields, file_paths_from_cell, verification_command
from cc_planfile.inline import (
    find_task_ids,
    is_dotted_task_id,
    is_task_id,
    strip_backticks,
    strip_emphasis,
    strip_status_marks,
)
from cc_planfile.markdown_blocks import LineKind, SourceLine, is_table_separator, split_table_row
from cc_planfile.shell_syntax import shell_syntax_problem

_ID_HEADERS = frozenset({"task", "id", "task id", "#", "no", "no.", "step"})
_TITLE_HEADERS = ("description", "title", "task", "name", "summary", "feature")
_FILES_HEADERS = frozenset({"files", "file", "files modified", "paths"})
_DEPS_HEADERS = frozenset({"dependencies", "depends on", "depends", "deps"})
_VERIFY_HEADERS = frozenset({"verification", "verify"})


@dataclass(frozen=True, slots=True)
class TableTask:
    id: str
    title: str
    line: int
    body: str
    fields: TaskFields
    """Its files, dependencies and verification, from the row's cells."""


@dataclass(slots=True)
class TableRead:
    tasks: list[TableTask] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)


def table_end(lines: Sequence[SourceLine], start: int) -> int | None:
    """If a table (header + delimiter row) starts at `lines[start]`, the index after it."""
    if start + 1 >= len(lines):
        return None
    header, delimiter = lines[start], lines[start + 1]
    if (
        header.kind is not LineKind.TEXT
        or header.heading is not None
        or "|" not in header.text
        or delimiter.kind is not LineKind.TEXT
        or not is_table_separator(delimiter.text)
    ):
        return None
    end = start + 2
    while (
        end < len(lines)
        and lines[end].kind is LineKind.TEXT
        and lines[end].heading is None
        and "|" in lines[end].text
    ):
        end += 1
    return end


def _header_name(cell: str) -> str:
    return " ".join(strip_emphasis(cell).lower().split())


def _column(headers: list[str], names: frozenset[str]) -> int | None:
    return next((i for i, name in enumerate(headers) if i > 0 and name in names), None)


def _row_id(cell: str, id_header: bool) -> tuple[str | None, str | None]:
    """(task id, None) for a task row; (None, message) for an unreadable id; (None, None)."""
    text = strip_status_marks(strip_backticks(strip_emphasis(cell))).strip()
    if text.lower().startswith("task "):
        token = text[5:].strip().rstrip(":.")
        if is_task_id(token):
            return token, None
        if token[:1].isdigit():
            return None, f"table row '{cell}' has a malformed task id"
        return None, None  # "Task Executor": a row about tasks, not a task
    if is_dotted_task_id(text) or (id_header and is_task_id(text)):
        return text, None
    return None, None


def _cell(cells: list[str], index: int | None) -> str:
    if index is None or index >= len(cells):
        return ""
    return cells[index]


def read_task_table(lines: Sequence[SourceLine]) -> TableRead:
    """Read the task rows of one table (`lines` = header, delimiter, rows)."""
    result = TableRead()
    headers = [_header_name(cell) for cell in split_table_row(lines[0].text)]
    id_header = bool(headers) and headers[0] in _ID_HEADERS
    title_col = next(
        (i for name in _TITLE_HEADERS for i, h in enumerate(headers) if i > 0 and h == name),
        1,
    )
    files_col = _column(headers, _FILES_HEADERS)
    deps_col = _column(headers, _DEPS_HEADERS)
    verify_col = _column(headers, _VERIFY_HEADERS)
    preamble = f"{lines[0].text}\n{lines[1].text}\n"

    for row in lines[2:]:
        cells = split_table_row(row.text)
        task_id, problem = _row_id(_cell(cells, 0), id_header)
        if problem is not None:
            result.warnings.append((row.number, problem + "; not run"))
        if task_id is None:
            continue
        title = strip_status_marks(strip_emphasis(_cell(cells, title_col))).strip()
        if not title:
            result.warnings.append(
                (row.number, f"table row for task {task_id} has no title; not run")
            )
            continue
        verification: list[str] = []
        notes: list[str] = []
        check = _cell(cells, verify_col)
        if check:
            command = verification_command(check)
            (verification if command else notes).append(command or check)
            problem = shell_syntax_problem(command) if command else None
            if problem is not None:
                result.warnings.append(
                    (row.number, f"task {task_id}: verification `{command}` {problem}")
                )
        result.tasks.append(
            TableTask(
                id=task_id,
                title=title,
                line=row.number,
                body=preamble + row.text,
                fields=TaskFields(
                    files=file_paths_from_cell(_cell(cells, files_col)),
                    depends_on=find_task_ids(_cell(cells, deps_col).replace("`", "")),
                    verification=verification,
                    verification_notes=notes,
                ),
            )
        )
    return result
