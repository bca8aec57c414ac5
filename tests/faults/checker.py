"""The checker run after every fault scenario, in the spirit of Jepsen's queue checker.

JetStream is the source of truth: what it acknowledged happened. Against it, the checker asserts

1. every task of the run reached exactly one terminal state in PostgreSQL: the task row is
   final at the task's last attempt, and exactly one terminal outcome of that attempt exists,
   in the stream and in the read model's `events`;
2. no status event JetStream acknowledged is missing from the read model: every message of
   `cc.status.<run>` is in `events` (and nothing else is), or — when it cannot be decoded — in
   the dead letters, with its subject and bytes;
3. no task branch has a duplicate commit: every succeeded task's commit (in the bare remote's
   object store: the push that integrated the task deleted its branch) and every task branch
   still on the remote is exactly one commit, carrying its task's `CommandCenter-Task` trailer,
   on top of a commit of the integration branch's first-parent line (the tip the task started
   from); no integrated task's branch is left on the remote, and a task pushed but not
   integrated has its branch there at its commit;
4. each task's work is on the integration branch exactly once: among the commits the run added
   to the integration branch's first-parent line, every succeeded task's trailer appears once
   (at the commit its `task.succeeded` names), no other task's appears, and no commit lacks one.

(2) is polled until the projector has caught up, with a deadline; (1), (3), (4) are then read
once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import msgspec
import nats.errors
from commandcenter.gitfixtures import git
from commandcenter_contracts import (
    BatchStarted,
    DeadLetter,
    FailureCode,
    RunAccepted,
    RunPlanned,
    StatusEvent,
    TaskEvent,
    TaskFailed,
    TaskStarted,
    TaskSucceeded,
    dead_letter_decoder,
    status_decoder,
    subjects,
)
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

log = logging.getLogger(__name__)

TERMINAL_TASK_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
TASK_TRAILER = "CommandCenter-Task"


def event_type(event: StatusEvent) -> str:
    """The wire tag of an event, e.g. `task.succeeded`."""
    return str(type(event).__struct_config__.tag)


def decode_status(data: bytes) -> StatusEvent | None:
    try:
        return status_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


@dataclass(frozen=True)
class StreamMessage:
    seq: int
    subject: str
    data: bytes


async def read_subject(js: JetStreamContext, stream: str, subject: str) -> list[StreamMessage]:
    """Every message of `subject` still in `stream`, in stream order."""
    found: list[StreamMessage] = []
    seq = 1
    while True:
        try:
            raw: RawStreamMsg = await js.get_msg(stream, seq=seq, subject=subject, next=True)
        except NotFoundError:
            return found
        assert raw.seq is not None
        found.append(StreamMessage(raw.seq, raw.subject or subject, raw.data or b""))
        seq = raw.seq + 1


async def dead_letters(js: JetStreamContext) -> list[DeadLetter]:
    return [
        dead_letter_decoder.decode(m.data)
        for m in await read_subject(js, subjects.STREAM_DEAD, subjects.TASK_DEAD)
    ]


@dataclass(frozen=True)
class PlannedTask:
    task_id: str
    plan_task_id: str
    batch_index: int
    branch: str


@dataclass(frozen=True)
class CheckSummary:
    """What the checker saw, for the scenario's notes."""

    tasks: int
    events: int
    undecodable: int
    deliveries: dict[str, int]
    """`task.started` events per plan task id (one per delivery of a dispatch)."""
    commits: dict[str, str]
    """The succeeded task's commit per plan task id (in the remote's object store)."""
    integrated: dict[str, str]
    """The integration branch's commit per plan task id."""


class Checker:
    def __init__(
        self, js: JetStreamContext, database_url: str, remote: Path, *, timeout: float = 90.0
    ) -> None:
        self._js = js
        self._database_url = database_url
        self._remote = remote
        self._timeout = timeout

    async def check(self, run_id: str, base: str) -> CheckSummary:
        messages, letters = await self._read_model_caught_up(run_id)
        events = [e for e in (decode_status(m.data) for m in messages) if e is not None]
        planned = _planned_tasks(events)
        self._check_undecodable_dead_lettered(messages, letters)
        await self._check_one_terminal_state(run_id, events, planned)
        integration = _integration_branch(run_id, events)
        line = self._integration_line(base, integration)
        commits = self._check_branches(run_id, events, planned, integration, [base, *line])
        integrated = self._check_integration(events, planned, line)
        deliveries = Counter(
            planned[e.task_id].plan_task_id
            for e in events
            if isinstance(e, TaskStarted) and e.task_id in planned
        )
        return CheckSummary(
            tasks=len(planned),
            events=len(events),
            undecodable=len(messages) - len(events),
            deliveries=dict(sorted(deliveries.items())),
            commits=commits,
            integrated=integrated,
        )

    # --- 2: nothing acknowledged is missing from the read model ---------------------------------
    async def _read_model_caught_up(
        self, run_id: str
    ) -> tuple[list[StreamMessage], list[DeadLetter]]:
        deadline = time.monotonic() + self._timeout
        subject = subjects.status_subject(run_id)
        while True:
            try:
                messages = await read_subject(self._js, subjects.STREAM_STATUS, subject)
                letters = await dead_letters(self._js)
            except (nats.errors.Error, TimeoutError) as exc:
                # A stream electing its leader (a node of a cluster came back): not yet.
                if time.monotonic() > deadline:
                    raise
                log.info("the checker waits for JetStream: %r", exc)
                await asyncio.sleep(0.5)
                continue
            missing, extra = await self._compare(run_id, messages, letters)
            if not missing and not extra:
                return messages, letters
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the read model lost {len(missing)} of {len(messages)} acknowledged status "
                    f"messages of run {run_id} after {self._timeout:g}s: {missing[:10]}"
                    + (f"; and it holds events JetStream never had: {extra[:10]}" if extra else "")
                )
            await asyncio.sleep(0.5)

    async def _compare(
        self, run_id: str, messages: list[StreamMessage], letters: list[DeadLetter]
    ) -> tuple[list[str], list[str]]:
        """(messages neither projected nor dead-lettered, projected ids not in the stream)."""
        try:
            rows = await self._fetch("SELECT event_id FROM events WHERE run_id = $1", run_id)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:  # coming back
            return [f"PostgreSQL unavailable: {exc}"], []
        projected = {r["event_id"] for r in rows}
        lettered = {(d.subject, d.raw) for d in letters}
        missing: list[str] = []
        in_stream: set[str] = set()
        for m in messages:
            event = decode_status(m.data)
            if event is None:
                if (m.subject, m.data) not in lettered:
                    missing.append(f"seq {m.seq} (undecodable, not dead-lettered)")
                continue
            in_stream.add(event.event_id)
            if event.event_id not in projected:
                missing.append(f"seq {m.seq} {event_type(event)} {event.event_id}")
        return missing, sorted(projected - in_stream)

    def _check_undecodable_dead_lettered(
        self, messages: list[StreamMessage], letters: list[DeadLetter]
    ) -> None:
        for m in messages:
            if decode_status(m.data) is not None:
                continue
            found = [d for d in letters if d.subject == m.subject and d.raw == m.data]
            assert found, f"undecodable seq {m.seq} on {m.subject} is not in {subjects.STREAM_DEAD}"
            assert {d.error_code for d in found} == {FailureCode.BAD_MESSAGE}, found

    # --- 1: one terminal state per task -------------------------------------------------------
    async def _check_one_terminal_state(
        self, run_id: str, events: list[StatusEvent], planned: dict[str, PlannedTask]
    ) -> None:
        started_batches = {e.batch_index for e in events if isinstance(e, BatchStarted)}
        expected = {t for t, p in planned.items() if p.batch_index in started_batches}
        assert expected, f"run {run_id} started no batch with tasks"

        attempts: dict[str, int] = defaultdict(int)
        outcomes: list[TaskSucceeded | TaskFailed] = []
        for e in events:
            if isinstance(e, TaskEvent):
                attempts[e.task_id] = max(attempts[e.task_id], e.attempt)
            if isinstance(e, TaskSucceeded) or (isinstance(e, TaskFailed) and not e.will_retry):
                outcomes.append(e)
        stream_outcomes = Counter((e.task_id, e.attempt) for e in outcomes)
        last_outcome = {e.task_id: e for e in outcomes}

        rows = {
            r["task_id"]: r
            for r in await self._fetch(
                "SELECT task_id, status, attempt, error_code, commit FROM tasks WHERE run_id = $1",
                run_id,
            )
        }
        pg_outcomes = Counter(
            (r["task_id"], r["attempt"])
            for r in await self._fetch(
                """SELECT payload->>'task_id' AS task_id, (payload->>'attempt')::int AS attempt
                   FROM events
                   WHERE run_id = $1 AND (type = 'task.succeeded'
                         OR (type = 'task.failed'
                             AND NOT coalesce((payload->>'will_retry')::boolean, false)))""",
                run_id,
            )
        )
        assert set(rows) <= set(planned), f"tasks nobody planned: {set(rows) - set(planned)}"
        problems = []
        for task_id in sorted(expected, key=lambda t: planned[t].plan_task_id):
            name = planned[task_id].plan_task_id
            final = attempts[task_id]
            row = rows.get(task_id)
            if row is None:
                problems.append(f"{name}: no row in tasks")
                continue
            if row["status"] not in TERMINAL_TASK_STATUSES:
                problems.append(f"{name}: {row['status']} in PostgreSQL, not terminal")
            if row["attempt"] != final:
                problems.append(f"{name}: row at attempt {row['attempt']}, last attempt {final}")
            if stream_outcomes[(task_id, final)] != 1:
                problems.append(
                    f"{name}: {stream_outcomes[(task_id, final)]} terminal outcomes of attempt "
                    f"{final} in JetStream"
                )
            if pg_outcomes[(task_id, final)] != 1:
                problems.append(
                    f"{name}: {pg_outcomes[(task_id, final)]} terminal outcomes of attempt "
                    f"{final} in the events table"
                )
            outcome = last_outcome.get(task_id)
            if outcome is not None and row["status"] != _status_of(outcome):
                problems.append(
                    f"{name}: PostgreSQL says {row['status']}, its outcome says "
                    f"{_status_of(outcome)}"
                )
        assert not problems, "tasks without exactly one terminal state:\n" + "\n".join(problems)

    # --- 3: no duplicate commit -----------------------------------------------------------------
    def _integration_line(self, base: str, integration: str) -> list[str]:
        """The commits the run put on the integration branch's first-parent line, oldest first."""
        exists = git(
            self._remote, "for-each-ref", "--format=%(refname)", f"refs/heads/{integration}"
        )
        if not exists.strip():
            return []
        out = git(self._remote, "rev-list", "--first-parent", "--reverse", f"{base}..{integration}")
        return out.split()

    def _check_branches(
        self,
        run_id: str,
        events: list[StatusEvent],
        planned: dict[str, PlannedTask],
        integration: str,
        starts: list[str],
    ) -> dict[str, str]:
        """`starts`: the base and the integration commits, where a task's commit may start.

        The push that integrates a task deletes its branch, but not its commits: they stay in
        the bare remote's object store, where each succeeded task's commit is checked."""
        final = _final_outcomes(events)
        for e in events:
            if isinstance(e, TaskSucceeded) and e.task_id in planned:
                name = planned[e.task_id].plan_task_id
                self._check_one_commit(e.commit, planned[e.task_id], starts, f"{name}'s commit")
        commits = {
            planned[task_id].plan_task_id: outcome.commit
            for task_id, outcome in final.items()
            if isinstance(outcome, TaskSucceeded) and task_id in planned
        }

        by_branch = {p.branch: p for p in planned.values()}
        prefix = f"refs/heads/cc/{run_id[:8]}/"
        out = git(self._remote, "for-each-ref", "--format=%(refname)", prefix)
        remote_branches = [line.removeprefix("refs/heads/") for line in out.split()]
        for branch in remote_branches:
            if branch == integration:
                continue
            task = by_branch.get(branch)
            assert task is not None, f"{branch} on the remote belongs to no task of the run"
            tip = git(self._remote, "rev-parse", branch).strip()
            self._check_one_commit(tip, task, starts, branch)
            outcome = final.get(task.task_id)
            if isinstance(outcome, TaskSucceeded):
                assert outcome.integrated_commit is None, (
                    f"{branch}: task {task.plan_task_id} is integrated "
                    f"({outcome.integrated_commit}), yet its branch is still on the remote"
                )
                assert tip == outcome.commit, (
                    f"{branch}: the remote has {tip}, task.succeeded says {outcome.commit}"
                )
        for task_id, outcome in final.items():
            pushed_only = isinstance(outcome, TaskSucceeded) and outcome.integrated_commit is None
            if pushed_only and outcome.pushed and task_id in planned:
                assert outcome.branch in remote_branches, (
                    f"{planned[task_id].plan_task_id}: {outcome.branch} is not on the remote"
                )
        return commits

    def _check_one_commit(self, sha: str, task: PlannedTask, starts: list[str], what: str) -> None:
        """`sha` is one commit, marked as `task`'s, on top of a start."""
        parent = git(self._remote, "rev-parse", f"{sha}^").strip()
        assert parent in starts, (
            f"{what}: not one commit on top of the integration branch ({sha} on {parent})"
        )
        message = git(self._remote, "log", "-1", "--format=%B", sha)
        assert _task_trailers(message) == [task.task_id], (
            f"{what}: its commit is not marked as task {task.task_id}:\n{message}"
        )

    # --- 4: each task on the integration branch exactly once ---------------------------------
    def _check_integration(
        self, events: list[StatusEvent], planned: dict[str, PlannedTask], line: list[str]
    ) -> dict[str, str]:
        carriers: dict[str, list[str]] = defaultdict(list)
        for sha in line:
            message = git(self._remote, "log", "-1", "--format=%B", sha)
            trailers = _task_trailers(message)
            assert len(trailers) == 1, f"integration commit {sha} names {trailers}:\n{message}"
            carriers[trailers[0]].append(sha)
        twice = {t: shas for t, shas in carriers.items() if len(shas) > 1}
        assert not twice, f"tasks integrated more than once: {twice}"
        final = _final_outcomes(events)
        integrated: dict[str, str] = {}
        for task_id, task in planned.items():
            outcome = final.get(task_id)
            landed = carriers.get(task_id, [])
            if isinstance(outcome, TaskSucceeded) and outcome.integrated_commit:
                assert landed == [outcome.integrated_commit], (
                    f"{task.plan_task_id}: task.succeeded says integrated as "
                    f"{outcome.integrated_commit}, the integration branch has {landed}"
                )
                integrated[task.plan_task_id] = landed[0]
            else:
                assert not landed, (
                    f"{task.plan_task_id} did not succeed but is integrated: {landed}"
                )
        unknown = set(carriers) - set(planned)
        assert not unknown, f"integration commits of tasks nobody planned: {unknown}"
        return integrated

    async def _fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self._database_url, timeout=10)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()


def _planned_tasks(events: list[StatusEvent]) -> dict[str, PlannedTask]:
    plans = [e for e in events if isinstance(e, RunPlanned)]
    assert plans, "the run was never planned (no run.planned in JetStream)"
    return {
        t.task_id: PlannedTask(t.task_id, t.plan_task_id, b.index, t.branch)
        for b in plans[-1].batches
        for t in b.tasks
    }


def _integration_branch(run_id: str, events: list[StatusEvent]) -> str:
    for e in events:
        if isinstance(e, RunAccepted) and e.integration_branch:
            return e.integration_branch
    return f"cc/{run_id[:8]}/integration"


def _final_outcomes(events: list[StatusEvent]) -> dict[str, TaskSucceeded | TaskFailed]:
    """Each task's outcome of its last attempt (later attempts win)."""
    final: dict[str, TaskSucceeded | TaskFailed] = {}
    for e in events:
        if isinstance(e, TaskSucceeded) or (isinstance(e, TaskFailed) and not e.will_retry):
            known = final.get(e.task_id)
            if known is None or known.attempt <= e.attempt:
                final[e.task_id] = e
    return final


def _status_of(outcome: TaskSucceeded | TaskFailed) -> str:
    if isinstance(outcome, TaskSucceeded):
        return "succeeded"
    return "cancelled" if outcome.error_code == FailureCode.CANCELLED else "failed"


def _task_trailers(message: str) -> list[str]:
    return [
        line.split(":", 1)[1].strip()
        for line in message.splitlines()
        if line.startswith(f"{TASK_TRAILER}:")
    ]
