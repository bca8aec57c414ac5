"""The parsed plan: plain data produced by `cc_planfile` and carried in phase-start events.

`msgspec.json.encode(plan)` is the JSON document of `commandcenter plan show --json` and
`POST /api/v1/plans/parse`.
"""

from __future__ import annotations

import msgspec


class PlanWarning(msgspec.Struct, frozen=True, kw_only=True):
    """Something that looked like part of the plan but could not be read."""

    line: int
    message: str


class PlanNote(msgspec.Struct, frozen=True, kw_only=True):
    """Something about how the plan will run that is worth knowing, but is not a problem.

    Today: tasks of one batch that change the same files, so the later waits for the earlier.
    """

    batch: str
    """The batch number as written in the plan."""
    phase: str | None = None
    tasks: list[str]
    """The task ids the note is about, in plan order."""
    files: list[str] = []
    message: str


class PlanTask(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    """The id as written in the plan, e.g. `"4.1.2"`."""
    title: str
    files: list[str] = []
    depends_on: list[str] = []
    verification: list[str] = []
    """Shell-free commands (argv is split with shlex) run in the task's directory."""
    verification_notes: list[str] = []
    """Prose verification items: passed to the agent, never executed."""
    body: str = ""
    """The task's markdown, as written (the agent's prompt)."""
    commit_message: str | None = None
    skill: str | None = None
    execution_mode: str | None = None
    max_turns: int | None = None
    """`**Max turns:**`: the agent's turn limit for this task (overrides the run's)."""
    model: str | None = None
    """`**Model:**`: the agent's model for this task (overrides the run's)."""
    line: int = 0
    """1-based line of the task's heading or table row."""


class PlanBatch(msgspec.Struct, frozen=True, kw_only=True):
    phase: str | None
    number: str
    title: str
    tasks: list[PlanTask] = []
    line: int = 0


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    title: str
    batches: list[PlanBatch] = []
    warnings: list[PlanWarning] = []
    notes: list[PlanNote] = []


class BatchSelection(msgspec.Struct, frozen=True, kw_only=True):
    """Which batches to run: numbers as written in the plan, inclusive, in plan order."""

    start_batch: str | None = None
    end_batch: str | None = None
    phase: str | None = None
