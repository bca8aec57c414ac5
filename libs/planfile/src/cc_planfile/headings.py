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

Near misses are never silent either. A first word one edit away from a keyword (`Taks 1.1`,
`Bacth 2`, `Tasks 1.1:`) or a keyword glued to its number (`Task1.1`), followed by an id, is a
`MalformedHeading` too. Another word before an id, a separator and a title (`Step 1.2: Build`)
is a `NearMiss`: the parser warns about it where a task could be (a dotted id, or inside a batch
or phase). Ranges and prose (`Phases 1-3`, `Python 3.11 support`, `Step 2`) stay plain text.
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


@dataclass(frozen=True, slots=True)
class NearMiss:
    """An unknown word before an id and a title (`Step 1.2: Build it`): not structure, but
    suspicious where a task could be. The parser decides from where the heading is."""

    word: str
    id: str


Classified = PhaseHeading | BatchHeading | TaskHeading | MalformedHeading | NearMiss


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
        return _near_miss(text)
    kind, rest = split
    if kind == "task":
        return _classify_task(text, rest)
    return _classify_container(kind, text, rest)


def edit_distance(one: str, other: str) -> int:
    """Edits (insert, delete, replace, swap two neighbours) that turn `one` into `other`."""
    previous2: list[int] = []
    previous = list(range(len(other) + 1))
    for i, a in enumerate(one, 1):
        current = [i]
        for j, b in enumerate(other, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b))
            if i > 1 and j > 1 and a == other[j - 2] and one[i - 2] == b:
                cost = min(cost, previous2[j - 2] + 1)
            current.append(cost)
        previous2, previous = previous, current
    return previous[-1]


def _leading_word(text: str) -> tuple[str, str]:
    """(`Taks`, ` 1.1: title`): the run of letters `text` starts with, and the rest."""
    end = 0
    while end < len(text) and text[end].isascii() and text[end].isalpha():
        end += 1
    return text[:end], text[end:]


def _near_miss(text: str) -> Classified | None:
    """For a heading that does not start with a keyword: a `MalformedHeading` if its first word
    is a keyword misspelled (`Taks 1.1: …`, by edit distance) or glued to its number
    (`Task1.1: …`); a `NearMiss` for another word before an id and a title; else None."""
    word, rest = _leading_word(text)
    glued = rest[:1].isdigit()
    if len(word) < 3 or not (glued or rest[:1] in (" ", "#")):
        return None
    if not rest.lstrip(" #")[:1].isdigit():
        return None
    token, title, had_separator = _split_number(rest)
    lowered = word.lower()
    keyword = next((k for k in _KEYWORDS if edit_distance(lowered, k) <= 1), None)
    plural = keyword is not None and lowered == f"{keyword}s"
    # One id, not a range or a date ("Phases 1-3", "Sprint 2 2026").
    single = is_task_id(token) and not title[:1].isdigit()
    if keyword is not None and (
        not plural or (single and (had_separator or not title))  # not "Phases 1 and 2"
    ):
        # An exact keyword only gets here glued to its number ("Task1.1").
        return MalformedHeading(
            keyword,
            f"heading '{text}' looks like a misspelled {keyword} heading "
            f"(write '{keyword.capitalize()} {token}: title')",
        )
    if keyword is not None or not single or glued or not had_separator or not title:
        return None  # "Python 3.11 support", "Step 2": prose, no title after a separator
    return NearMiss(word=word, id=token)


def near_miss_message(text: str, near: NearMiss) -> str:
    """The warning for a `NearMiss` heading (`text` as written)."""
    return (
        f"heading '{text}' looks like a task, but '{near.word}' is not Task, Batch or Phase; "
        f"not run (write 'Task {near.id}: title' if it is a task)"
    )


_TASK_LIST_TITLES = frozenset({"tasks", "task list", "todo", "to do", "to-do", "todos"})


def is_task_list_section(text: str) -> bool:
    """True for headings such as `Tasks` that announce a list of tasks without ids."""
    normalized = strip_emphasis(text).strip().rstrip(":").strip().lower()
    if normalized.endswith(")") and "(" in normalized:
        normalized = normalized[: normalized.rindex("(")].strip()
    return normalized in _TASK_LIST_TITLES
