"""Dependencies a batch selection leaves out.

`run PLAN --batches 2` is legitimate - batch 1 may have run before - but when batch 2's tasks
depend on tasks of batch 1 (`Depends on: 1.1`, or `**Dependencies:** Batch 1`, which the
parser turns into task ids), the run starts from a tree without that work unless it is told
where the work is: `base_ref`, the integration branch of the earlier run. So a start is not
refused; it says which dependencies fall outside, so the caller can warn and point there.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
from commandcenter_contracts.plan import Plan, PlanBatch

from cc_planfile.selection import describe_batch

_BatchKey = tuple[str | None, str, int]


class SkippedDependency(msgspec.Struct, frozen=True, kw_only=True):
    """Tasks of a selected batch depend on tasks of a batch the selection does not include."""

    batch: str
    """The selected batch, e.g. `"phase 3 batch 2: API"` (see `describe_batch`)."""
    needs: str
    """The batch left out that holds the dependencies, described the same way."""
    tasks: list[str]
    """The ids of its tasks that are depended on, in plan order."""
    message: str


def _key(batch: PlanBatch) -> _BatchKey:
    return (batch.phase, batch.number, batch.line)


def _name(batch: PlanBatch) -> str:
    where = f"phase {batch.phase} batch {batch.number}" if batch.phase else f"batch {batch.number}"
    return f"{where} '{batch.title}'"


def _ids(ids: Sequence[str]) -> str:
    return f"task {ids[0]}" if len(ids) == 1 else f"tasks {', '.join(ids)}"


def dependencies_outside(plan: Plan, selected: Sequence[PlanBatch]) -> list[SkippedDependency]:
    """For each selected batch, each batch outside the selection its tasks depend on.

    A dependency on a task id that is not in the plan at all is not listed: the parser
    already warned about it. An id that several batches use is satisfied when any selected
    batch has it.
    """
    chosen = {_key(batch) for batch in selected}
    in_selection = {task.id for batch in selected for task in batch.tasks}
    home: dict[str, PlanBatch] = {}
    for batch in plan.batches:
        for task in batch.tasks:
            home.setdefault(task.id, batch)

    skipped: list[SkippedDependency] = []
    for batch in selected:
        needed: dict[_BatchKey, list[str]] = {}
        for task in batch.tasks:
            for dep in task.depends_on:
                outside = home.get(dep)
                if outside is None or dep in in_selection or _key(outside) in chosen:
                    continue
                ids = needed.setdefault(_key(outside), [])
                if dep not in ids:
                    ids.append(dep)
        for key, ids in needed.items():
            outside = next(b for b in plan.batches if _key(b) == key)
            ordered = [task.id for task in outside.tasks if task.id in ids]
            skipped.append(
                SkippedDependency(
                    batch=describe_batch(batch),
                    needs=describe_batch(outside),
                    tasks=ordered,
                    message=(
                        f"{_name(batch)} depends on {_ids(ordered)} of {_name(outside)}, which "
                        "this run does not include; to build on an earlier run of it, set "
                        "base_ref (--base-ref) to that run's integration branch"
                    ),
                )
            )
    return skipped
