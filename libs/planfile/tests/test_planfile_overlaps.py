"""Tasks of one batch that change the same files: overlaps, waits and the plan's notes."""

from __future__ import annotations

from textwrap import dedent

from cc_planfile import Overlap, find_overlaps, parse_plan, plan_document, task_waits
from cc_planfile.overlaps import normalise_path
from commandcenter_contracts.plan import Plan, PlanBatch, PlanNote, PlanTask


def batch_of(*files: list[str], depends_on: dict[str, list[str]] | None = None) -> PlanBatch:
    """A batch with tasks 1.1, 1.2, … whose files are `files`, in that order."""
    ids = [f"1.{index}" for index in range(1, len(files) + 1)]
    return PlanBatch(
        phase=None,
        number="1",
        title="B",
        tasks=[
            PlanTask(
                id=task_id,
                title=task_id,
                files=task_files,
                depends_on=(depends_on or {}).get(task_id, []),
            )
            for task_id, task_files in zip(ids, files, strict=True)
        ],
    )


def pairs(batch: PlanBatch) -> list[tuple[str, str, list[str]]]:
    return [(o.first, o.second, o.files) for o in find_overlaps(batch)]


def test_normalise_path() -> None:
    assert normalise_path("./src//app.py") == "src/app.py"
    assert normalise_path("././src/") == "src"
    assert normalise_path("src///pkg//") == "src/pkg"
    assert normalise_path("src/app.py") == "src/app.py"


def test_exact_match() -> None:
    batch = batch_of(["src/app.py", "README.md"], ["docs/a.md"], ["src/app.py", "tests/t.py"])
    assert find_overlaps(batch) == [
        Overlap(batch="1", phase=None, first="1.1", second="1.3", files=["src/app.py"])
    ]


def test_directory_prefix_in_either_task() -> None:
    batch = batch_of(["src/"], ["src/app.py", "src/pkg/mod.py"], ["src/pkg"])
    assert pairs(batch) == [
        ("1.1", "1.2", ["src/app.py", "src/pkg/mod.py"]),
        ("1.1", "1.3", ["src/pkg"]),
        ("1.2", "1.3", ["src/pkg"]),
    ]


def test_a_shared_name_prefix_is_not_a_directory_prefix() -> None:
    assert find_overlaps(batch_of(["src/app"], ["src/app.py"], ["src/application/x.py"])) == []


def test_paths_are_normalised_but_reported_as_written() -> None:
    batch = batch_of(["src/app.py"], ["./src//app.py", "./src//app.py", "other.py"])
    assert pairs(batch) == [("1.1", "1.2", ["./src//app.py"])]


def test_empty_entries_cover_nothing() -> None:
    assert find_overlaps(batch_of(["./"], ["src/app.py"])) == []


def test_three_way_overlap_gives_every_pair() -> None:
    batch = batch_of(["a.py", "b.py"], ["a.py"], ["b.py", "a.py"])
    assert pairs(batch) == [
        ("1.1", "1.2", ["a.py"]),
        ("1.1", "1.3", ["a.py", "b.py"]),
        ("1.2", "1.3", ["a.py"]),
    ]


def test_task_waits_for_earlier_overlaps_and_dependencies() -> None:
    batch = batch_of(
        ["a.py"],
        ["b.py"],
        ["a.py"],
        ["c.py"],
        depends_on={"1.3": ["1.2", "1.1"], "1.4": ["1.2", "9.9"]},
    )
    assert task_waits(batch) == {
        "1.1": [],
        "1.2": [],
        "1.3": ["1.1", "1.2"],
        "1.4": ["1.2"],
    }


def test_task_waits_only_for_earlier_tasks() -> None:
    batch = batch_of(["a.py"], ["a.py"], depends_on={"1.1": ["1.2"]})
    assert task_waits(batch) == {"1.1": [], "1.2": ["1.1"]}


def plan_of(text: str) -> Plan:
    return parse_plan(dedent(text).lstrip("\n"))


OVERLAPPING_PLAN = """
    # Plan
    ## Phase 1: P
    ### Batch 1: B
    #### Task 1.1: A
    **Files:** `src/app.py`
    #### Task 1.2: B
    **Files:** `docs/index.md`
    #### Task 1.3: C
    **Files:** `./src/app.py`, `tests/test_app.py`
    ### Batch 2: Later
    #### Task 1.4: D
    **Files:** `src/app.py`
    """


def test_no_overlap_across_batches() -> None:
    plan = plan_of(OVERLAPPING_PLAN)
    assert [pairs(batch) for batch in plan.batches] == [[("1.1", "1.3", ["./src/app.py"])], []]


def test_overlaps_become_plan_notes() -> None:
    plan = plan_of(OVERLAPPING_PLAN)
    assert plan.warnings == []
    assert plan.notes == [
        PlanNote(
            batch="1",
            phase="1",
            tasks=["1.1", "1.3"],
            files=["./src/app.py"],
            message="tasks 1.1 and 1.3 both change ./src/app.py: 1.3 waits until 1.1 is integrated",
        )
    ]
    assert plan_document(plan)["notes"] == [
        {
            "batch": "1",
            "phase": "1",
            "tasks": ["1.1", "1.3"],
            "files": ["./src/app.py"],
            "message": "tasks 1.1 and 1.3 both change ./src/app.py: "
            "1.3 waits until 1.1 is integrated",
        }
    ]


def test_a_plan_without_overlaps_has_no_notes() -> None:
    plan = plan_of("## Batch 1: B\n### Task 1.1: A\n### Task 1.2: B\n")
    assert plan.notes == []
    assert plan_document(plan)["notes"] == []
