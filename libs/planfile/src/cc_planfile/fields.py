"""Read the `**Field:**` sections of one task's markdown.

A field starts at a line `**Name:** value` (or `**Name**: value`, or a list item
`- **Name:** value` when Name is a field this module knows, or a heading inside the task whose
text is a known field name) and runs until the next field line or heading. Its value is the
text on the same line plus the list items, paragraphs and fenced blocks below it. Fields this
module does not know (Implementation, Objective, ...) are left in the task body for the agent.

Known fields: Files (also "Files Modified", "Files to Create", ...), Dependencies (also
"Depends on"), Verification, Commit, Skill, Execution Mode.

Files
    Each list item or same-line value gives paths. `Create:`, `Modify:`, `Test:` (and
    similar) prefixes and emphasis are dropped. If the item starts with code spans
    (`` `a.py`, `b.py` - why ``), those spans are the paths; otherwise the first word of
    each comma-separated part is, if it looks like a path (has a `/` or a `.`). A line range
    `path:12-30` (or `path:27-54, 191-207`, `path#L3-L9`) is stripped to the path. A plain
    fenced block lists one path per line; a drawn file tree (├──) cannot be read reliably and
    is reported as a warning.

Dependencies
    Task ids found in the value: dotted ids (`1.2`, `3.1.1`) and ids after "Task" (`Task 3`),
    and whole batches or phases (`Batch 1`, `Phase 2`), which the parser turns into their
    task ids. A batch's or phase's own `**Dependencies:**` (outside its tasks) counts for
    each of its tasks.
    "None", "N/A", "-" mean no dependencies. A non-empty value with no id is a warning.

Verification (the rule that decides what is executed)
    An item is a COMMAND when, after an optional leading `Run`/`Execute` (with or without a
    colon), it starts with an inline code span and nothing follows the span except, optionally,
    prose introduced by ` - ` (or an em/en dash), `:` or `(`, or a lone `.`. A task-list
    checkbox (`- [ ]`) is ignored. The span's content (minus a leading `$ `) is the command;
    the trailing prose is dropped (it stays in the body). Examples: `` `pytest tests/` ``,
    `` `pytest -q` - all pass ``, `` Run `make test` `` are commands. `` `pytest` passes ``
    and `File exists at scripts/x.txt` are prose: they go to `verification_notes` as written
    (an item's continuation lines joined by spaces), because guessing which part of a sentence
    is a command would execute things the author never meant to run.
    A fenced block whose info string is empty or a shell (bash, sh, shell, zsh) gives one
    command per line: blank lines and `#` comments are skipped, a leading `$ ` is removed and
    lines ending in `\\` are joined with the next. A `console` / `shell-session` block gives only
    its `$ ` lines (the rest is output). Any other block (python, text, ...) is one note.
    Commands run without a shell, so a command using shell syntax (`|`, `&&`, `>`, `$(...)`,
    globs, `VAR=value` ...) is kept but warned about with its line (see `shell_syntax`).

Commit
    The same-line value or first item, with backticks removed; if it is a
    `git commit -m "message"` command (inline or in a fence), the message.

Skill, Execution Mode
    The same-line value or first item, with backticks and emphasis removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from cc_planfile.inline import (
    EM_DASH,
    EN_DASH,
    find_code_spans,
    find_task_ids,
    is_task_id,
    leading_code_spans,
    strip_backticks,
    strip_emphasis,
)
from cc_planfile.markdown_blocks import LineKind, SourceLine, list_item_text
from cc_planfile.shell_syntax import shell_syntax_problem

_FIELD_NAMES: dict[str, str] = {
    **dict.fromkeys(
        (
            "files",
            "file",
            "files modified",
            "files changed",
            "files to modify",
            "files to create",
            "files to change",
            "modified files",
        ),
        "files",
    ),
    **dict.fromkeys(
        ("dependencies", "dependency", "depends on", "depends", "deps"), "dependencies"
    ),
    **dict.fromkeys(
        ("verification", "verify", "verification steps", "verification commands"),
        "verification",
    ),
    **dict.fromkeys(("commit", "commit message"), "commit"),
    "skill": "skill",
    "execution mode": "execution mode",
    **dict.fromkeys(("max turns", "max-turns", "turns"), "max turns"),
    **dict.fromkeys(("model", "agent model"), "model"),
}

_FILE_PREFIXES = ("create", "modify", "test", "tests", "update", "delete", "add", "edit", "new")
_SHELL_INFOS = frozenset({"", "bash", "sh", "shell", "zsh"})
_CONSOLE_INFOS = frozenset({"console", "shell-session", "terminal"})
_COMMAND_PREFIXES = ("run", "execute")
_PROSE_AFTER_COMMAND = ("- ", f"{EM_DASH} ", f"{EN_DASH} ", ":", "(")
_TREE_CHARS = frozenset("├└│─")
_T = TypeVar("_T")
_REF_STRIP = ",;:()[]{}*_`\"'."
_NONE_WORDS = ("none", "n/a", "na", "-", EM_DASH, "nothing")


def canonical_field(name: str) -> str | None:
    """The field a `**Name:**` label stands for, or None if this module ignores it."""
    return _FIELD_NAMES.get(" ".join(name.lower().split()))


def field_start(text: str) -> tuple[str, str] | None:
    """(name, same-line value) if `text` starts a field, else None."""
    stripped = text.strip()
    item = list_item_text(stripped)
    in_list = item is not None and item.startswith("**")
    if in_list and item is not None:
        stripped = item
    if not stripped.startswith("**"):
        return None
    close = stripped.find("**", 2)
    if close < 0:
        return None
    inner = stripped[2:close].strip()
    after = stripped[close + 2 :]
    if inner.endswith(":"):
        name, value = inner[:-1].strip(), after.strip()
    elif after.startswith(":"):
        name, value = inner, after[1:].strip()
    else:
        return None
    if not name or len(name) > 40 or "`" in name:
        return None
    if in_list and canonical_field(name) is None:
        return None  # "- **Expected:** PASS" is an item of the current field
    return name, value


@dataclass(slots=True)
class _Item:
    line: int
    text: str = ""
    listed: bool = True
    """A list item or same-line value (as opposed to a prose paragraph)."""
    fence_info: str | None = None
    """Not None for a fenced block; its lines are in `fence_lines`."""
    fence_lines: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SectionRef:
    """A dependency on a whole batch or phase (`Batch 1`, `Phase 2`), at a line of the plan."""

    kind: Literal["batch", "phase"]
    number: str
    line: int


@dataclass(slots=True)
class TaskFields:
    files: list[str] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)
    depends_on_sections: list[SectionRef] = field(default_factory=list)
    """`Batch 1` or `Phase 2` in Dependencies: the parser turns them into task ids."""
    verification: list[str] = field(default_factory=list)
    verification_notes: list[str] = field(default_factory=list)
    commit_message: str | None = None
    skill: str | None = None
    execution_mode: str | None = None
    max_turns: int | None = None
    model: str | None = None
    warnings: list[tuple[int, str]] = field(default_factory=list)

    def warn(self, line: int, task_id: str, message: str) -> None:
        """`task_id` names the owner: a task id, or `batch 2` for a batch's own fields."""
        owner = task_id if " " in task_id else f"task {task_id}"
        self.warnings.append((line, f"{owner}: {message}"))


def _collect_items(lines: Sequence[SourceLine]) -> dict[str, list[_Item]]:
    """Group the lines of a task section into items per known field."""
    collector = _ItemCollector()
    for line in lines:
        collector.feed(line)
    return collector.items


class _ItemCollector:
    """The state `_collect_items` carries from line to line."""

    def __init__(self) -> None:
        self.items: dict[str, list[_Item]] = {}
        self.current: str | None = None
        """The known field the lines belong to (None: an unknown field or none yet)."""
        self.open_item: _Item | None = None
        """The item a continuation line is appended to."""
        self.fence: _Item | None = None
        """The fenced block being read."""

    def add(self, item: _Item) -> _Item:
        if self.current is not None:
            self.items.setdefault(self.current, []).append(item)
        return item

    def feed(self, line: SourceLine) -> None:
        if line.kind is LineKind.FENCE_OPEN:
            self.open_item = None
            info = line.fence_info.split(" ")[0].lower()
            self.fence = self.add(_Item(line.number, fence_info=info))
        elif line.kind is LineKind.FENCE_BODY:
            if self.fence is not None:
                self.fence.fence_lines.append(line.text)
        elif line.kind is LineKind.FENCE_CLOSE:
            self.fence = None
        elif line.kind is LineKind.TEXT:
            self._text(line)

    def _text(self, line: SourceLine) -> None:
        if line.heading is not None:
            self.open_item = None
            self.current = canonical_field(line.heading.text.rstrip(":"))
            return
        if line.is_blank:
            self.open_item = None
            return
        start = field_start(line.text)
        if start is not None:
            self.current = canonical_field(start[0])
            self.open_item = self.add(_Item(line.number, start[1])) if start[1] else None
        elif self.current is None or line.text.lstrip().startswith("|"):
            self.open_item = None  # outside known fields, and tables, nothing is an item
        else:
            self._content(line)

    def _content(self, line: SourceLine) -> None:
        """A non-blank line of a known field: a new item, or the open item's next line."""
        text = list_item_text(line.text)
        if text is not None:
            self.open_item = self.add(_Item(line.number, text))
        elif self.open_item is not None:
            self.open_item.text = f"{self.open_item.text} {line.text.strip()}"
        else:
            self.open_item = self.add(_Item(line.number, line.text.strip(), listed=False))


# --- Files -------------------------------------------------------------------------------


def strip_line_range(path: str) -> str:
    """`a.py:12-30` -> `a.py`; `a.py:27-54, 191-207` -> `a.py`; `a.py#L3-L9` -> `a.py`."""
    path = path.strip()
    anchor = path.rfind("#L")
    if anchor > 0 and all(c.isdigit() or c in "-L" for c in path[anchor + 1 :]):
        path = path[:anchor]
    colon = path.rfind(":")
    if colon > 0:
        tail = path[colon + 1 :]
        if any(c.isdigit() for c in tail) and all(
            c.isdigit() or c in f" -{EN_DASH}," for c in tail
        ):
            path = path[:colon]
    return path.strip()


def _strip_file_prefix(text: str) -> str:
    text = text.replace("**", "").strip()
    head, colon, rest = text.partition(":")
    if colon and head.strip().lower() in _FILE_PREFIXES:
        return rest.strip()
    return text


def _looks_like_path(token: str) -> bool:
    core = token.rstrip(".")
    return "/" in core or "." in core


def _paths_from_text(text: str, *, listed: bool) -> tuple[list[str], str | None]:
    """Paths in one Files item, and the item text if it had none that could be read."""
    text = _strip_file_prefix(text)
    spans, _ = leading_code_spans(text)
    if spans:
        return [p for p in (strip_line_range(s) for s in spans) if p], None
    if not listed or text.strip().lower().rstrip(".") in _NONE_WORDS:
        return [], None
    head = text
    for separator in (" - ", f" {EM_DASH} ", f" {EN_DASH} ", " ("):
        head = head.split(separator)[0]
    paths: list[str] = []
    for part in head.split(","):
        words = part.split()
        if words and _looks_like_path(words[0].strip(";")):
            paths.append(strip_line_range(words[0].strip(";").rstrip(".")))
    return [p for p in paths if p], (None if paths else text)


def _paths_from_fence(item: _Item) -> tuple[list[str], bool]:
    """Paths listed one per line in a fenced block; (.., False) for a drawn file tree."""
    if any(_TREE_CHARS.intersection(line) for line in item.fence_lines):
        return [], False
    paths: list[str] = []
    for line in item.fence_lines:
        words = line.split()
        if words and not words[0].startswith("#") and _looks_like_path(words[0]):
            paths.append(strip_line_range(words[0]))
    return paths, True


def _read_files(items: list[_Item], task_id: str, fields: TaskFields) -> None:
    for item in items:
        if item.fence_info is not None:
            paths, readable = _paths_from_fence(item)
            if not readable:
                message = "the file tree under Files is not read; list files as items"
                fields.warn(item.line, task_id, message)
        else:
            paths, unread = _paths_from_text(item.text, listed=item.listed)
            if unread is not None:
                fields.warn(item.line, task_id, f"Files item '{unread}' has no path; ignored")
        _add_new(fields.files, paths)


# --- Dependencies ------------------------------------------------------------------------


def _is_none(text: str) -> bool:
    lowered = text.strip().lower().rstrip(".")
    return lowered in _NONE_WORDS or lowered.startswith(("none ", "none,", "none;", "none("))


def section_refs(text: str, line: int) -> list[SectionRef]:
    """`Batch 1`, `batches 1 and 2`, `Phase 3` in free text, in order."""
    refs: list[SectionRef] = []
    kind: Literal["batch", "phase"] | None = None
    for raw in text.replace(",", " ").replace(";", " ").split():
        word = raw.strip(_REF_STRIP).lower()
        if word in ("batch", "batches"):
            kind = "batch"
        elif word in ("phase", "phases"):
            kind = "phase"
        elif kind is not None and is_task_id(word.lstrip("#")) and "." not in word:
            ref = SectionRef(kind=kind, number=word.lstrip("#"), line=line)
            if ref not in refs:
                refs.append(ref)
        elif word not in ("and", "&", "or"):
            kind = None
    return refs


def _read_dependencies(items: list[_Item], task_id: str, fields: TaskFields) -> None:
    for item in items:
        text = (" ".join(item.fence_lines) if item.fence_info is not None else item.text).replace(
            "`", ""
        )
        if not text.strip() or _is_none(text):
            continue
        ids = find_task_ids(text)
        refs = section_refs(text, item.line)
        if not ids and not refs:
            fields.warn(item.line, task_id, f"dependency '{text.strip()}' names no task id")
        _add_new(fields.depends_on, ids)
        _add_new(fields.depends_on_sections, refs)


def read_section_dependencies(lines: Sequence[SourceLine], owner: str) -> TaskFields:
    """The Dependencies field of a batch's or phase's own text (outside its tasks): what every
    task of it depends on. `owner` (`batch 2`) starts its warnings."""
    fields = TaskFields()
    _read_dependencies(_collect_items(lines).get("dependencies", []), owner, fields)
    return fields


def _add_new(values: list[_T], more: Iterable[_T]) -> None:
    """Append, in order, what `values` does not hold yet."""
    for value in more:
        if value not in values:
            values.append(value)


# --- Verification ------------------------------------------------------------------------


def _strip_prompt(command: str) -> str:
    command = command.strip()
    if command.startswith("$ "):
        command = command[2:].strip()
    return command


def verification_command(text: str) -> str | None:
    """The command of one verification item, or None if the item is prose."""
    rest = text.strip()
    lowered = rest.lower()
    for prefix in _COMMAND_PREFIXES:
        if lowered.startswith(prefix):
            after = rest[len(prefix) :]
            if after.startswith(":"):
                after = after[1:]
            if after[:1].isspace() and after.strip().startswith("`"):
                rest = after.strip()
            break
    spans = find_code_spans(rest)
    if not spans or spans[0].start != 0:
        return None
    tail = rest[spans[0].end :].strip()
    if (
        tail
        and not tail.startswith(_PROSE_AFTER_COMMAND)
        and tail not in ("-", EM_DASH, EN_DASH, ".")
    ):
        return None
    return _strip_prompt(spans[0].content) or None


def fence_commands(info: str, lines: Sequence[str]) -> list[str] | None:
    """Commands of a fenced block in a Verification section; None if it is not a shell block."""
    numbered = fence_command_lines(info, lines)
    return None if numbered is None else [command for _, command in numbered]


def fence_command_lines(info: str, lines: Sequence[str]) -> list[tuple[int, str]] | None:
    """`fence_commands`, each with the index in `lines` of the line it starts on."""
    console = info in _CONSOLE_INFOS
    if not console and info not in _SHELL_INFOS:
        return None
    commands: list[tuple[int, str]] = []
    pending = ""
    pending_start = 0
    for index, raw in enumerate(lines):
        line = raw.strip()
        if pending:
            line = f"{pending} {line}".strip()
            pending = ""
        else:
            pending_start = index
            if console and not line.startswith("$ "):
                continue
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending = line[:-1].strip()
            continue
        command = _strip_prompt(line)
        if command:
            commands.append((pending_start, command))
    if pending:
        commands.append((pending_start, _strip_prompt(pending)))
    return commands


def _read_verification(items: list[_Item], task_id: str, fields: TaskFields) -> None:
    for item in items:
        if item.fence_info is not None:
            commands = fence_command_lines(item.fence_info, item.fence_lines)
            if commands is None:
                note = "\n".join(item.fence_lines).strip()
                if note:
                    fields.verification_notes.append(note)
                continue
            for offset, fenced in commands:
                # The fence's first body line is the line after the opening fence.
                _add_command(fields, item.line + 1 + offset, task_id, fenced)
            continue
        command = verification_command(item.text)
        if command is not None:
            _add_command(fields, item.line, task_id, command)
        elif item.text.strip():
            fields.verification_notes.append(item.text.strip())


def _add_command(fields: TaskFields, line: int, task_id: str, command: str) -> None:
    fields.verification.append(command)
    problem = shell_syntax_problem(command)
    if problem is not None:
        fields.warn(line, task_id, f"verification `{command}` {problem}")


# --- Commit, Skill, Execution Mode -------------------------------------------------------


def _git_commit_message(text: str) -> str | None:
    """The message of `git commit -m "message"`, if `text` contains such a command."""
    at = text.find("git commit")
    if at < 0:
        return None
    flag = text.find("-m", at)
    if flag < 0:
        return None
    after = text[flag + 2 :].lstrip()
    if after[:1] in ("'", '"'):
        end = after.find(after[0], 1)
        if end > 0:
            return after[1:end].strip() or None
    return None


def _read_commit(items: list[_Item]) -> str | None:
    for item in items:
        if item.fence_info is not None:
            joined = "\n".join(item.fence_lines)
            message = _git_commit_message(joined)
            if message is None:
                first = next((line.strip() for line in item.fence_lines if line.strip()), "")
                message = first or None
        else:
            message = _git_commit_message(item.text) or strip_backticks(item.text)
        if message:
            if len(message) >= 2 and message[0] == message[-1] and message[0] in "'\"":
                message = message[1:-1].strip()
            return message or None
    return None


def _read_single(items: list[_Item]) -> str | None:
    for item in items:
        text = (
            item.fence_lines[0] if item.fence_info is not None and item.fence_lines else item.text
        )
        value = strip_emphasis(strip_backticks(text))
        if value:
            return value
    return None


def read_task_fields(lines: Sequence[SourceLine], task_id: str) -> TaskFields:
    """Read the known fields from a task's section (the lines after its heading)."""
    items = _collect_items(lines)
    fields = TaskFields()
    _read_files(items.get("files", []), task_id, fields)
    _read_dependencies(items.get("dependencies", []), task_id, fields)
    _read_verification(items.get("verification", []), task_id, fields)
    fields.commit_message = _read_commit(items.get("commit", []))
    fields.skill = _read_single(items.get("skill", []))
    fields.execution_mode = _read_single(items.get("execution mode", []))
    fields.model = _read_single(items.get("model", []))
    fields.max_turns = _read_max_turns(items.get("max turns", []), task_id, fields)
    return fields


def _read_max_turns(items: list[_Item], task_id: str, fields: TaskFields) -> int | None:
    """`**Max turns:** 40`: a whole number from 1 to 1000; anything else is a warning."""
    text = _read_single(items)
    if text is None:
        return None
    value = text.split()[0]
    if value.isdigit() and 1 <= int(value) <= 1000:
        return int(value)
    fields.warn(items[0].line, task_id, f"Max turns {text!r} is not a number from 1 to 1000")
    return None


def file_paths_from_cell(cell: str) -> list[str]:
    """Paths in a table's Files cell: its code spans, else comma-separated path-like words."""
    spans = [span.content for span in find_code_spans(cell)]
    if spans:
        return [p for p in (strip_line_range(s) for s in spans) if p]
    paths: list[str] = []
    for part in cell.replace("<br>", ",").split(","):
        words = part.split()
        if words and _looks_like_path(words[0]):
            paths.append(strip_line_range(words[0]))
    return paths
