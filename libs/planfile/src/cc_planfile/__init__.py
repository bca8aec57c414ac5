"""Parse CommandCenter markdown plans into `commandcenter_contracts.plan.Plan`.

Plans are written by people and agents in several styles, so the parser is tolerant: it reads
phases, batches and tasks in the forms real plans use (see `parser`), and anything that looks
like part of the plan but cannot be read becomes a `PlanWarning` with its line number instead
of being dropped. `select_batches` then picks what a run executes and refuses selections that
are ambiguous or empty rather than guessing; `dependencies_outside` says which dependencies a
selection leaves out. `find_overlaps` and `task_waits` say which tasks
of a batch change the same files and so must wait for one another.

    plan = parse_plan_file("docs/plans/MASTER_PLAN.md")
    batches = select_batches(plan, BatchSelection(start_batch="1", end_batch="3", phase="3"))
    document = plan_document(plan)  # the JSON document of `plan show --json`
    print(render_text(plan))  # the text of `plan show`
"""

from __future__ import annotations

from typing import Any, cast

import msgspec
from commandcenter_contracts.plan import Plan

from cc_planfile.dependencies import SkippedDependency, dependencies_outside
from cc_planfile.errors import PlanError, PlanFileError, SelectionError
from cc_planfile.overlaps import Overlap, find_overlaps, task_waits
from cc_planfile.parser import parse_plan, parse_plan_file
from cc_planfile.render import render_text
from cc_planfile.selection import describe_batch, select_batches


def plan_document(plan: Plan) -> dict[str, Any]:
    """The plan as plain JSON-ready data: `{"title", "batches", "warnings", "notes"}`."""
    return cast(dict[str, Any], msgspec.to_builtins(plan))


__all__ = [
    "Overlap",
    "PlanError",
    "PlanFileError",
    "SelectionError",
    "SkippedDependency",
    "dependencies_outside",
    "describe_batch",
    "find_overlaps",
    "parse_plan",
    "parse_plan_file",
    "plan_document",
    "render_text",
    "select_batches",
    "task_waits",
]
