"""Supervision (issue 4, item 6): the stack `commandcenter up` runs restarts a service process
that dies, with backoff, and says so in its output; nobody has to notice the crash."""

from __future__ import annotations

import re

import pytest

from tests.faults.harness import Bus, FaultStack, batch_of, process_alive
from tests.faults.report import FaultReport
from tests.support.polling import eventually

pytestmark = [pytest.mark.faults, pytest.mark.integration]

EXITED = re.compile(r"^supervisor: planner exited with code (-?\d+); restarting in (\d+)s")
RESTARTED = re.compile(r"^supervisor: planner restarted \(restart #(\d+)\)")


async def test_a_killed_service_is_restarted_with_backoff_and_reported(
    fault_stack: FaultStack, bus: Bus, fault: FaultReport
) -> None:
    fault.scenario(
        "8. supervision: a service process dies",
        injected="SIGKILL to the planner, and again as soon as it was restarted",
    )
    fs = fault_stack
    said_from = len(fs.said)

    def reports(pattern: re.Pattern[str]) -> list[re.Match[str]]:
        return [m for m in map(pattern.match, fs.said[said_from:]) if m]

    first_pid = fs.kill("planner")
    second_pid = await fs.wait_restarted("planner", first_pid)
    # Killed again at once: a crash loop restarts later and later.
    fs.kill("planner")
    third_pid = await fs.wait_restarted("planner", second_pid)
    await eventually(
        lambda: len(reports(RESTARTED)) == 2, within_s=10, what="two restarts reported"
    )

    exits = reports(EXITED)
    assert [m.group(1) for m in exits] == ["-9", "-9"], fs.said
    delays = [int(m.group(2)) for m in exits]
    assert delays[0] >= 1 and delays[1] > delays[0], f"no backoff: {fs.said}"
    assert [m.group(1) for m in reports(RESTARTED)] == ["1", "2"], fs.said
    assert process_alive(third_pid)

    # Nobody intervened, and the restarted planner carries a run through.
    run_id, base = await fs.start_run([batch_of(1, 2), batch_of(2, 1)], sleep_s=0.2)
    summary = await bus.run_succeeded(run_id, base)
    fs.assert_work_of_last_agent(summary.commits)
    fault.note(
        "both restarts reported in the stack's output (`supervisor: planner exited with code "
        f"-9; restarting in Ns`, then `… restarted (restart #n)`), delays {delays} s; a run "
        "started afterwards succeeded"
    )
