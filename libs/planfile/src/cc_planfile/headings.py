"""What a heading means: a phase, a batch, a task, a broken attempt at one, or plain text.

Recognised (case-insensitive keyword, heading level is decided by the parser, not here):

* `Phase P: title` - P is a number such as `3`, `2a`, `1.5` or a single letter (`Phase A`).
  The separator after P may be `:`, `-`, an em or en dash, or `.`, or the heading may end after P.
  `Phase 2 Validation Summary` (words right after the number, no separator) is a section
  *about* a phase, not a phase, and is plain text.
* `Batch N: title` - the same rules as phases.
* `Task X.Y: title` - X.Y is a task id (`1`, `1.2`, `3.1.1`); the separator is optional
  (`Task 1.2 Build it` works). Trailing status marks such as `✅` are stripped from the title.

A heading that starts with the keyword but cannot be read - `Task: no id`, `Task 1.x foo`,
`Task 1.2` without a title, `Batch: setup` - is a `MalformedHeading`, which the parser turns
into a warning. `Task Overview` or `Batch Processing Notes` (keyword followed by a plain word
and no colon) are ordinary headings: they are not trying to be structure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cc_planfile.inline import (
    EM_DASH,
    EN_DASH,
    is_task_id,
    strip_emphasis,
    strip_leading_status_marks,
    strip_status_marks,
)

HeadingKind = Literal["phase", "batch", "task"]

_SEPARATORS = (":", "-", EM_DASH, EN_DASH, ".")
_KEYWORDS: tuple[HeadingKind, ...] = ("phase", "batch", "task")


@dataclass(frozen=True, slots=True)
class PhaseHeading:
    number: str
    title: str


@dataclass(frozen=True, slots=True)
class BatchHeading:
    number: str
    title: str


@dataclass(frozen=True, slots=True)
class TaskHeading:
    id: str
    title: str


@dataclass(frozen=True, slots=True)
class MalformedHeading:
    kind: HeadingKind
    message: str


Classified = PhaseHeading | BatchHeading | TaskHeading | MalformedHeading


def _split_keyword(text: str) -> tuple[HeadingKind, str] | None:
    """("task", rest) if `text` starts with the word Task (Phase, Batch), else None."""
    lowered = text.lower()
    for keyword in _KEYWORDS:
        if lowered.startswith(keyword):
            rest = text[len(keyword) :]
            if rest == "" or rest[0] in " \t:":
                return keyword, rest
    return None


def _split_number(rest: str) -> tuple[str, str, bool]:
    """Split `" 1.2: title"` into ("1.2", "title", had_separator)."""
    rest = rest.strip()
    token, _, remainder = rest.partition(" ")
    remainder = remainder.strip()
    had_separator = False
    if token.startswith("#"):
        token = token[1:]
    for separator in (":", "."):
        if token.endswith(separator) and len(token) > 1:
            token = token[: -len(separator)]
            had_separator = True
            break
    if ":" in token and not had_separator:
        # "1.2:title" written without a space
        token, _, glued = token.partition(":")
        remainder = (glued + " " + remainder).strip()
        had_separator = True
    if not had_separator:
        for separator in _SEPARATORS:
            if remainder.startswith(separator):
                remainder = remainder[len(separator) :].strip()
                had_separator = True
                break
    return token, remainder, had_separator


def _is_container_number(token: str) -> bool:
    return is_task_id(token) or (len(token) == 1 and token.isalpha())


def _classify_container(kind: HeadingKind, text: str, rest: str) -> Classified | None:
    stripped = rest.strip()
    if stripped == "" or stripped.startswith(":"):
        return MalformedHeading(kind, f"{kind} heading '{text}' has no number")
    token, title, had_separator = _split_number(rest)
    if not _is_container_number(token):
        if token[:1].isdigit():
            return MalformedHeading(kind, f"{kind} heading '{text}' has a malformed number")
        if ":" in text:
            return MalformedHeading(kind, f"{kind} heading '{text}' has no number")
        return None  # "Batch Processing Notes": prose about batches
    if not had_separator and title and not title.startswith("("):
        return None  # "Phase 2 Validation Summary": a section about a phase
    if kind == "phase":
        return PhaseHeading(number=token, title=title)
    return BatchHeading(number=token, title=title)


def _classify_task(text: str, rest: str) -> Classified | None:
    stripped = rest.strip()
    if stripped == "":
        return MalformedHeading("task", f"task heading '{text}' has no id and no title")
    if stripped.startswith(":"):
        return MalformedHeading("task", f"task heading '{text}' has no id")
    token, title, _ = _split_number(rest)
    if not is_task_id(token):
        if token[:1].isdigit():
            return MalformedHeading("task", f"task heading '{text}' has a malformed id '{token}'")
        if ":" in text:
            return MalformedHeading("task", f"task heading '{text}' has no id")
        return None  # "Task Overview": prose about tasks
    title = strip_status_marks(title).strip()
    if not title:
        return MalformedHeading("task", f"task {token} has no title")
    return TaskHeading(id=token, title=title)


def classify_heading(text: str) -> Classified | None:
    """Classify a heading's text; None means an ordinary section heading."""
    # "**Task 1.2:** title" and "✅ Task 1.2: title" are still task headings.
    text = strip_leading_status_marks(text.replace("**", "").strip())
    split = _split_keyword(text)
    if split is None:
        return None
    kind, rest = split
    if kind == "task":
        return _classify_task(text, rest)
    return _classify_container(kind, text, rest)


_TASK_LIST_TITLES = frozenset({"tasks", "task list", "todo", "to do", "to-do", "todos"})


def is_task_list_section(text: str) -> bool:
    """True for headings such as `Tasks` that announce a list of tasks without ids."""
    normalized = strip_emphasis(text).strip().rstrip(":").strip().lower()
    if normalized.endswith(")") and "(" in normalized:
        normalized = normalized[: normalized.rindex("(")].strip()
    return normalized in _TASK_LIST_TITLES
