"""Inline markdown the parser needs: code spans, emphasis markers and task ids.

Code spans matter because they are how plans mark things that must be taken literally: a
verification command, a file path. They are found as CommonMark defines them (a run of N
backticks closed by the next run of exactly N backticks), without regular expressions, so a
line full of stray backticks costs linear-ish time and never backtracks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A task id as written: dotted numbers, each part optionally followed by one letter
# ("1", "1.2", "3.1.1", "2a.1"). Each repetition starts with a literal dot, so matching is
# linear.
EM_DASH = "\u2014"
EN_DASH = "\u2013"

_ID_PATTERN = re.compile(r"[0-9]+[A-Za-z]?(?:\.[0-9]+[A-Za-z]?)*")


@dataclass(frozen=True, slots=True)
class CodeSpan:
    start: int
    """Index of the first opening backtick."""
    end: int
    """Index just after the last closing backtick."""
    content: str


def _backtick_runs(text: str) -> list[tuple[int, int]]:
    """(start, length) of every run of backticks not escaped by a backslash."""
    runs: list[tuple[int, int]] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            index += 2
            continue
        if char == "`":
            start = index
            while index < len(text) and text[index] == "`":
                index += 1
            runs.append((start, index - start))
            continue
        index += 1
    return runs


def find_code_spans(text: str) -> list[CodeSpan]:
    """All inline code spans of `text`, in order."""
    runs = _backtick_runs(text)
    # next_same[i]: index of the next run with the same length as run i (linear precompute,
    # so unmatched backticks never make the scan quadratic).
    next_same: list[int | None] = [None] * len(runs)
    latest: dict[int, int] = {}
    for position in range(len(runs) - 1, -1, -1):
        length = runs[position][1]
        next_same[position] = latest.get(length)
        latest[length] = position
    spans: list[CodeSpan] = []
    position = 0
    while position < len(runs):
        start, length = runs[position]
        closing = next_same[position]
        if closing is None:
            position += 1
            continue
        close_start = runs[closing][0]
        content = text[start + length : close_start]
        if len(content) >= 2 and content[0] == " " and content[-1] == " " and content.strip():
            content = content[1:-1]
        spans.append(CodeSpan(start=start, end=close_start + length, content=content))
        position = closing + 1
    return spans


def leading_code_spans(text: str) -> tuple[list[str], str]:
    """Code spans at the start of `text`, separated only by commas, whitespace or "and".

    Returns their contents and the text that follows them. `` `a.py`, `b.py` - why `` gives
    (["a.py", "b.py"], "- why"); text that does not start with a code span gives ([], text).
    """
    contents: list[str] = []
    rest = text.strip()
    while True:
        spans = find_code_spans(rest)
        if not spans:
            break
        gap = rest[: spans[0].start].strip()
        if contents:
            gap = gap.strip(",").strip().lower()
            if gap not in ("", "and", "&"):
                break
        elif gap:
            break
        contents.append(spans[0].content)
        rest = rest[spans[0].end :].strip()
    return contents, rest


def strip_backticks(text: str) -> str:
    """The text with its leading code span unwrapped, or every backtick removed."""
    text = text.strip()
    spans = find_code_spans(text)
    if len(spans) == 1 and spans[0].start == 0 and spans[0].end == len(text):
        return spans[0].content.strip()
    return text.replace("`", "").strip()


def strip_emphasis(text: str) -> str:
    """Remove `**`/`__` emphasis wrapping a whole cell or value (`**3.1.1**` -> `3.1.1`)."""
    text = text.strip()
    for marker in ("**", "__", "*", "_"):
        if len(text) > 2 * len(marker) and text.startswith(marker) and text.endswith(marker):
            return text[len(marker) : -len(marker)].strip()
    return text


def is_task_id(text: str) -> bool:
    """True if `text` is exactly a task id such as `1`, `1.2` or `3.1.1`."""
    return _ID_PATTERN.fullmatch(text) is not None


def is_dotted_task_id(text: str) -> bool:
    """A task id with at least one dot: the form that is unambiguous in running text."""
    return "." in text and is_task_id(text)


_ID_TOKEN_STRIP = ",;:()[]{}*_`\"'"


def find_task_ids(text: str) -> list[str]:
    """Task ids mentioned in free text: dotted ids (`1.2`) and ids after "Task" (`Task 3`).

    Bare numbers are not ids: in "Batch 1 complete" the 1 is not a task.
    """
    found: list[str] = []
    tokens = text.replace(",", " ").replace(";", " ").split()
    previous = ""
    for raw_token in tokens:
        token = raw_token.strip(_ID_TOKEN_STRIP).rstrip(".")
        if token.startswith("#"):
            token = token[1:]
        after_task = previous.lower().strip(_ID_TOKEN_STRIP) in ("task", "tasks")
        if (is_dotted_task_id(token) or (after_task and is_task_id(token))) and (
            token not in found
        ):
            found.append(token)
        previous = raw_token
    return found


_STATUS_MARKS = frozenset("✅✔✓☑❌✗✘⚠🚧⏳🔄⬜☐✖\ufe0f")


def strip_status_marks(title: str) -> str:
    """Remove trailing status marks such as `✅` from a task title."""
    text = title.rstrip()
    while text and (text[-1] in _STATUS_MARKS or text[-1].isspace()):
        text = text[:-1]
    return text


def strip_leading_status_marks(text: str) -> str:
    """Remove leading status marks such as `✅ ` from a heading."""
    index = 0
    while index < len(text) and (text[index] in _STATUS_MARKS or text[index].isspace()):
        index += 1
    return text[index:]
