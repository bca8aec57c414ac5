"""Properties of the parser on generated text: it never raises, and never drops a task silently.

Budgets are small (unit tier): a few hundred examples, no deadline (a slow CI machine must not
turn a fine run into a flaky failure).
"""

from __future__ import annotations

import re

from cc_planfile import parse_plan
from cc_planfile.markdown_blocks import LineKind, scan
from cc_planfile.overlaps import _shared_files, task_waits
from commandcenter_contracts.plan import PlanBatch, PlanTask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# A heading a person meant as a task: the keyword, or a one-edit misspelling of it, then an id.
TASK_LOOKING = re.compile(r"(?i)^(task|taks|tsak|tak|tas|tassk|ttask|yask)\s*#?\d")

task_ids = st.from_regex(r"[0-9]{1,2}(\.[0-9]{1,2}){0,2}[a-b]?", fullmatch=True)
words = st.sampled_from(
    ["Task", "task", "TASK", "Taks", "Tsak", "Tak", "Batch", "Bacth", "Phase", "Phse", "Step"]
)
titles = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"))
headings = st.builds(
    lambda level, word, glue, task_id, sep, title: (
        f"{'#' * level} {word}{glue}{task_id}{sep}{title}"
    ),
    st.integers(1, 6),
    words,
    st.sampled_from([" ", "", " #"]),
    task_ids,
    st.sampled_from([": ", " - ", " ", ".", ":", ""]),
    titles,
)
fragments = st.sampled_from(
    [
        "",
        "# Plan",
        "---",
        "**Verification:**",
        "- `ls | wc -l`",
        "- `pytest -q`",
        "- test -s a",
        "**Dependencies:** Batch 1",
        "**Depends on:** 1.1, Phase 2",
        "**Files:** `src/a.py`",
        "```bash",
        "```",
        "~~~",
        "<!--",
        "-->",
        "| Task | Title |",
        "|------|-------|",
        "| 1.1 | row task |",
        "### Tasks",
        "- an item",
        "## Phase 2 Validation Summary",
    ]
)
lines = st.one_of(headings, fragments, st.text(max_size=60))
plans = st.lists(lines, max_size=30).map("\n".join)


@EXAMPLES
@given(st.text())
def test_arbitrary_text_never_raises(text: str) -> None:
    plan = parse_plan(text)
    assert plan.title


@EXAMPLES
@given(plans)
def test_every_task_looking_heading_becomes_a_task_or_a_warning(text: str) -> None:
    plan = parse_plan(text)
    last = max(1, len(scan(text).lines))
    task_lines = {task.line for batch in plan.batches for task in batch.tasks}
    warning_lines = {warning.line for warning in plan.warnings}
    assert all(1 <= line <= last for line in task_lines | warning_lines)
    for line in scan(text).lines:
        heading = line.heading
        if line.kind is not LineKind.TEXT or heading is None or heading.level < 2:
            continue  # code, comments and `#` titles are not structure
        if TASK_LOOKING.match(heading.text.replace("**", "")):
            assert line.number in task_lines | warning_lines, heading.text


# --- which tasks of a batch wait for which ------------------------------------------------------
def _waits_pair_by_pair(batch: PlanBatch) -> dict[str, list[str]]:
    """The definition, one pair at a time (what `task_waits` computed before its index)."""
    waits: dict[str, list[str]] = {}
    for index, task in enumerate(batch.tasks):
        ids: list[str] = []
        for earlier in batch.tasks[:index]:
            if earlier.id == task.id or earlier.id in ids:
                continue
            if earlier.id in task.depends_on or _shared_files(earlier, task):
                ids.append(earlier.id)
        waits.setdefault(task.id, ids)
    return waits


paths = st.lists(
    st.sampled_from(["a", "b", "a/x", "a/x/", "./a/x/y", "b//z", "a/x/y", "c", "", "a/"]),
    max_size=3,
)
batch_tasks = st.lists(
    st.builds(
        lambda task_id, files, deps: PlanTask(id=task_id, title="t", files=files, depends_on=deps),
        st.sampled_from(["1", "2", "3", "4", "5"]),
        paths,
        st.lists(st.sampled_from(["1", "2", "3", "9"]), max_size=2),
    ),
    max_size=8,
)


@EXAMPLES
@given(batch_tasks)
def test_the_indexed_waits_are_the_pairwise_ones(tasks: list[PlanTask]) -> None:
    batch = PlanBatch(phase=None, number="1", title="b", tasks=tasks)
    assert task_waits(batch) == _waits_pair_by_pair(batch)
