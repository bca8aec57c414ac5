"""The checker run after every fault scenario, in the spirit of Jepsen's queue checker.

JetStream is the source of truth: what it acknowledged happened. Against it, the checker asserts

1. every task of the run reached exactly one terminal state in PostgreSQL: the task row is
   final at the task's last attempt, and exactly one terminal outcome of that attempt exists,
   in the stream and in the read model's `events`;
2. no status event JetStream acknowledged is missing from the read model: every message of
   `cc.status.<run>` is in `events` (and nothing else is), or — when it cannot be decoded — in
   the dead letters, with its subject and bytes;
3. no task branch has a duplicate commit: on the bare remote, every task branch of the run is
   exactly one commit on top of the base, the succeeded task's commit, and no two commits carry
   the same `CommandCenter-Task` trailer.

(2) is polled until the projector has caught up, with a deadline; (1) and (3) are then read once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import msgspec
from commandcenter.gitfixtures import git
from commandcenter_contracts import (
    BatchStarted,
    DeadLetter,
    FailureCode,
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
    """The remote's commit per plan task id."""


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
        commits = self._check_branches(run_id, base, events, planned)
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
        )

    # --- 2: nothing acknowledged is missing from the read model ---------------------------------
    async def _read_model_caught_up(
        self, run_id: str
    ) -> tuple[list[StreamMessage], list[DeadLetter]]:
        deadline = time.monotonic() + self._timeout
        subject = subjects.status_subject(run_id)
        while True:
            messages = await read_subject(self._js, subjects.STREAM_STATUS, subject)
            letters = await dead_letters(self._js)
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
    def _check_branches(
        self,
        run_id: str,
        base: str,
        events: list[StatusEvent],
        planned: dict[str, PlannedTask],
    ) -> dict[str, str]:
        by_branch = {p.branch: p for p in planned.values()}
        prefix = f"refs/heads/cc/{run_id[:8]}/"
        out = git(self._remote, "for-each-ref", "--format=%(refname)", prefix)
        remote_branches = [line.removeprefix("refs/heads/") for line in out.split()]
        commits: dict[str, str] = {}
        carriers: dict[str, set[str]] = defaultdict(set)
        for branch in remote_branches:
            task = by_branch.get(branch)
            assert task is not None, f"{branch} on the remote belongs to no task of the run"
            shas = git(self._remote, "rev-list", f"{base}..{branch}").split()
            assert len(shas) == 1, f"{branch}: {len(shas)} commits on top of the base: {shas}"
            for sha in shas:
                message = git(self._remote, "log", "-1", "--format=%B", sha)
                for trailer in _task_trailers(message):
                    carriers[trailer].add(sha)
                assert task.task_id in _task_trailers(message), (
                    f"{branch}: its commit is not marked as task {task.task_id}:\n{message}"
                )
            commits[task.plan_task_id] = shas[0]
        duplicated = {t: shas for t, shas in carriers.items() if len(shas) > 1}
        assert not duplicated, f"commits carrying the same task trailer: {duplicated}"

        for e in events:
            if isinstance(e, TaskSucceeded) and e.pushed and e.task_id in planned:
                name = planned[e.task_id].plan_task_id
                assert e.branch in remote_branches, f"{name}: {e.branch} is not on the remote"
                assert commits[name] == e.commit, (
                    f"{name}: the remote has {commits[name]}, task.succeeded says {e.commit}"
                )
        return commits

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
