"""How output looks: rich tables and colours on a terminal, plain lines for CI, pipes and files.

Every status is shown as its word, with a colour only as a second cue (never colour alone).
"""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console, RenderableType
from rich.text import Text

STATUS_STYLES = {
    "succeeded": "green",
    "failed": "bold red",
    "halted": "bold red",
    "cancelled": "magenta",
    "running": "yellow",
    "landing": "yellow",
    "retrying": "yellow",
    "queued": "cyan",
    "waiting": "cyan",
    "accepted": "cyan",
    "pending": "dim",
}


def wants_plain(plain: bool, stream: TextIO | None = None) -> bool:
    """Plain lines when asked (`--plain`), or when stdout is not a terminal (CI, a pipe, a
    file): only an interactive terminal gets live bars, tables and colours."""
    stream = sys.stdout if stream is None else stream
    try:
        return plain or not stream.isatty()
    except ValueError:  # a closed stream
        return True


def console_for(plain: bool) -> Console | None:
    """The rich console of this command's output, or None for plain lines."""
    return None if wants_plain(plain) else Console(highlight=False)


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))


def line_style(line: str) -> str:
    """The colour of one progress line, from what it says."""
    text = line.strip()
    if text.startswith("✔") or text == "run succeeded":
        return "green"
    if text.startswith("✘"):
        return "yellow" if text.endswith("(will retry)") else "red"
    if text.startswith("⇢") or " integrated: " in text or text.startswith("landed"):
        return "cyan"
    if text.startswith(("run halted", "run failed", "run cancelled")):
        return "bold red"
    return ""


def money(value: float | None) -> str:
    return f"${value:.4f}" if value else ""


def short(commit: str | None) -> str:
    return (commit or "")[:10]


def cells(*values: RenderableType) -> list[RenderableType]:
    """A table row: text shown as it is (a title like `[wip]` or `:x:` is no rich markup)."""
    return [Text(value) if isinstance(value, str) else value for value in values]
