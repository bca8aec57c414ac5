"""Build a `Plan` from markdown: phases, batches and tasks, tolerant but never silent.

Structure comes from `##`..`######` headings outside code fences (see `markdown_blocks` and
`headings`); the first `#` heading is the plan title and `#` headings are never structure:

* A phase (`## Phase 3: title`) lasts until the next phase or an ordinary heading at its level
  or above (`## Quick Reference`). A batch heading at the phase's level or above ends the phase
  too (`## Phase 2` then `## Batch 5`: batch 5 is in no phase); only a deeper one is inside it.
* A batch (`### Batch 1: title`) belongs to the enclosing phase, if any, and lasts until the
  next batch or phase, or an ordinary heading at its level or above.
* A task heading (`### Task 1.2: title`) opens a section that lasts until the next heading at
  its level or above, or the next phase/batch/task heading; deeper headings are part of it.
  The section is the task's body; its `**Field:**` sections are read by `fields`.
* Outside task sections, a table whose rows start with task ids gives one task per row
  (`tables`).
* A heading that misspells a keyword (`Taks 1.1`) is read as an unreadable heading of that
  kind; `Step 1.2: title` where a task could be is a warning (`headings`).

Where a task goes: the open batch; else the open phase's implicit batch (number and title of
the phase, created at the phase's first direct task); else, in a plan with no phase or batch
headings at all, one implicit batch "1" titled with the plan title. In a plan that has phases
or batches, a task heading outside all of them goes to an implicit batch "0" with a warning;
a task *table row* outside all of them is only a warning (tables outside batches are usually
status summaries, and running them would surprise the author).

Never silent: whatever looks like a task but is not run is a warning with its line number -
unreadable or misspelled headings, rows without titles, duplicates, tasks under an unreadable
batch heading, a `### Tasks` section listing items without ids, a phase or batch with no tasks,
dependencies on tasks that are not in the plan or that come later in the same batch, an
unclosed code fence, and verification commands that use shell syntax.
Tasks of one batch that change the same files are not a problem but are worth knowing: they
become `Plan.notes` (see `overlaps`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from commandcenter_contracts.plan import Plan, PlanBatch, PlanTask, PlanWarning

from cc_planfile.errors import PlanFileError
from cc_planfile.fields import (
    SectionRef,
    TaskFields,
    read_section_dependencies,
    read_task_fields,
)
from cc_planfile.headings import (
    BatchHeading,
    Classified,
    MalformedHeading,
    NearMiss,
    PhaseHeading,
    TaskHeading,
    classify_heading,
    is_task_list_section,
    near_miss_message,
)
from cc_planfile.inline import is_dotted_task_id
from cc_planfile.markdown_blocks import (
    Heading,
    LineKind,
    ScannedDocument,
    SourceLine,
    is_thematic_break,
    list_item_text,
    scan,
)
from cc_planfile.overlaps import overlap_notes
from cc_planfile.selection import number_key
from cc_planfile.tables import read_task_table, table_end

logger = logging.getLogger(__name__)

UNTITLED = "Untitled plan"
ORPHAN_BATCH_NUMBER = "0"
PLAIN_BATCH_NUMBER = "1"


@dataclass(slots=True)
class _TaskDraft:
    id: str
    title: str
    line: int
    body: str
    fields: TaskFields
    """What its section (or table row) says besides the heading."""

    def freeze(self) -> PlanTask:
        fields = self.fields
        return PlanTask(
            id=self.id,
            title=self.title,
            files=fields.files,
            depends_on=fields.depends_on,
            verification=fields.verification,
            verification_notes=fields.verification_notes,
            body=self.body,
            commit_message=fields.commit_message,
            skill=fields.skill,
            execution_mode=fields.execution_mode,
            max_turns=fields.max_turns,
            model=fields.model,
            line=self.line,
        )


@dataclass(slots=True)
class _BatchDraft:
    phase: str | None
    number: str
    title: str
    line: int
    level: int
    explicit: bool
    blocked_by: int | None = None
    """Line of the unreadable batch or phase heading this batch is under; its tasks don't run."""
    tasks: list[_TaskDraft] = field(default_factory=list)
    own_lines: list[SourceLine] = field(default_factory=list)
    """Its text outside task sections: where its own Dependencies are."""
    phase_draft: _PhaseDraft | None = None

    def describe(self) -> str:
        where = f"phase {self.phase} batch {self.number}" if self.phase else f"batch {self.number}"
        return f"{where} '{self.title}'"

    def freeze(self) -> PlanBatch:
        return PlanBatch(
            phase=self.phase,
            number=self.number,
            title=self.title,
            tasks=[task.freeze() for task in self.tasks],
            line=self.line,
        )


@dataclass(slots=True)
class _PhaseDraft:
    number: str
    title: str
    line: int
    level: int
    readable: bool = True
    implicit_batch: _BatchDraft | None = None
    batch_count: int = 0
    had_warning: bool = False
    own_lines: list[SourceLine] = field(default_factory=list)


@dataclass(slots=True)
class _OpenTask:
    heading: TaskHeading | None
    """None for a malformed task heading: its section is swallowed, not read."""
    start: int
    level: int
    batch: _BatchDraft | None
    """None when the task is not run (a warning was already given)."""


@dataclass(slots=True)
class _TaskListSection:
    title: str
    line: int
    level: int
    context: str
    items: int = 0
    has_tasks: bool = False


def _plan_title(document: ScannedDocument) -> str:
    for line in document.lines:
        heading = line.heading
        if (
            line.kind is LineKind.TEXT
            and heading is not None
            and heading.level == 1
            and heading.text
        ):
            return heading.text
    return document.frontmatter_title or UNTITLED


def _classify(heading: Heading) -> Classified | None:
    """Structure is read from `##` to `######`; a `#` heading is the plan's title or a part."""
    return classify_heading(heading.text) if heading.level >= 2 else None


def _is_structured(lines: Sequence[SourceLine]) -> bool:
    """True if the plan has any phase or batch heading (even an unreadable one)."""
    for line in lines:
        if line.kind is not LineKind.TEXT or line.heading is None:
            continue
        kind = _classify(line.heading)
        if isinstance(kind, PhaseHeading | BatchHeading) or (
            isinstance(kind, MalformedHeading) and kind.kind != "task"
        ):
            return True
    return False


def _section_text(lines: Sequence[SourceLine]) -> str:
    """The lines as written, without trailing blank lines and `---` separators."""
    end = len(lines)
    while (
        end > 1
        and lines[end - 1].kind is LineKind.TEXT
        and (lines[end - 1].is_blank or is_thematic_break(lines[end - 1].text))
    ):
        end -= 1
    return "\n".join(line.text for line in lines[:end])


class _PlanBuilder:
    """One pass over the scanned lines, keeping the open phase, batch and task section."""

    def __init__(self, document: ScannedDocument) -> None:
        self.lines = document.lines
        self.document = document
        self.title = _plan_title(document)
        self.structured = _is_structured(document.lines)
        self.batches: list[_BatchDraft] = []
        self.warnings: list[tuple[int, str]] = []
        self.phase: _PhaseDraft | None = None
        self.batch: _BatchDraft | None = None
        self.task: _OpenTask | None = None
        self.task_list: _TaskListSection | None = None
        self.orphans: _BatchDraft | None = None
        self.phase_lines: dict[str, int] = {}
        self.batch_lines: dict[tuple[str | None, str], int] = {}

    # --- driving ---------------------------------------------------------------------

    def build(self) -> Plan:
        index = 0
        while index < len(self.lines):
            line = self.lines[index]
            if line.kind is LineKind.TEXT and line.heading is not None:
                self._on_heading(index, line, line.heading)
            if self.task is None:
                self._own_line(line)
            if line.kind is LineKind.TEXT and line.heading is None and self.task is None:
                end = table_end(self.lines, index) if "|" in line.text else None
                if end is not None:
                    self._on_table(self.lines[index:end])
                    index = end
                    continue
                if self.task_list is not None and list_item_text(line.text) is not None:
                    self.task_list.items += 1
            index += 1
        self._close_task(len(self.lines))
        self._close_task_list()
        self._close_phase()
        return self._finish()

    def _own_line(self, line: SourceLine) -> None:
        """A line outside task sections belongs to the open batch, else the open phase."""
        owner = self.batch if self.batch is not None else self.phase
        if owner is not None:
            owner.own_lines.append(line)

    def _warn(self, line: int, message: str) -> None:
        self.warnings.append((line, message))
        if self.phase is not None:
            self.phase.had_warning = True

    # --- headings --------------------------------------------------------------------

    def _on_heading(self, index: int, line: SourceLine, heading: Heading) -> None:
        kind = _classify(heading)
        if isinstance(kind, NearMiss):
            self._on_near_miss(line.number, heading, kind)
            kind = None  # otherwise an ordinary heading
        structural = kind is not None
        if self.task is not None and (structural or heading.level <= self.task.level):
            self._close_task(index)
        if self.task is not None:
            return  # a subheading inside the task's section
        if self.task_list is not None and (structural or heading.level <= self.task_list.level):
            if isinstance(kind, TaskHeading):
                self.task_list.has_tasks = True
            self._close_task_list()

        if isinstance(kind, PhaseHeading):
            self._open_phase(line.number, heading.level, kind.number, kind.title)
        elif isinstance(kind, BatchHeading):
            self._open_batch(line.number, heading.level, kind.number, kind.title)
        elif isinstance(kind, TaskHeading):
            self._open_task(index, line.number, heading.level, kind)
        elif isinstance(kind, MalformedHeading):
            self._on_malformed(index, line.number, heading.level, kind)
        else:
            self._on_ordinary(line.number, heading)

    def _on_ordinary(self, line: int, heading: Heading) -> None:
        """A heading that is not structure: it ends the batch or phase at its level or below."""
        if self.batch is not None and heading.level <= self.batch.level:
            self.batch = None
        if self.phase is not None and heading.level <= self.phase.level:
            self._close_phase()
        if is_task_list_section(heading.text):
            self.task_list = _TaskListSection(
                title=heading.text, line=line, level=heading.level, context=self._context()
            )

    def _on_near_miss(self, line: int, heading: Heading, near: NearMiss) -> None:
        """Warn about `Step 1.2: title` where a task could be: a dotted id, or a heading inside a
        batch or phase (outside a task's section, where numbered steps are common)."""
        if self.task is not None and heading.level > self.task.level:
            return
        container = self.batch or self.phase
        inside = container is not None and heading.level > container.level
        if inside or is_dotted_task_id(near.id):
            self._warn(line, near_miss_message(heading.text, near))

    def _context(self) -> str:
        if self.batch is not None and self.batch.blocked_by is None:
            return f"under {self.batch.describe()}"
        if self.phase is not None:
            return f"under phase {self.phase.number}"
        return ""

    def _open_phase(self, line: int, level: int, number: str, title: str) -> None:
        self.batch = None
        self._close_phase()
        if number in self.phase_lines:
            self.warnings.append(
                (
                    line,
                    f"phase {number} appears twice (lines {self.phase_lines[number]} and {line})",
                )
            )
        self.phase_lines.setdefault(number, line)
        self.phase = _PhaseDraft(
            number=number, title=title or f"Phase {number}", line=line, level=level
        )

    def _open_batch(self, line: int, level: int, number: str, title: str) -> None:
        self.batch = None
        if self.phase is not None and level <= self.phase.level:
            # A sibling of the phase heading, not a child: the phase is over.
            self._close_phase()
        phase = self.phase
        batch = _BatchDraft(
            phase=phase.number if phase is not None else None,
            number=number,
            title=title or f"Batch {number}",
            line=line,
            level=level,
            explicit=True,
            blocked_by=None if phase is None or phase.readable else phase.line,
            phase_draft=phase,
        )
        if batch.blocked_by is None:
            key = (batch.phase, number)
            if key in self.batch_lines:
                self._warn(
                    line,
                    f"{batch.describe()} has the same number as the batch at line "
                    f"{self.batch_lines[key]}; selecting it selects both",
                )
            self.batch_lines.setdefault(key, line)
            self.batches.append(batch)
        if phase is not None:
            phase.batch_count += 1
        self.batch = batch

    def _on_malformed(self, index: int, line: int, level: int, kind: MalformedHeading) -> None:
        if kind.kind == "task":
            self._warn(line, f"{kind.message}; not run")
            self.task = _OpenTask(heading=None, start=index, level=level, batch=None)
            return
        self._warn(line, f"{kind.message}; the tasks under it are not run")
        self.batch = None
        if kind.kind == "phase" or (self.phase is not None and level <= self.phase.level):
            self._close_phase()
        if kind.kind == "phase":
            self.phase = _PhaseDraft(
                number="?", title="", line=line, level=level, readable=False, had_warning=True
            )
            return
        # Kept open (but never emitted) so the tasks under it are reported, not misfiled.
        self.batch = _BatchDraft(
            phase=self.phase.number if self.phase is not None else None,
            number="?",
            title="",
            line=line,
            level=level,
            explicit=True,
            blocked_by=line,
        )

    def _open_task(self, index: int, line: int, level: int, heading: TaskHeading) -> None:
        target = self._task_target(line, heading.id, from_table=False)
        self.task = _OpenTask(heading=heading, start=index, level=level, batch=target)

    def _task_target(self, line: int, task_id: str, *, from_table: bool) -> _BatchDraft | None:
        """The batch a task found at `line` belongs to, or None (with a warning) if not run."""
        if self.batch is not None:
            if self.batch.blocked_by is not None:
                self._warn(
                    line,
                    f"task {task_id} is under the unreadable heading at line "
                    f"{self.batch.blocked_by}; not run",
                )
                return None
            return self.batch
        if self.phase is not None:
            if not self.phase.readable:
                self._warn(
                    line,
                    f"task {task_id} is under the unreadable heading at line "
                    f"{self.phase.line}; not run",
                )
                return None
            if self.phase.implicit_batch is None:
                implicit = _BatchDraft(
                    phase=self.phase.number,
                    number=self.phase.number,
                    title=self.phase.title,
                    line=self.phase.line,
                    level=self.phase.level,
                    explicit=False,
                    phase_draft=self.phase,
                )
                self.phase.implicit_batch = implicit
                self.phase.batch_count += 1
                self.batches.append(implicit)
            return self.phase.implicit_batch
        if not self.structured:
            if not self.batches:
                self.batches.append(self._undeclared_batch(PLAIN_BATCH_NUMBER, line))
            return self.batches[0]
        if from_table:
            self._warn(
                line, f"table row for task {task_id} is not under any batch or phase; not run"
            )
            return None
        if self.orphans is None:
            self.orphans = self._undeclared_batch(ORPHAN_BATCH_NUMBER, line)
            self.batches.append(self.orphans)
        self._warn(
            line,
            f"task {task_id} is not under any batch or phase; "
            f"it is put in batch {ORPHAN_BATCH_NUMBER}",
        )
        return self.orphans

    def _undeclared_batch(self, number: str, line: int) -> _BatchDraft:
        """A batch no heading declares, named after the plan: for a plan without structure, or
        for the tasks outside every batch and phase of one with structure."""
        return _BatchDraft(
            phase=None, number=number, title=self.title, line=line, level=0, explicit=False
        )

    # --- sections --------------------------------------------------------------------

    def _close_task(self, end: int) -> None:
        open_task, self.task = self.task, None
        if open_task is None or open_task.heading is None or open_task.batch is None:
            return
        heading = open_task.heading
        section = self.lines[open_task.start : end]
        fields = read_task_fields(section[1:], heading.id)
        for warning_line, message in fields.warnings:
            self._warn(warning_line, message)
        self._add_task(
            open_task.batch,
            _TaskDraft(
                heading.id, heading.title, section[0].number, _section_text(section), fields
            ),
        )

    def _add_task(self, batch: _BatchDraft, task: _TaskDraft) -> None:
        first = next((t for t in batch.tasks if t.id == task.id), None)
        if first is not None:
            self._warn(
                task.line,
                f"task {task.id} appears twice in {batch.describe()} "
                f"(lines {first.line} and {task.line}); the second is not run",
            )
            return
        batch.tasks.append(task)

    def _on_table(self, rows: Sequence[SourceLine]) -> None:
        read = read_task_table(rows)
        for warning_line, message in read.warnings:
            self._warn(warning_line, message)
        for row in read.tasks:
            if self.task_list is not None:
                self.task_list.has_tasks = True
            target = self._task_target(row.line, row.id, from_table=True)
            if target is None:
                continue
            self._add_task(target, _TaskDraft(row.id, row.title, row.line, row.body, row.fields))

    def _close_task_list(self) -> None:
        section, self.task_list = self.task_list, None
        if section is None or section.has_tasks or section.items == 0:
            return
        where = f" {section.context}" if section.context else ""
        self._warn(
            section.line,
            f"section '{section.title}'{where} lists {section.items} items without task ids; "
            "not run",
        )

    def _close_phase(self) -> None:
        phase, self.phase = self.phase, None
        if phase is None or not phase.readable or phase.batch_count or phase.had_warning:
            return
        self.warnings.append(
            (phase.line, f"phase {phase.number} '{phase.title}' has no tasks; nothing to run")
        )

    # --- result ----------------------------------------------------------------------

    def _check_dependencies(self, task: _TaskDraft, known: set[str], later: set[str]) -> None:
        """`later`: ids of the tasks after `task` in its batch."""
        fields = task.fields
        if task.id in fields.depends_on:
            # A task waiting for itself would never start; drop the edge, say so.
            fields.depends_on = [dep for dep in fields.depends_on if dep != task.id]
            self.warnings.append((task.line, f"task {task.id} depends on itself; ignored"))
        for dep in fields.depends_on:
            if dep not in known:
                self.warnings.append(
                    (task.line, f"task {task.id} depends on {dep}, which is not in the plan")
                )
            elif dep in later:
                # Tasks of a batch only wait for earlier ones, so this edge is never honoured.
                self.warnings.append(
                    (
                        task.line,
                        f"task {task.id} depends on {dep}, which comes later in the same batch; "
                        f"put {dep} first or in an earlier batch",
                    )
                )

    def _warn_once(self, line: int, message: str) -> None:
        if (line, message) not in self.warnings:
            self.warnings.append((line, message))

    def _own_dependencies(
        self, batch: _BatchDraft, phases: dict[int, TaskFields]
    ) -> list[tuple[str, TaskFields]]:
        """(owner, fields) of the Dependencies in the text of the batch's phase and of the batch
        itself, outside its tasks: they count for each of its tasks. A phase's are read once."""
        found: list[tuple[str, TaskFields]] = []
        phase = batch.phase_draft
        if phase is not None:
            if id(phase) not in phases:
                owner = f"phase {phase.number}"
                phases[id(phase)] = read_section_dependencies(phase.own_lines, owner)
                self.warnings += phases[id(phase)].warnings
            found.append((f"phase {phase.number}", phases[id(phase)]))
        if batch.explicit:
            owner = f"batch {batch.number}"
            own = read_section_dependencies(batch.own_lines, owner)
            self.warnings += own.warnings
            found.append((owner, own))
        return found

    def _section_task_ids(self, ref: SectionRef, batch: _BatchDraft, who: str) -> list[str]:
        """The ids of the tasks of the batch or phase `ref` names, seen from `batch`."""
        key = number_key(ref.number)
        if ref.kind == "phase":
            targets = [b for b in self.batches if b.phase and number_key(b.phase) == key]
        else:
            targets = [b for b in self.batches if number_key(b.number) == key]
            targets = [b for b in targets if b.phase == batch.phase] or targets
            if len({b.phase for b in targets}) > 1:
                listed = ", ".join(b.describe() for b in targets)
                self._warn_once(
                    ref.line,
                    f"{who} depends on batch {ref.number}, which is ambiguous ({listed}); "
                    "name its task ids",
                )
                return []
        if not targets:
            self._warn_once(
                ref.line, f"{who} depends on {ref.kind} {ref.number}, which is not in the plan"
            )
            return []
        if batch in targets:
            # Tasks of a batch wait only for the earlier ones they name, never the whole batch.
            self._warn_once(
                ref.line, f"{who} depends on {ref.kind} {ref.number}, which contains it; ignored"
            )
        return [task.id for b in targets if b is not batch for task in b.tasks]

    def _resolve_section_dependencies(self) -> None:
        """Turn `Batch 1` / `Phase 2` dependencies (a task's, its batch's, its phase's) into
        task ids, so everything downstream deals in task ids only."""
        phases: dict[int, TaskFields] = {}
        for batch in self.batches:
            own = self._own_dependencies(batch, phases)
            for task in batch.tasks:
                ids: list[str] = []
                for owner, fields in own:
                    ids += fields.depends_on
                    for ref in fields.depends_on_sections:
                        ids += self._section_task_ids(ref, batch, owner)
                for ref in task.fields.depends_on_sections:
                    ids += self._section_task_ids(ref, batch, f"task {task.id}")
                depends_on = task.fields.depends_on
                depends_on += [i for i in dict.fromkeys(ids) if i not in depends_on]

    def _finish(self) -> Plan:
        if self.document.unclosed_fence_line is not None:
            self.warnings.append(
                (
                    self.document.unclosed_fence_line,
                    "code fence is never closed; everything after it is read as code",
                )
            )
        if self.document.unclosed_comment_line is not None:
            self.warnings.append(
                (
                    self.document.unclosed_comment_line,
                    "HTML comment is never closed; everything after it is ignored",
                )
            )
        self._resolve_section_dependencies()
        known = {task.id for batch in self.batches for task in batch.tasks}
        for batch in self.batches:
            if batch.explicit and not batch.tasks:
                self.warnings.append((batch.line, f"{batch.describe()} has no tasks"))
            for index, task in enumerate(batch.tasks):
                later = {other.id for other in batch.tasks[index + 1 :]}
                self._check_dependencies(task, known, later)
        if not self.batches and not self.warnings:
            # Other warnings already say why nothing runs; this covers a plan with no tasks.
            self.warnings.append((1, "no tasks found in the plan"))
        self.warnings.sort(key=lambda warning: warning[0])
        batches = [batch.freeze() for batch in self.batches]
        return Plan(
            title=self.title,
            batches=batches,
            warnings=[PlanWarning(line=line, message=message) for line, message in self.warnings],
            notes=overlap_notes(batches),
        )


def parse_plan(text: str, *, source: str = "<plan>") -> Plan:
    """Parse plan markdown into a `Plan`. Never raises on content; see the module docstring.

    `source` names the plan in log messages (a path, or `<plan>` for text from an API call).
    """
    plan = _PlanBuilder(scan(text)).build()
    logger.debug(
        "parsed %s: %d batches, %d tasks, %d warnings",
        source,
        len(plan.batches),
        sum(len(batch.tasks) for batch in plan.batches),
        len(plan.warnings),
    )
    return plan


def parse_plan_file(path: str | Path) -> Plan:
    """Read and parse a plan file (UTF-8, optional BOM); `PlanFileError` if it cannot be read."""
    plan_path = Path(path)
    try:
        data = plan_path.read_bytes()
    except FileNotFoundError:
        raise PlanFileError(f"plan file not found: {plan_path}") from None
    except IsADirectoryError:
        raise PlanFileError(f"plan path is a directory, not a file: {plan_path}") from None
    except OSError as error:
        raise PlanFileError(f"cannot read plan file {plan_path}: {error.strerror}") from error
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise PlanFileError(
            f"plan file {plan_path} is not valid UTF-8 (byte 0x{data[error.start]:02x} "
            f"at offset {error.start})"
        ) from None
    return parse_plan(text, source=str(plan_path))
