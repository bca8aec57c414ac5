"""Shell syntax in a verification command, which the runner will not interpret.

Verification commands are split into argv with `shlex.split` and started directly, never
through a shell (see `cc_taskrunner.verification`). So in `` `ls | wc -l` `` the `|` reaches
`ls` as a file name, and the task fails at run time with "ls: cannot access '|'". This module
finds what a shell would have treated specially, so the parser can warn when the plan is read.

Only unquoted syntax counts, as a shell reads it: `grep -q "a|b" f` and
`python -c "import x; x.run()"` are fine; inside double quotes `$(…)`, `$VAR` and backticks
still count (a shell would expand them there too). Two forms are let through because, passed
literally, they mean what the author wanted: `?` and `*` in a URL (`http://h/x?a=1`) and
`[…]` in a pytest node id (`tests/test_a.py::test_b[1]`).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class ShellSyntax:
    operator: str
    """As written: `|`, `&&`, `>`, `$(`, `*`, `FOO=`, …"""
    meaning: str
    """What a shell would make of it: `a pipe`, `a redirection`, …"""


def _is_name(text: str) -> bool:
    return bool(text) and (text[0].isalpha() or text[0] == "_") and text.replace("_", "a").isalnum()


class _Scanner:
    """One pass over the command, tracking quotes and word boundaries as a POSIX shell does."""

    def __init__(self, command: str) -> None:
        self.text = command
        self.found: dict[str, ShellSyntax] = {}
        self.word = ""
        """The current word as written (quotes included), for the exemptions."""
        self.globs: list[str] = []
        """Unquoted glob characters of the current word."""
        self.words_seen = 0
        self.substitutions = 0
        """Open unquoted `$(`: their `)` is not a subshell."""
        self.assignments_only = True
        """No word but `NAME=value` ones yet: the next such word is still an assignment."""

    def add(self, operator: str, meaning: str) -> None:
        self.found.setdefault(operator, ShellSyntax(operator, meaning))

    def end_word(self) -> None:
        if not self.word:
            return
        word = self.word
        for glob in self.globs:
            if glob in "*?" and "://" in word:
                continue  # a URL's query or wildcard, passed as written
            if glob == "[" and ("::" in word or "]" not in word[word.index("[") :]):
                continue  # a pytest node id `test_x[1]`, or a lone bracket
            self.add(glob, "a glob")
        head, equals, _ = word.partition("=")
        if self.assignments_only and equals and _is_name(head):
            self.add(f"{head}=", "an environment assignment")
        else:
            self.assignments_only = False
        self.words_seen += 1
        self.word = ""
        self.globs = []

    def scan(self) -> list[ShellSyntax]:
        text = self.text
        index = 0
        quote = ""
        while index < len(text):
            char = text[index]
            following = text[index + 1] if index + 1 < len(text) else ""
            if quote == "'":
                quote = "" if char == "'" else quote
                self.word += char
                index += 1
                continue
            if char == "\\" and following:
                self.word += char + following
                index += 2
                continue
            if quote == '"':
                if char == '"':
                    quote = ""
                else:
                    self._expansion(char, following)
                self.word += char
                index += 1
                continue
            index = self._unquoted(index, char, following)
            if char in "'\"":
                quote = char
        self.end_word()
        return list(self.found.values())

    def _expansion(self, char: str, following: str) -> None:
        """`$(`, `${`, `$NAME` and backticks: expanded by a shell, quoted or not."""
        if char == "`":
            self.add("`", "a command substitution")
        elif char == "$" and following == "(":
            self.add("$(", "a command substitution")
        elif char == "$" and (following == "{" or following.isalpha() or following == "_"):
            self.add("$", "a variable expansion")

    def _unquoted(self, index: int, char: str, following: str) -> int:
        """Handle one unquoted character; the index of the next one."""
        if char.isspace():
            self.end_word()
            return index + 1
        pair = char + following
        operators = {
            "&&": "an and-list",
            "||": "an or-list",
            ">>": "a redirection",
            "<<": "a here-document",
            "&>": "a redirection",
            ">&": "a redirection",
        }
        if pair == "$(":
            self.add("$(", "a command substitution")
            self.substitutions += 1
            self.word += pair
            return index + 2
        if char == ")" and self.substitutions:
            self.substitutions -= 1  # the end of a `$(…)` already reported
            self.word += char
            return index + 1
        if pair in operators:
            self.end_word()
            self.add(pair, operators[pair])
            return index + 2
        singles = {
            "|": "a pipe",
            ";": "a command separator",
            "&": "a background job",
            ">": "a redirection",
            "<": "a redirection",
            "(": "a subshell",
            ")": "a subshell",
        }
        if char in singles:
            self.end_word()
            self.add(char, singles[char])
            return index + 1
        if not self.word and char == "#":
            self.add("#", "a comment")
        elif not self.word and char == "~":
            self.add("~", "a home-directory expansion")
        elif char in _GLOB_CHARS:
            self.globs.append(char)
        else:
            self._expansion(char, following)
        self.word += char
        return index + 1


def shell_syntax(command: str) -> list[ShellSyntax]:
    """The shell syntax in `command`, each operator once, in the order it first appears."""
    return _Scanner(command).scan()


def shell_syntax_problem(command: str) -> str | None:
    """Why `command` will not run as its author meant, in a few words; None if it will."""
    try:
        shlex.split(command)
    except ValueError as error:
        return f"cannot be split into arguments ({error}); it will fail when run"
    found = shell_syntax(command)
    if not found:
        return None
    listed = ", ".join(f"'{item.operator}' ({item.meaning})" for item in found)
    return (
        f"uses shell syntax: {listed}, but commands run without a shell; "
        "put such a check in a script the task commits"
    )
