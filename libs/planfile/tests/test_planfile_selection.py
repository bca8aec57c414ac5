"""`select_batches`: ranges, phases, ambiguity and refusals."""

from __future__ import annotations

from textwrap import dedent

import pytest
from cc_planfile import SelectionError, parse_plan, select_batches
from cc_planfile.selection import number_key
from commandcenter_contracts.plan import BatchSelection, Plan, PlanBatch


def plan_of(text: str) -> Plan:
    return parse_plan(dedent(text).lstrip("\n"))


def numbers(batches: list[PlanBatch]) -> list[tuple[str | None, str]]:
    return [(b.phase, b.number) for b in batches]


FLAT = plan_of("\n".join(f"## Batch {n}: B{n}\n### Task {n}.1: T" for n in (1, 2, 3, 10, 11)))

PHASED = plan_of(
    """
    ## Phase 1: Setup
    ### Task 1.1: Direct
    ## Phase 3: Build
    ### Batch 1: Core Infrastructure
    #### Task 3.1.1: A
    ### Batch 2: Agents
    #### Task 3.2.1: B
    ### Batch 4: Late
    #### Task 3.4.1: C
    ## Phase 5: Ship
    ### Batch 1: Release
    #### Task 5.1.1: D
    ### Batch 2: Empty
    """
)


def select(plan: Plan, **kwargs: str | None) -> list[PlanBatch]:
    return select_batches(plan, BatchSelection(**kwargs))


def test_open_bounds_select_everything_in_plan_order() -> None:
    assert [b.number for b in select(FLAT)] == ["1", "2", "3", "10", "11"]


def test_numeric_range() -> None:
    assert [b.number for b in select(FLAT, start_batch="2", end_batch="10")] == ["2", "3", "10"]
    assert [b.number for b in select(FLAT, start_batch=" 3 ")] == ["3", "10", "11"]
    assert [b.number for b in select(FLAT, end_batch="2")] == ["1", "2"]
    assert [b.number for b in select(FLAT, start_batch="10", end_batch="10")] == ["10"]


def test_start_after_end() -> None:
    with pytest.raises(SelectionError, match="start batch 10 is after end batch 2"):
        select(FLAT, start_batch="10", end_batch="2")


def test_nothing_matches() -> None:
    with pytest.raises(SelectionError) as raised:
        select(FLAT, start_batch="20")
    assert "no batch matches batches 20..last" in str(raised.value)
    assert raised.value.candidates[0] == "batch 1: B1"
    assert len(raised.value.candidates) == 5


def test_ambiguous_number_lists_candidates() -> None:
    with pytest.raises(SelectionError) as raised:
        select(PHASED, start_batch="1", end_batch="2")
    assert str(raised.value) == (
        "batch 1 is ambiguous: phase 1 batch 1 'Setup', phase 3 batch 1 'Core Infrastructure', "
        "phase 5 batch 1 'Release'; pass phase"
    )
    assert raised.value.candidates == [
        "phase 1 batch 1: Setup",
        "phase 3 batch 1: Core Infrastructure",
        "phase 5 batch 1: Release",
    ]


def test_phase_disambiguates() -> None:
    assert numbers(select(PHASED, start_batch="1", end_batch="4", phase="3")) == [
        ("3", "1"),
        ("3", "2"),
        ("3", "4"),
    ]
    assert numbers(select(PHASED, phase="1")) == [("1", "1")]


def test_unambiguous_bounds_without_phase() -> None:
    assert numbers(select(PHASED, start_batch="4", end_batch="4")) == [("3", "4")]


def test_unknown_phase() -> None:
    with pytest.raises(SelectionError, match=r"phase 9 has no batches in the plan \(phases"):
        select(PHASED, phase="9")


def test_selected_batch_without_tasks() -> None:
    with pytest.raises(SelectionError) as raised:
        select(PHASED, phase="5")
    assert "selected batches have no tasks: phase 5 batch 2 'Empty'" in str(raised.value)
    assert raised.value.candidates == ["phase 5 batch 2: Empty"]
    assert numbers(select(PHASED, phase="5", end_batch="1")) == [("5", "1")]


def test_plan_without_batches() -> None:
    with pytest.raises(SelectionError, match="no batches"):
        select(parse_plan("# Nothing\n"))


def test_number_key_is_natural() -> None:
    ordered = ["1", "2", "2a", "2b", "3", "3.1", "10"]
    assert sorted(reversed(ordered), key=number_key) == ordered
    assert number_key("02") == number_key("2")
