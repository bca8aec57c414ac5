"""The verify step: the task's verification commands on the task's own tree."""

from __future__ import annotations

from commandcenter_contracts import FailureCode

from cc_taskrunner.attempt import Attempt
from cc_taskrunner.reporting import Outcome
from cc_taskrunner.verification import run_verification


async def verify(a: Attempt) -> Outcome | None:
    task = a.task
    if a.recovered or not task.verification:
        return None
    failure = await run_verification(
        task.verification,
        workspace=a.workspace,
        log=a.report.log,
        timeout_s=a.settings.verification_timeout_s,
        cancel=a.cancel,
    )
    if a.cancel.is_set():
        return a.report.failed(FailureCode.CANCELLED, "cancelled during verification")
    if failure is not None:
        return a.report.failed(FailureCode.VERIFICATION_FAILED, failure.message())
    await a.report.progress("verified", f"{len(task.verification)} command(s) passed")
    return None
