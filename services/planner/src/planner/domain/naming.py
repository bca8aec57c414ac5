"""Deterministic names: task ids, event ids and git branch names.

Everything the planner publishes is derived from the run id and positions in the plan, so a
planner that crashes and redoes its work publishes the very same ids, and JetStream's
`Nats-Msg-Id` de-duplication turns the redo into a no-op.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://commandcenter/planner")
"""Fixed forever: changing it would change every id of a run being resumed."""

BRANCH_PREFIX = "cc"
MAX_SLUG = 60

_UNSAFE = re.compile(r"[^a-z0-9._-]+")
_DOTS = re.compile(r"\.{2,}")
_DASHES = re.compile(r"-{2,}")


def task_id(run_id: str, batch_index: int, task_index: int) -> str:
    """The id of the task at `task_index` of the run's `batch_index`-th selected batch."""
    return str(uuid.uuid5(NAMESPACE, f"{run_id}/{batch_index}/{task_index}"))


def event_id(run_id: str, name: str) -> str:
    """The id of a planner event, e.g. `event_id(run, "batch.started/1")`."""
    return str(uuid.uuid5(NAMESPACE, f"{run_id}/{name}"))


def slugify(text: str, *, max_len: int = MAX_SLUG, fallback: str = "task") -> str:
    """Lower-case ASCII made of `[a-z0-9._-]`, safe as one component of a git ref.

    Git refuses (among others) control characters, spaces, `~^:?*[\\`, `..`, `@{`, a
    component that starts with `.` or ends with `.lock`, and a branch name that starts with
    `-`; only letters, digits, `.`, `_` and `-` survive here, and the edges are trimmed.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = _UNSAFE.sub("-", ascii_text.lower())
    slug = _DASHES.sub("-", _DOTS.sub(".", slug))
    slug = _trim(slug[:max_len])
    return slug or fallback


def _trim(slug: str) -> str:
    # Repeat until stable: removing ".lock" can expose a trailing "." or "-" and vice versa.
    while True:
        trimmed = slug.strip("-._")
        if trimmed.endswith(".lock"):
            trimmed = trimmed[: -len(".lock")]
        if trimmed == slug:
            return slug
        slug = trimmed


def branch_names(run_id: str, tasks: Iterable[tuple[str, str]]) -> list[str]:
    """`cc/<run8>/<slug>` for each `(plan_task_id, title)`, unique within the run.

    The slug starts with the plan's task id so a person can tell branches apart at a glance
    (`cc/1a2b3c4d/4.1.2-create-config-validation-service`); a repeated slug gets `-2`, `-3`.
    """
    run8 = slugify(run_id[:8], fallback="run")
    seen: set[str] = set()
    names: list[str] = []
    for plan_task_id, title in tasks:
        base = slugify(f"{plan_task_id}-{title}")
        slug, n = base, 1
        while slug in seen:
            n += 1
            suffix = f"-{n}"
            slug = _trim(base[: MAX_SLUG - len(suffix)]) + suffix
        seen.add(slug)
        names.append(f"{BRANCH_PREFIX}/{run8}/{slug}")
    return names
