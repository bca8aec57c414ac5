"""Branch names and the folder names derived from them.

A branch name comes from a message, so it is checked before git sees it: it must pass
`git check-ref-format --branch` and must not look like an option.
"""

from __future__ import annotations

import re
import subprocess
import unicodedata

from cc_taskrunner.errors import GitError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_DASHES = re.compile(r"-{2,}")


def slugify(text: str, *, max_len: int = 48) -> str:
    """A lowercase ASCII slug, safe as one component of a branch name and as a folder name."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = _UNSAFE.sub("-", ascii_text.lower())
    slug = _DASHES.sub("-", slug.replace("..", "-")).strip("-.")
    slug = slug[:max_len].rstrip("-.")
    if slug.endswith(".lock"):
        slug = slug[: -len(".lock")]
    return slug


def check_branch_name(name: str) -> str:
    """Return `name` if git accepts it as a branch; raise `GitError` otherwise."""
    if not name or name.startswith("-") or any(c.isspace() or ord(c) < 32 for c in name):
        raise GitError(f"invalid branch name {name!r}")
    result = subprocess.run(  # noqa: S603 - argv list, the name is one argument
        ["git", "check-ref-format", "--branch", name],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or result.stdout.strip() != name:
        raise GitError(f"invalid branch name {name!r}: git check-ref-format refuses it")
    return name


def workspace_dir_name(branch: str, run_id: str, fallback: str) -> str:
    """The folder of a task's workspace, from its branch `cc/<run8>/<slug>` (flattened)."""
    prefix = f"cc/{run_id[:8]}/"
    tail = branch[len(prefix) :] if branch.startswith(prefix) else branch
    return slugify(tail.replace("/", "-"), max_len=80) or slugify(fallback) or "task"


def check_git_argument(value: str, what: str) -> str:
    """Refuse values that git would read as an option (`--upload-pack=…` and friends)."""
    if not value or value.startswith("-"):
        raise GitError(f"invalid {what} {value!r}")
    return value
