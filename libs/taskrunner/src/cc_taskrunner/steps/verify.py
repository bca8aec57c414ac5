"""The verify step: the task's verification commands on the task's own tree, with fix rounds.

A failed check sends the agent back (`fix_round`): it is told which command failed, its exit
status and the tail of its output, its session is continued, its new work committed, and the
checks run again — up to the task's `fix_rounds` times (0: none). Only then does the task
fail VERIFICATION_FAILED. All of it is one attempt.
"""

from __future__ import annotations

from collections.abc import Callable

from commandcenter_contracts import FailureCode

from cc_taskrunner.attempt import Attempt
from cc_taskrunner.ports import FixRound
from cc_taskrunner.reporting import Outcome
from cc_taskrunner.steps.agent import run_agent
from cc_taskrunner.steps.commit import commit
from cc_taskrunner.verification import VerificationFailure, run_verification


async def verify(a: Attempt) -> Outcome | None:
    if a.recovered or not a.task.verification:
        return None
    return await checked(a, exhausted=_failed)


def _failed(a: Attempt, failure: VerificationFailure) -> Outcome:
    return a.report.failed(FailureCode.VERIFICATION_FAILED, failure.message())


async def checked(
    a: Attempt, *, exhausted: Callable[[Attempt, VerificationFailure], Outcome]
) -> Outcome | None:
    """Run the checks, sending the agent back while fix rounds are left; `exhausted` makes the
    outcome of a check that still fails after the last round."""
    task = a.task
    while True:
        failure = await run_checks(a)
        if a.cancel.is_set():
            return a.report.failed(FailureCode.CANCELLED, "cancelled during verification")
        if failure is None:
            await a.report.progress("verified", f"{len(task.verification)} command(s) passed")
            return None
        if a.fix_rounds >= task.fix_rounds:
            return exhausted(a, failure)
        sent_back = await fix_round(a, failure, combined=False)
        if sent_back is not None:
            return sent_back


async def run_checks(a: Attempt) -> VerificationFailure | None:
    return await run_verification(
        a.task.verification,
        workspace=a.workspace,
        log=a.report.log,
        timeout_s=a.settings.verification_timeout_s,
        cancel=a.cancel,
    )


async def fix_round(a: Attempt, failure: VerificationFailure, *, combined: bool) -> Outcome | None:
    """Send the agent back to fix `failure`, then commit what it did."""
    a.fix_rounds += 1
    fix = FixRound(
        number=a.fix_rounds,
        command=failure.command,
        failure=failure.reason,
        combined=combined,
        session_id=a.session_id,
    )
    where = "on the integration branch" if combined else ""
    await a.report.progress(
        "fix_round",
        f"`{failure.command}` failed{' ' + where if where else ''}: the agent fixes it "
        f"(round {fix.number} of {a.task.fix_rounds})",
        fix_round=fix.number,
    )
    await a.report.line("system", f"fix round {fix.number}: {failure.message()}")
    outcome = await run_agent(a, fix)
    if outcome is not None:
        return outcome
    return await commit(a)
