"""Properties of the parser on generated text: it never raises, and never drops a task silently.

Budgets are small (unit tier): a few hundred examples, no deadline (a slow CI machine must not
turn a fine run into a flaky failure).
"""

from __future__ import annotations

import re

from cc_planfile import parse_plan
from cc_planfile.markdown_blocks import LineKind, scan
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
