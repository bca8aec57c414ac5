"""Tasks of one batch that change the same files, and what each task must wait for.

Tasks of a batch run in parallel on their own branches; two that change the same file would
conflict when integrated, so the later one (in plan order) waits for the earlier. A `Files`
entry that is a directory covers everything under it (`src/` overlaps `src/app.py`).

Only earlier tasks are ever waited for, so the waits of a batch can never form a cycle; a
`depends_on` on a later task of the same batch is a plan warning (see `parser`), not a wait.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
from commandcenter_contracts.plan import PlanBatch, PlanNote, PlanTask


class Overlap(msgspec.Struct, frozen=True, kw_only=True):
    """Two tasks of one batch whose `files` share entries."""

    batch: str
    """The batch number as written in the plan."""
    phase: str | None
    first: str
    """The id of the task that comes first in plan order."""
    second: str
    """The id of the later task: it waits until `first` is integrated."""
    files: list[str]
    """The shared entries as written in the later task, sorted, without duplicates."""


def normalise_path(path: str) -> str:
    """`./src//app/` -> `src/app`: the forms people write for the same path compare equal."""
    path = path.strip()
    while path.startswith("./"):
        path = path[2:].lstrip("/")
    while "//" in path:
        path = path.replace("//", "/")
    return path.rstrip("/")


def _covers(one: str, other: str) -> bool:
    """True if two normalised paths are the same or one is a directory holding the other."""
    if not one or not other:
        return False  # an entry such as `./` names no file; it must not cover the whole tree
    return one == other or other.startswith(one + "/") or one.startswith(other + "/")


def _shared_files(earlier: PlanTask, later: PlanTask) -> list[str]:
    earlier_paths = [normalise_path(entry) for entry in earlier.files]
    shared = {
        entry
        for entry in later.files
        if any(_covers(normalise_path(entry), path) for path in earlier_paths)
    }
    return sorted(shared)


def find_overlaps(batch: PlanBatch) -> list[Overlap]:
    """Every pair of tasks of `batch` whose files overlap, ordered by first, then second."""
    overlaps: list[Overlap] = []
    for index, earlier in enumerate(batch.tasks):
        for later in batch.tasks[index + 1 :]:
            files = _shared_files(earlier, later) if later.id != earlier.id else []
            if files:
                overlaps.append(
                    Overlap(
                        batch=batch.number,
                        phase=batch.phase,
                        first=earlier.id,
                        second=later.id,
                        files=files,
                    )
                )
    return overlaps


def task_waits(batch: PlanBatch) -> dict[str, list[str]]:
    """For each task id, the earlier tasks of `batch` it waits for, in plan order.

    A task waits for an earlier task whose files overlap with its own, and for an earlier
    task it names in `depends_on`; dependencies outside the batch are the batch order's job.
    The earlier tasks' files are looked up in an index, not compared pair by pair: the
    planner computes this for every batch it plans, and batches run to thousands of tasks.
    """
    waits: dict[str, list[str]] = {}
    tasks = batch.tasks
    files = _FileIndex()
    first_of: dict[str, int] = {}
    for index, task in enumerate(tasks):
        found = files.overlapping(task.files)
        found.update(first_of[dep] for dep in task.depends_on if dep in first_of)
        ids: list[str] = []
        for earlier in sorted(found):
            earlier_id = tasks[earlier].id
            if earlier_id != task.id and earlier_id not in ids:
                ids.append(earlier_id)
        waits.setdefault(task.id, ids)
        files.add(index, task.files)
        first_of.setdefault(task.id, index)
    return waits


class _FileIndex:
    """The `Files` entries of tasks seen so far, to find which of them overlap new entries
    (as `_covers` decides) in time proportional to a path's depth, not to the tasks seen."""

    def __init__(self) -> None:
        self._at: dict[str, list[int]] = {}
        """A normalised path -> the tasks that name it."""
        self._under: dict[str, list[int]] = {}
        """A directory -> the tasks that name a path below it."""

    def add(self, task: int, entries: Sequence[str]) -> None:
        for path in {normalise_path(entry) for entry in entries} - {""}:
            self._at.setdefault(path, []).append(task)
            for directory in _ancestors(path):
                self._under.setdefault(directory, []).append(task)

    def overlapping(self, entries: Sequence[str]) -> set[int]:
        """The tasks with an entry that is one of `entries`, above one, or below one."""
        found: set[int] = set()
        for path in {normalise_path(entry) for entry in entries} - {""}:
            found.update(self._at.get(path, ()))
            found.update(self._under.get(path, ()))
            for directory in _ancestors(path):
                found.update(self._at.get(directory, ()))
        return found


def _ancestors(path: str) -> list[str]:
    """`a/b/c` -> `a`, `a/b`: the directories holding a normalised path (none empty)."""
    return [path[:i] for i, char in enumerate(path) if char == "/" and i > 0]


def overlap_notes(batches: Sequence[PlanBatch]) -> list[PlanNote]:
    """One `PlanNote` per overlap, for `Plan.notes`."""
    return [
        PlanNote(
            batch=overlap.batch,
            phase=overlap.phase,
            tasks=[overlap.first, overlap.second],
            files=overlap.files,
            message=(
                f"tasks {overlap.first} and {overlap.second} both change "
                f"{', '.join(overlap.files)}: {overlap.second} waits until {overlap.first} "
                "is integrated"
            ),
        )
        for batch in batches
        for overlap in find_overlaps(batch)
    ]
