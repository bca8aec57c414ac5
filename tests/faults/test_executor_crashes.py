"""The local executor dies (`kill -9`) at the worst moments of a task: while its agent runs,
after the commit (before the push), and after the push (before the outcome and the ack).

JetStream hands the unacked task to the restarted executor after `ack_wait`; the redelivery must
end in one outcome and one commit, made of the redelivered agent's work only: an agent (or a
process it spawned) left behind by the dead executor must not reach the new attempt's checkout.
"""

from __future__ import annotations

import pytest
from commandcenter_contracts import RunPlanned, TaskProgress

from tests.faults.harness import (
    Behaviour,
    Bus,
    FaultStack,
    StatusWatch,
    batch_of,
    count,
    of_type,
    process_alive,
)
from tests.faults.report import FaultReport
from tests.support.polling import eventually

pytestmark = [pytest.mark.faults, pytest.mark.integration]

EXECUTOR = "executor-local-1"


async def test_executor_killed_while_its_agent_runs(
    fault_stack: FaultStack, bus: Bus, fault: FaultReport
) -> None:
    fault.scenario(
        "1. `kill -9` the local executor while its agent runs",
        injected="SIGKILL to executor-local-1 as soon as task 1.1's agent has started",
    )
    fs = fault_stack
    run_id, base = await fs.start_run([batch_of(1, 2)], sleep_s=0.2, per_task={"1.1": 3})
    first = await fs.agent_started("1.1")
    old_pid = fs.kill(EXECUTOR)
    try:
        await eventually(lambda: not process_alive(first.pid), within_s=3, what="the agent gone")
        orphan_survived = False
    except AssertionError:
        orphan_survived = True
    await fs.wait_restarted(EXECUTOR, old_pid)

    summary = await bus.run_succeeded(run_id, base)

    # The fault hit: task 1.1 was delivered twice and its agent ran twice, the second time in
    # a new worktree, while 1.2 ran once.
    runs = fs.agents_of("1.1")
    assert len(runs) == 2, runs
    assert summary.deliveries == {"1.1": 2, "1.2": 1}
    fs.assert_work_of_last_agent(summary.commits)
    orphan = next(m for m in runs if m.pid == first.pid)
    discarded = "removing stale worktree" in fs.log_text(EXECUTOR)
    fault.note(
        f"task 1.1 delivered twice, one commit; the first agent (own session) "
        f"{'survived' if orphan_survived else 'died with'} the executor"
        + (" and ran to its end as an orphan" if orphan.done else "")
        + ("; the redelivery discarded its worktree" if discarded else "")
    )


async def test_an_orphaned_agent_dies_with_its_executor(
    fault_stack: FaultStack, bus: Bus, fault: FaultReport
) -> None:
    fault.scenario(
        "1b. `kill -9` the local executor; its agent must not outlive it into the redelivery",
        injected="SIGKILL to executor-local-1 while task 1.1's agent runs; that agent (own "
        "session) would write its file (absolute path) once the redelivered agent has started",
    )
    fs = fault_stack
    behaviour = {
        "1.1#1": Behaviour(await_delivery=2, before=0.5),  # the one that would be orphaned
        "1.1#2": Behaviour(after=3),
    }
    run_id, base = await fs.start_run([batch_of(1, 2)], sleep_s=0.2, per_task=behaviour)
    first = await fs.agent_started("1.1")
    old_pid = fs.kill(EXECUTOR)
    # Agents die with their executor (PR_SET_PDEATHSIG), before any redelivery.
    await eventually(
        lambda: not process_alive(first.pid), within_s=10, what="the agent gone with it"
    )
    await fs.wait_restarted(EXECUTOR, old_pid)
    summary = await bus.run_succeeded(run_id, base)
    runs = fs.agents_of("1.1")
    assert len(runs) == 2 and runs[0].pid == first.pid, runs
    orphan, redelivered = runs
    assert not orphan.done, "the first agent finished its work after its executor died"
    fs.assert_work_of_last_agent(summary.commits)
    fault.note(
        f"the first agent ({orphan.pid}) died with its executor and never wrote; the "
        f"redelivered agent ({redelivered.pid}) ran in a worktree of its own and the pushed "
        "commit holds its file (before the fix the orphan's late write landed in the "
        "redelivery's worktree, at the same path, and was committed)"
    )


async def test_an_orphaned_child_of_the_agent_outlives_the_redelivery(
    fault_stack: FaultStack, bus: Bus, fault: FaultReport
) -> None:
    fault.scenario(
        "1c. `kill -9` the local executor; a child of its agent outlives the redelivery",
        injected="SIGKILL to executor-local-1 while task 1.1's agent runs; a child the agent "
        "forked (a grandchild of the executor, out of PR_SET_PDEATHSIG's reach) writes the "
        "agent's file, by absolute path, once the redelivered agent has started",
    )
    fs = fault_stack
    behaviour = {
        # The first delivery's agent idles; its child waits for the redelivery, then writes.
        "1.1#1": Behaviour(detach=True, await_delivery=2, before=0.5, after=60),
        "1.1#2": Behaviour(after=3),  # writes at once, then lingers: the late write lands first
    }
    run_id, base = await fs.start_run([batch_of(1, 2)], sleep_s=0.2, per_task=behaviour)
    await eventually(
        lambda: list(fs.marks.glob("1.1.*.child")), within_s=60, what="the agent forked"
    )
    old_pid = fs.kill(EXECUTOR)
    await fs.wait_restarted(EXECUTOR, old_pid)
    summary = await bus.run_succeeded(run_id, base)

    runs = fs.agents_of("1.1")
    assert len(runs) == 2, runs
    orphan, redelivered = runs
    # The fault hit: the orphaned child tried its write after the redelivered agent started.
    assert orphan.done and orphan.done_ns > redelivered.started_ns, (orphan, redelivered)
    fs.assert_work_of_last_agent(summary.commits)
    fault.note(
        "the orphaned child's late write did not reach the redelivered attempt's commit "
        f"(it {orphan.wrote.split(':')[0].replace(str(fs.root), '…')})"
    )


async def test_executor_killed_after_the_commit_before_the_push(
    fault_stack: FaultStack, bus: Bus, fault: FaultReport
) -> None:
    fault.scenario(
        "2a. `kill -9` the local executor after the commit, before the push",
        injected="SIGKILL to executor-local-1 on task 1.1's `committed` progress event "
        "(its verification then takes 3 s)",
    )
    fs = fault_stack
    watch = await StatusWatch().open(fs.nats_url)
    killed: list[int] = []
    watch.once(
        lambda e: of_type("task.progress", step="committed")(e) and _plan_task(watch, e) == "1.1",
        lambda _e: killed.append(fs.kill(EXECUTOR)),
    )
    try:
        run_id, base = await fs.start_run([batch_of(1, 2)], slow_checks={"1.1": 3})
        await eventually(lambda: killed, within_s=60, what="the executor killed after the commit")
        await fs.wait_restarted(EXECUTOR, killed[0])
        summary = await bus.run_succeeded(run_id, base)
    finally:
        await watch.close()
    committed = watch.fired[0]
    assert isinstance(committed, TaskProgress)

    assert summary.deliveries == {"1.1": 2, "1.2": 1}
    fs.assert_work_of_last_agent(summary.commits)
    fault.note(
        f"first delivery committed ({committed.message}) and died; the redelivery reset the branch "
        f"to the base, redid the work and pushed one commit ({summary.commits['1.1'][:12]})"
    )


async def test_executor_killed_after_the_push_before_the_ack(
    fault_stack: FaultStack, bus: Bus, fault: FaultReport
) -> None:
    fault.scenario(
        "2b. `kill -9` the local executor after the push, before the outcome and the ack",
        injected="a post-receive hook on the bare remote holds task 1.1's push for 4 s after "
        "the ref is updated; SIGKILL to executor-local-1 then",
    )
    fs = fault_stack
    held = fs.marks / "push-held"
    fs.install_hook(
        "post-receive",
        "import pathlib, sys, time\n"
        f"held = pathlib.Path({str(held)!r})\n"
        "lines = sys.stdin.read().splitlines()\n"
        "# a task branch's own push: one ref (the integration push also deletes one)\n"
        "task = len(lines) == 1 and '/cc/' in lines[0] and not lines[0].endswith('/integration')\n"
        "if task and not held.exists():\n"
        "    held.write_text(lines[0])\n"
        "    time.sleep(4)\n",
    )
    watch = await StatusWatch().open(fs.nats_url)
    try:
        run_id, base = await fs.start_run([batch_of(1, 2)])
        refs = await eventually(
            lambda: held.read_text() if held.exists() else None,
            within_s=60,
            what="task 1.1's push on the remote",
        )
        old_pid = fs.kill(EXECUTOR)
        branch = refs.split()[2].removeprefix("refs/heads/")
        pushed_commit = refs.split()[1]
        # The kill came after the push and before the outcome: the task is not finished.
        assert fs.sandbox.commits_between(base, branch) == [pushed_commit]
        assert not watch.matching(of_type("task.succeeded"))
        await fs.wait_restarted(EXECUTOR, old_pid)
        summary = await bus.run_succeeded(run_id, base)
    finally:
        await watch.close()

    assert summary.deliveries == {"1.1": 2, "1.2": 1}
    fs.assert_work_of_last_agent(summary.commits)
    recognised = count(watch.seen, of_type("task.progress", step="already_done"))
    same = summary.commits["1.1"] == pushed_commit
    fault.note(
        "task 1.1 delivered twice, one commit; the redelivery "
        + (
            "recognised the pushed commit (`already_done`) and reported it"
            if recognised and same
            else f"redid the work (already_done events: {recognised})"
        )
    )


def _plan_task(watch: StatusWatch, event: object) -> str | None:
    """The plan task id (`1.1`) of a task event, from the run's `run.planned` event."""
    task_id = getattr(event, "task_id", None)
    for planned in watch.seen:
        if not isinstance(planned, RunPlanned):
            continue
        for batch in planned.batches:
            for task in batch.tasks:
                if task.task_id == task_id:
                    return str(task.plan_task_id)
    return None
