"""The branch-name guard, against real git on generated names.

`check_branch_name` must accept a name only if `git check-ref-format --branch` does, and never
one that starts with `-` (git would read it as an option). Each example starts git, so the
budget is small: the test stays at a few seconds.
"""

from __future__ import annotations

import subprocess

import pytest
from cc_taskrunner import GitError, check_branch_name
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# What makes ref names interesting: git's forbidden characters and sequences, separators,
# a little non-ASCII and a control character, next to ordinary letters.
ALPHABET = "ab-_./@{}~^:?*[]\\ \t\x7fé1"
names = st.one_of(
    st.text(ALPHABET, max_size=16),
    st.builds(lambda tail: f"cc/1234abcd/{tail}", st.text(ALPHABET, max_size=12)),
    st.builds(lambda tail: f"-{tail}", st.text(ALPHABET, max_size=8)),
)


def git_accepts(name: str) -> bool:
    result = subprocess.run(  # noqa: S603 - argv list, the name is one argument
        ["git", "check-ref-format", "--branch", name],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0 and result.stdout.strip() == name


def guard_accepts(name: str) -> bool:
    try:
        return check_branch_name(name) == name
    except GitError:
        return False


@settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(names)
def test_the_guard_accepts_only_what_git_accepts(name: str) -> None:
    accepted = guard_accepts(name)
    if name.startswith("-"):
        assert not accepted
    elif accepted:
        assert git_accepts(name)
    elif not any(c.isspace() or ord(c) < 32 for c in name):
        # Refused by the guard, but not for whitespace: git itself must refuse it too.
        assert not git_accepts(name), name


@pytest.mark.parametrize("name", ["-", "--", "-b", "--help", "-cc/x"])
def test_option_like_names_are_refused_even_where_git_takes_them(name: str) -> None:
    with pytest.raises(GitError):
        check_branch_name(name)
