"""Choose the batches a run executes: `start_batch`..`end_batch`, optionally within a phase.

Batch numbers are compared as written, after stripping, by a natural key: digit runs compare
as numbers and letter runs as lowercase text, so "2" < "10" and "2" < "2a" < "3". A batch is
selected when its number lies between the start and the end (inclusive; a missing bound is
open), and the result keeps plan order.

Plans often number batches per phase, so "batch 1" can mean several batches. When no phase is
given and a start or end number matches batches of more than one phase, the selection is
refused with the candidates listed rather than guessed. A selection that matches nothing, is
reversed, or includes a batch without tasks is refused too: running "nothing" or half of what
the user meant must never look like success.
"""

from __future__ import annotations

from commandcenter_contracts.plan import BatchSelection, Plan, PlanBatch

from cc_planfile.errors import SelectionError

_Key = tuple[tuple[int, int | str], ...]


def number_key(number: str) -> _Key:
    """Natural sort key of a batch or phase number ("10" > "2", "2a" > "2")."""
    parts: list[tuple[int, int | str]] = []
    run = ""
    for char in number.strip().lower() + " ":
        if run and (char.isdigit() != run[-1].isdigit() or not char.isalnum()):
            parts.append((0, int(run)) if run.isdigit() else (1, run))
            run = ""
        if char.isalnum():
            run += char
    return tuple(parts)


def describe_batch(batch: PlanBatch) -> str:
    """`"phase 3 batch 1: Core Infrastructure"`, or `"batch 1: ..."` without a phase."""
    where = f"phase {batch.phase} batch {batch.number}" if batch.phase else f"batch {batch.number}"
    return f"{where}: {batch.title}"


def _quoted(batch: PlanBatch) -> str:
    where = f"phase {batch.phase} batch {batch.number}" if batch.phase else f"batch {batch.number}"
    return f"{where} '{batch.title}'"


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    return value.strip() or None


def _range_text(start: str | None, end: str | None) -> str:
    if start == end and start is not None:
        return f"batch {start}"
    return f"batches {start or 'first'}..{end or 'last'}"


def _check_unambiguous(pool: list[PlanBatch], bound: str) -> None:
    matching = [batch for batch in pool if number_key(batch.number) == number_key(bound)]
    if len({batch.phase for batch in matching}) > 1:
        listed = ", ".join(_quoted(batch) for batch in matching)
        raise SelectionError(
            f"batch {bound} is ambiguous: {listed}; pass phase",
            [describe_batch(batch) for batch in matching],
        )


def select_batches(plan: Plan, selection: BatchSelection) -> list[PlanBatch]:
    """The batches `selection` names, in plan order; `SelectionError` if that is not clear."""
    start = _clean(selection.start_batch)
    end = _clean(selection.end_batch)
    phase = _clean(selection.phase)
    everything = [describe_batch(batch) for batch in plan.batches]
    if not plan.batches:
        raise SelectionError("the plan has no batches", [])

    pool = plan.batches
    if phase is not None:
        pool = [
            batch
            for batch in plan.batches
            if batch.phase is not None and number_key(batch.phase) == number_key(phase)
        ]
        if not pool:
            phases = list(dict.fromkeys(b.phase for b in plan.batches if b.phase is not None))
            known = f"phases with batches: {', '.join(phases)}" if phases else "it has no phases"
            raise SelectionError(f"phase {phase} has no batches in the plan ({known})", everything)

    if start is not None and end is not None and number_key(start) > number_key(end):
        raise SelectionError(f"start batch {start} is after end batch {end}", everything)

    if phase is None:
        for bound in dict.fromkeys(b for b in (start, end) if b is not None):
            _check_unambiguous(pool, bound)

    selected = [
        batch
        for batch in pool
        if (start is None or number_key(batch.number) >= number_key(start))
        and (end is None or number_key(batch.number) <= number_key(end))
    ]
    if not selected:
        scope = f" of phase {phase}" if phase is not None else ""
        existing = "; ".join(describe_batch(batch) for batch in pool)
        raise SelectionError(
            f"no batch matches {_range_text(start, end)}{scope}; the plan has: {existing}",
            [describe_batch(batch) for batch in pool],
        )

    empty = [batch for batch in selected if not batch.tasks]
    if empty:
        listed = ", ".join(_quoted(batch) for batch in empty)
        raise SelectionError(
            f"selected batches have no tasks: {listed}", [describe_batch(b) for b in empty]
        )
    return selected
