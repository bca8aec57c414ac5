"""Branch names and the folder names derived from them.

A branch name comes from a message, so it is checked before git sees it: it must pass
`git check-ref-format --branch` and must not look like an option.
"""

from __future__ import annotations

import re
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
    """Return `name` if git accepts it as a branch; raise `GitError` otherwise.

    The rules of `git check-ref-format --branch` (a test holds them against git itself),
    checked here rather than by starting git: a task's flow checks its names several times."""
    if name.startswith("-") or not _is_branch_name(name):
        raise GitError(f"invalid branch name {name!r}: git check-ref-format refuses it")
    return name


_FORBIDDEN = frozenset(" ~^:?*[\\\x7f") | {chr(c) for c in range(32)}
"""What git never allows in a ref name: control characters, space, `~^:?*[\\`."""


def _is_branch_name(name: str) -> bool:
    """`refs/heads/<name>` is a valid ref, and `name` is no shorthand git would rewrite."""
    if not name or name == "HEAD" or ".." in name or "@{" in name or name.endswith("."):
        return False
    if any(c in _FORBIDDEN for c in name):
        return False
    return all(
        part and not part.startswith(".") and not part.endswith(".lock") for part in name.split("/")
    )


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
