"""Line scanner: splits a plan into numbered lines and marks which ones are structure.

The parser works line by line, but a line only means what it looks like when it is ordinary
text. A `# NEVER use --reload` inside a ```bash fence is a shell comment, not a heading, and a
`### Task 1.3` inside `<!-- ... -->` is commented out. This module does the one pass that knows
about YAML frontmatter, fenced code blocks (``` or ~~~, three or more, with any info string)
and HTML comments, so every later step can ask `line.heading` and trust it.

It is deliberately not a full CommonMark parser: fences may be indented by any amount (plans
often indent them under list items), setext headings and indented code blocks are not
recognised, and a fence that is never closed runs to the end of the document (as in
CommonMark), which the scanner reports so the parser can warn about it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

_FENCE_CHARS = "`~"
_MIN_FENCE = 3


class LineKind(enum.Enum):
    """What a line is, as far as structure is concerned."""

    TEXT = "text"
    FRONTMATTER = "frontmatter"
    FENCE_OPEN = "fence_open"
    FENCE_BODY = "fence_body"
    FENCE_CLOSE = "fence_close"
    COMMENT = "comment"


@dataclass(frozen=True, slots=True)
class Heading:
    """An ATX heading (`## text`) outside code and comments."""

    level: int
    text: str


@dataclass(frozen=True, slots=True)
class SourceLine:
    """One line of the plan, without its line ending."""

    number: int
    """1-based line number, as an editor shows it."""
    text: str
    kind: LineKind
    heading: Heading | None = None
    fence_info: str = ""
    """For fence lines: the info string of the enclosing fence (e.g. `bash`)."""

    @property
    def is_blank(self) -> bool:
        return not self.text.strip()


@dataclass(frozen=True, slots=True)
class ScannedDocument:
    lines: list[SourceLine]
    frontmatter_title: str | None = None
    unclosed_fence_line: int | None = None
    """Line of a fence that is never closed (it swallows the rest of the document)."""
    unclosed_comment_line: int | None = None


def split_lines(text: str) -> list[str]:
    """Split on CRLF, CR or LF only.

    `str.splitlines` also splits on form feeds and Unicode separators, which would shift line
    numbers away from what an editor shows.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def parse_heading(line: str) -> Heading | None:
    """Return the ATX heading on `line` (up to 3 spaces of indent), or None."""
    indent = len(line) - len(line.lstrip(" "))
    if indent > 3:
        return None
    rest = line[indent:]
    level = len(rest) - len(rest.lstrip("#"))
    if level < 1 or level > 6:
        return None
    after = rest[level:]
    if after and after[0] not in " \t":
        return None
    text = after.strip()
    # An optional closing sequence of '#' is not part of the text (CommonMark).
    stripped = text.rstrip("#")
    if stripped != text and (stripped == "" or stripped[-1] in " \t"):
        text = stripped.strip()
    return Heading(level=level, text=text)


def _fence_opening(line: str) -> tuple[str, int, str] | None:
    """Return (char, length, info) if `line` opens a fenced code block."""
    stripped = line.lstrip(" \t")
    if not stripped or stripped[0] not in _FENCE_CHARS:
        return None
    char = stripped[0]
    length = len(stripped) - len(stripped.lstrip(char))
    if length < _MIN_FENCE:
        return None
    info = stripped[length:].strip()
    if char == "`" and "`" in info:
        return None  # inline code such as ```a``` is not a fence
    return char, length, info


def _closes_fence(line: str, char: str, length: int) -> bool:
    stripped = line.strip()
    run = len(stripped) - len(stripped.lstrip(char))
    return run >= length and stripped[run:].strip() == ""


def _frontmatter_end(lines: list[str]) -> int | None:
    """Index of the closing `---` of frontmatter starting at line 0, or None."""
    if not lines or lines[0].rstrip() != "---":
        return None
    for index in range(1, len(lines)):
        if lines[index].rstrip() in ("---", "..."):
            return index
    return None


def _frontmatter_title(lines: list[str]) -> str | None:
    """The `title:` value of frontmatter, by simple line match (no YAML parser)."""
    for line in lines:
        if line.startswith("title:"):
            value = line[len("title:") :].strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1].strip()
            return value or None
    return None


def scan(text: str) -> ScannedDocument:
    """Classify every line of `text`; see the module docstring for what is recognised."""
    raw = split_lines(text)
    result: list[SourceLine] = []
    front_end = _frontmatter_end(raw)
    title: str | None = None
    start = 0
    if front_end is not None:
        title = _frontmatter_title(raw[1:front_end])
        for index in range(front_end + 1):
            result.append(SourceLine(index + 1, raw[index], LineKind.FRONTMATTER))
        start = front_end + 1

    fence: tuple[str, int, str] | None = None
    fence_line = 0
    comment_line: int | None = None
    for index in range(start, len(raw)):
        line = raw[index]
        number = index + 1
        if fence is not None:
            char, length, info = fence
            if _closes_fence(line, char, length):
                result.append(SourceLine(number, line, LineKind.FENCE_CLOSE, fence_info=info))
                fence = None
            else:
                result.append(SourceLine(number, line, LineKind.FENCE_BODY, fence_info=info))
            continue
        if comment_line is not None:
            result.append(SourceLine(number, line, LineKind.COMMENT))
            if "-->" in line:
                comment_line = None
            continue
        opening = _fence_opening(line)
        if opening is not None:
            fence = opening
            fence_line = number
            result.append(SourceLine(number, line, LineKind.FENCE_OPEN, fence_info=opening[2]))
            continue
        stripped = line.strip()
        if stripped.startswith("<!--"):
            result.append(SourceLine(number, line, LineKind.COMMENT))
            if "-->" not in stripped[4:]:
                comment_line = number
            continue
        result.append(SourceLine(number, line, LineKind.TEXT, heading=parse_heading(line)))

    return ScannedDocument(
        lines=result,
        frontmatter_title=title,
        unclosed_fence_line=fence_line if fence is not None else None,
        unclosed_comment_line=comment_line,
    )


def is_table_separator(line: str) -> bool:
    """True for a GFM table delimiter row such as `|---|:---:|`."""
    if "-" not in line:
        return False
    cells = split_table_row(line)
    if not cells:
        return False
    for cell in cells:
        core = cell.strip().strip(":")
        if not core or core.strip("-"):
            return False
    return True


def split_table_row(line: str) -> list[str]:
    """Split a GFM table row into stripped cells; `\\|` does not split."""
    text = line.strip()
    if text.startswith("|"):
        text = text[1:]
    if text.endswith("|") and not text.endswith("\\|"):
        text = text[:-1]
    cells: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] == "|":
            current.append("|")
            index += 2
            continue
        if char == "|":
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(char)
        index += 1
    cells.append("".join(current).strip())
    return cells


def list_item_text(line: str) -> str | None:
    """The text of a list item line (`- x`, `* x`, `+ x`, `1. x`, `1) x`), else None.

    A task-list checkbox (`[ ]`, `[x]`) after the marker is removed too.
    """
    stripped = line.lstrip(" \t")
    if not stripped:
        return None
    text: str | None = None
    if stripped[0] in "-*+" and (len(stripped) == 1 or stripped[1] in " \t"):
        if is_thematic_break(stripped):
            return None
        text = stripped[1:].strip()
    else:
        digits = len(stripped) - len(stripped.lstrip("0123456789"))
        if 0 < digits <= 9 and len(stripped) > digits and stripped[digits] in ".)":
            after = stripped[digits + 1 :]
            if after == "" or after[0] in " \t":
                text = after.strip()
    if text is None:
        return None
    if len(text) >= 3 and text[0] == "[" and text[2] == "]" and text[1] in " xX":
        text = text[3:].strip()
    return text


def is_thematic_break(line: str) -> bool:
    compact = line.replace(" ", "").replace("\t", "")
    return len(compact) >= 3 and len(set(compact)) == 1 and compact[0] in "-*_"
