"""The integrate step: the merge queue. The task's commit lands on the integration branch as
one squashed commit (or a merge commit), re-checked on the combined tree first.

Read the tip, skip if the task is on it already (exactly once, whatever crashed before), merge
the task's commit onto it, run the task's verification commands again when the combined tree
differs from the verified one, then move the branch with a compare-and-set on that tip. Lost
the race to another integrator: read the new tip and do it again. The branch never points at a
tree whose checks failed there.

Checks that fail only on the combined tree first send the agent back (a fix round, as in
`verify`) on that combination: the task's branch moves to the combined commit, the agent fixes
it there, its work is checked and pushed again, and the queue goes on. With no fix round left,
that failure — or a clash with the tip — ends the attempt with a `Rework`: the task runs again
from the current tip, told what clashed (the executor decides whether a re-run is left; see
`cc_bus.executor.retries`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import weakref
from collections.abc import AsyncIterator
from typing import Final, Literal

from cc_observe.metrics import integration_race_lost, integration_turn_waited
from commandcenter_contracts import FailureCode, MergeStyle, Rework, TaskDispatched

from cc_taskrunner import integration
from cc_taskrunner.attempt import Attempt
from cc_taskrunner.commits import task_commit_message, trailers
from cc_taskrunner.errors import GitError, TaskRunnerError
from cc_taskrunner.integration import Combined, Conflict
from cc_taskrunner.reporting import Outcome
from cc_taskrunner.steps.push import push
from cc_taskrunner.steps.verify import checked, fix_round, run_checks
from cc_taskrunner.task_branch import (
    delete_remote_task_branch,
    local_task_branch,
    remote_task_branch,
)
from cc_taskrunner.verification import VerificationFailure

MAX_RACES = 30
"""Lost compare-and-sets in a row before the attempt gives up (recoverably: the whole attempt
runs again, agent included, so losing is cheap by comparison: many replicas finishing at
once may each lose several times)."""
BACK_OFF_S = 0.01
BACK_OFF_MAX_S = 0.5


def integration_message(task: TaskDispatched) -> str:
    """The squashed commit carries the task's own message; a merge commit says what it merges."""
    if task.merge_style == MergeStyle.MERGE:
        return f"Merge {task.branch}: {task.title.strip()}\n\n{trailers(task)}\n"
    return task_commit_message(task)


def next_round(task: TaskDispatched) -> int:
    return task.rework.round + 1 if task.rework is not None else 1


async def integrate(a: Attempt) -> Outcome | None:
    target = a.integration
    if target is None:
        return None
    assert a.tip is not None, "integrate runs after commit"
    ws, task = a.workspace, a.task
    verified_tree: str | None = None  # the tree the checks passed on, read when needed
    # The task cannot have landed before the tip it started from, unless this delivery
    # recovered an earlier delivery's work (then `already_done` looked at the whole line).
    since = None if a.recovered else a.start_tip
    turn = _turn(target)
    for race in range(MAX_RACES):
        if race:
            await asyncio.sleep(_back_off(race))
        # Integrators of the branch take turns (they would only make each other combine
        # again): this process's, then the replicas' (advisory: the compare-and-set decides).
        async with _our_turn(a, turn):
            # Most often the tip is still the one the task started from: try that first
            # (the compare-and-set tells when it moved) unless this process saw it move.
            guess = since if race == 0 and turn.tip in (None, since) else None
            step = await _combine_on_tip(a, turn, guess, since)
            if not isinstance(step, tuple):
                return step  # on it already, or a clash
            tip, combined = step
            if task.verification:  # without checks, there is nothing to re-check on the tree
                verified_tree = verified_tree or await integration.tree_of(ws, a.tip)
            if not task.verification or combined.tree == verified_tree:
                moved = await _move(a, turn, combined, tip)
                if moved is not False:
                    return moved
                continue
        # The combined tree was never checked: check it outside the turn (checks and fix
        # rounds take minutes; the others' integrations need not wait for them).
        checked = await _check_on_combined(a, combined)
        if checked == AGAIN:
            verified_tree = None
            continue  # the fixed work goes through the queue again
        if checked is not None:
            return checked
        async with _our_turn(a, turn):
            moved = await _move(a, turn, combined, tip)
            if moved is not False:
                return moved
    raise TaskRunnerError(
        FailureCode.INFRA, f"{target.describe()} kept moving: gave up after {MAX_RACES} tries"
    )


async def _combine_on_tip(
    a: Attempt, turn: _Turn, guess: str | None, since: str | None
) -> tuple[str, Combined] | Outcome | None:
    """The tip (`guess`, else read) and the task's work combined onto it. None: the task is on
    it already (an earlier delivery landed it); an outcome: its work clashes with the tip."""
    assert a.integration is not None and a.tip is not None
    ws, task, target = a.workspace, a.task, a.integration
    tip = guess or await integration.read_tip(ws, target, timeout_s=a.settings.git_timeout_s)
    if tip is None:
        raise GitError(f"the integration branch {target.describe()} disappeared")
    if guess is None:
        turn.tip = tip
    landed = await integration.find_integrated(ws, task.task_id, tip, since=since)
    if landed is not None:
        await _landed(a, landed, "already on it")
        await delete_remote_task_branch(a, a.tip if a.pushed else None)
        return None
    combined = await integration.combine(
        ws,
        onto=tip,
        task_commit=a.tip,
        message=integration_message(task),
        merge_commit=task.merge_style == MergeStyle.MERGE,
    )
    if isinstance(combined, Conflict):
        return _conflict(a, combined)
    return tip, combined


class _Turn:
    """This process's integrators of one branch take turns (`lock`); `tip` is where the last
    of them found or left the branch."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.tip: str | None = None


_turns: weakref.WeakValueDictionary[tuple[str | None, str], _Turn] = weakref.WeakValueDictionary()
"""One per integration branch this process integrates onto (gone once no task holds it)."""


def _turn(target: integration.IntegrationTarget) -> _Turn:
    return _turns.setdefault((target.remote, target.branch), _Turn())


def turn_key(task: TaskDispatched) -> str:
    """Names the run's integration branch for every replica: its repository and name."""
    return f"{task.repo}\0{task.remote or ''}\0{task.integration_branch}"


@contextlib.asynccontextmanager
async def _our_turn(a: Attempt, turn: _Turn) -> AsyncIterator[None]:
    """This process's turn on the branch, then the replicas' (`Attempt.turns`). Where the
    last holder left the branch, if another replica, replaces what this process knew: a guess
    known to be stale is not pushed. A long wait says so in the task's log."""
    notice = asyncio.create_task(_say_waiting(a))
    asked = time.perf_counter()
    try:
        async with turn.lock, a.turns.hold(turn_key(a.task), a.cancel) as shared:
            notice.cancel()
            integration_turn_waited(str(a.task.mode), time.perf_counter() - asked)
            if shared.tip is not None:
                turn.tip = shared.tip
            try:
                yield
            finally:
                shared.tip = turn.tip
    finally:
        notice.cancel()


WAIT_NOTICE_S = 5.0
"""How long an integrator waits for its turn before its log says it is waiting."""


async def _say_waiting(a: Attempt) -> None:
    await asyncio.sleep(WAIT_NOTICE_S)
    assert a.integration is not None
    branch = a.integration.branch
    await a.report.line("system", f"waiting for the turn to integrate onto {branch}")


def _back_off(race: int) -> float:
    """Seconds to wait after losing the `race`-th compare-and-set: random (the integrators
    that lost together spread out instead of all combining again at once), growing."""
    return random.uniform(0, min(BACK_OFF_MAX_S, BACK_OFF_S * 2**race))


async def _move(
    a: Attempt, turn: _Turn, combined: Combined, tip: str
) -> Outcome | Literal[False] | None:
    """Land `combined` on the branch if it is still at `tip` (the push also deletes the task's
    branch; its lease is the tip this attempt pushed). None: landed; False: lost the race."""
    assert a.integration is not None and a.tip is not None
    if a.cancel.is_set():
        return a.report.failed(FailureCode.CANCELLED, "cancelled before integrating")
    delete = remote_task_branch(a, a.tip if a.pushed else None)
    delete_local = local_task_branch(a)
    target = a.integration
    if await integration.move(
        a.workspace,
        target,
        combined.commit,
        old=tip,
        timeout_s=a.settings.git_timeout_s,
        delete=delete,
        delete_local=delete_local,
    ):
        a.branch_released = delete_local is not None
        turn.tip = combined.commit
        await _landed(a, combined.commit, f"onto {tip[:12]}", parent=tip)
        return None
    integration_race_lost(str(a.task.mode))
    await a.report.line("system", f"{target.branch} moved meanwhile: combining again")
    return False


async def _landed(a: Attempt, commit: str, how: str, *, parent: str | None = None) -> None:
    assert a.integration is not None
    a.integrated = commit
    a.depth = await integration.depth(a.workspace, commit, parent=parent)
    await a.report.progress("integrated", f"{a.integration.branch} at {commit[:12]} ({how})")


AGAIN: Final = "again"
"""A fix round on the combined tree changed the work: put it through the queue again."""


async def _check_on_combined(a: Attempt, combined: Combined) -> Outcome | Literal["again"] | None:
    """The combined tree is not the one verified: check it. None: it may land; AGAIN: a fix
    round changed the task's work, which goes through the queue again; else how it ended."""
    failure = await _check_combined(a, combined)
    if a.cancel.is_set():
        return a.report.failed(FailureCode.CANCELLED, "cancelled during verification")
    if failure is None:
        return None
    if a.fix_rounds < a.task.fix_rounds:
        fixed = await _fix_on_combined(a, combined, failure)
        return fixed if fixed is not None else AGAIN
    return _combined_failed(a, combined.parent, failure)


async def _check_combined(a: Attempt, combined: Combined) -> VerificationFailure | None:
    """The task's checks on the combined tree: None when they pass (or there are none)."""
    if not a.task.verification:
        return None
    await integration.check_out(a.workspace, combined.commit)
    await a.report.line("system", f"verifying the combined tree on {combined.parent[:12]}")
    failure = await run_checks(a)
    if failure is None:
        count = len(a.task.verification)
        await a.report.progress("verified_combined", f"{count} command(s) passed")
    return failure


async def _fix_on_combined(
    a: Attempt, combined: Combined, failure: VerificationFailure
) -> Outcome | None:
    """A fix round on the combination: the task's branch becomes the combined commit, the
    agent fixes it there, and the result is checked and pushed like the task's own work."""
    ws = a.workspace
    await integration.start_task_branch(ws, ws.branch, combined.commit)
    a.base = a.start_tip = combined.parent
    if a.pushed:
        a.remote_tip = a.tip  # the push below replaces what this attempt pushed before
    a.tip, a.recovered = combined.commit, False
    outcome = await fix_round(a, failure, combined=True)
    if outcome is None:
        outcome = await checked(
            a, exhausted=lambda a, failure: _combined_failed(a, combined.parent, failure)
        )
    if outcome is None:
        outcome = await push(a)
    return outcome


def _combined_failed(a: Attempt, onto: str, failure: VerificationFailure) -> Outcome:
    """The combination fails its checks and no fix round is left: re-run from the tip."""
    task = a.task
    rework = Rework(
        round=next_round(task),
        after_attempt=task.attempt,
        reason="combined_checks",
        command=failure.command,
        output=failure.reason,
        onto=onto,
    )
    message = f"passes alone but fails on the integration branch: {failure.message()}"
    return a.report.failed(FailureCode.VERIFICATION_FAILED, message, rework=rework)


def _conflict(a: Attempt, conflict: Conflict) -> Outcome:
    task = a.task
    rework = Rework(
        round=next_round(task),
        after_attempt=task.attempt,
        reason="conflict",
        files=conflict.files,
        onto=conflict.onto,
    )
    shown = ", ".join(conflict.files[:20]) + (" …" if len(conflict.files) > 20 else "")
    message = f"its changes clash with the integration branch at {conflict.onto[:12]} in: {shown}"
    return a.report.failed(FailureCode.MERGE_CONFLICT, message, rework=rework)
