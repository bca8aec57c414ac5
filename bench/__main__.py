"""`python -m bench` (`make bench`): run the benchmarks, write `results.md`, `results.png` and
`results.json`, and print the table. `--quick` is a smoke run with tiny N (not a measurement).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from bench import (
    dispatch,
    failover,
    gateway_load,
    growth,
    integration,
    latency,
    orchestration,
    replication,
    scaling,
)
from bench.chart import render_curves, write_chart
from bench.context import Context
from bench.goals import standing
from bench.machine import describe_machine, load_average, wait_for_quiet
from bench.report import Row, markdown_table, results_markdown

RESULTS_DIR = Path(__file__).resolve().parent / "results"
ALL = ("1", "2", "3", "4", "5", "7", "8", "9", "10")
"""Benchmark 6 (memory) is measured during benchmark 1."""
SETTLE_BUDGET_S = 120.0
"""How long a whole run may wait for other work on the machine to calm down."""


@dataclass(frozen=True)
class Plan:
    orchestration: orchestration.Config
    dispatch: dispatch.Config
    latency: latency.Config
    scaling: scaling.Config
    gateway: gateway_load.Config
    integration: integration.Config
    replication: replication.Config
    failover: failover.Config
    growth: growth.Config


def full_plan(repeat: int) -> Plan:
    return Plan(
        orchestration=orchestration.Config(tasks=100, repeat=repeat),
        dispatch=dispatch.Config(tasks=5000, repeat=repeat),
        latency=latency.Config(
            fanouts=(latency.Fanout(500, 1, 5), latency.Fanout(5000, 100, 2)),
            repeat=repeat,
            burst=5000,
        ),
        scaling=scaling.Config(tasks=16, replicas=(1, 2, 4), repeat=repeat),
        # Twice as many repetitions and one more: a second or two each, and the ratio swings
        # with the machine (0.58-0.84 in runs of one build at 3).
        gateway=gateway_load.Config(
            run_tasks=10, requests=3000, concurrency=8, repeat=2 * repeat + 1
        ),
        integration=integration.Config(tasks=30, repeat=repeat),
        replication=replication.Config(tasks=5000, rate=500, seconds=5, repeat=repeat),
        failover=failover.Config(tasks=30, kill_after=5, repeat=repeat),
        # One run per N whatever --repeat says: 3,050 tasks are 15 minutes or more of runs.
        # The smallest N, every ratio's denominator, five times (see bench/README.md).
        growth=growth.Config(
            sizes=(50, 200, 800, 2000), batch_size=10, view_requests=50, smallest_runs=5
        ),
    )


def quick_plan(repeat: int) -> Plan:
    return Plan(
        orchestration=orchestration.Config(tasks=5, repeat=repeat),
        dispatch=dispatch.Config(tasks=200, repeat=repeat),
        latency=latency.Config(
            fanouts=(latency.Fanout(500, 1, 1), latency.Fanout(1000, 30, 1)),
            repeat=repeat,
            burst=300,
        ),
        scaling=scaling.Config(tasks=4, replicas=(1, 2), repeat=repeat),
        gateway=gateway_load.Config(run_tasks=3, requests=200, concurrency=4, repeat=repeat),
        integration=integration.Config(tasks=3, repeat=repeat),
        replication=replication.Config(tasks=200, rate=500, seconds=1, repeat=repeat),
        failover=failover.Config(tasks=8, kill_after=2, repeat=repeat, ack_wait_s=5),
        growth=growth.Config(sizes=(4, 12), batch_size=4, view_requests=10, smallest_runs=2),
    )


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="smoke run with tiny N (about a minute and a half)"
    )
    parser.add_argument(
        "--repeat", type=int, default=None, help="repetitions per figure (default 3; quick 1)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"where to write the results (default {RESULTS_DIR}; --quick: a new temp folder)",
    )
    parser.add_argument(
        "--only",
        default=",".join(ALL),
        help="comma-separated benchmarks to run (1-5, 7-10; 6, memory, comes with 1)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the working folder (stacks, logs, repos)"
    )
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    unknown = set(args.only.split(",")) - set(ALL)
    if unknown:
        parser.error(f"--only: unknown benchmark(s) {', '.join(sorted(unknown))}")
    return args


@dataclass
class Outcome:
    rows: list[Row] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    cpu_before: dict[str, float] = field(default_factory=dict)
    """How busy the CPUs were (with other work) when each benchmark started."""


def run_benchmarks(plan: Plan, selected: list[str], ctx: Context, *, quick: bool) -> Outcome:
    benchmarks: list[tuple[str, str, Callable[[Context], list[Row]]]] = [
        (
            "1",
            "orchestration overhead (+ 6, memory)",
            partial(orchestration.run, plan.orchestration),
        ),
        ("2", "dispatch throughput", partial(dispatch.run, plan.dispatch)),
        ("3", "status latency", partial(latency.run, plan.latency)),
        ("4", "scaling efficiency", partial(scaling.run, plan.scaling)),
        ("5", "gateway requests/s", partial(gateway_load.run, plan.gateway)),
        ("7", "integration cost per task", partial(integration.run, plan.integration)),
        ("8", "R3 against R1", partial(replication.run, plan.replication)),
        ("9", "failover time", partial(failover.run, plan.failover)),
        ("10", "growth with N", partial(growth.run, plan.growth)),
    ]
    outcome = Outcome()
    for number, title, bench in benchmarks:
        if number not in selected:
            continue
        if number == "4" and not scaling.available():
            outcome.skipped.append("4 scaling: `executor_dagger` is not installed")
            say(f"[{number}] {title}: skipped, executor_dagger is not installed")
            continue
        if not quick:
            busy = wait_for_quiet()
            if busy is not None:
                outcome.cpu_before[number] = busy
                say(f"[{number}] CPUs {busy:.0%} busy before it starts")
        say(f"[{number}] {title} ...")
        t0 = time.monotonic()
        try:
            outcome.rows.extend(bench(ctx))
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            first_line = (str(exc).strip().splitlines() or [""])[0]
            outcome.failures.append(f"{number} {title}: {type(exc).__name__}: {first_line}")
            say(traceback.format_exc())
        say(f"[{number}] done in {time.monotonic() - t0:.0f} s")
    outcome.failures += ctx.failures
    outcome.rows.sort(key=lambda row: int(row.bench.split()[0]))
    return outcome


def settler(quick: bool) -> Callable[[], None]:
    """`Context.settle`: up to 20 s per measurement, SETTLE_BUDGET_S in all (on a machine
    that stays busy the run goes on, and its min-max shows it); nothing in a quick run."""
    budget = [SETTLE_BUDGET_S]

    def settle() -> None:
        if quick or budget[0] <= 0:
            return
        t0 = time.monotonic()
        wait_for_quiet(limit_s=min(20.0, budget[0]), window_s=0.5)
        budget[0] -= time.monotonic() - t0

    return settle


def notes_of(outcome: Outcome, problems: list[str]) -> list[str]:
    notes = [f"- skipped: {s}" for s in outcome.skipped]
    notes += [f"- FAILED: {f}" for f in outcome.failures]
    if outcome.cpu_before:
        busy = ", ".join(f"{n}: {b:.0%}" for n, b in sorted(outcome.cpu_before.items()))
        notes.append(
            f"- CPUs busy (other work) just before each benchmark started: {busy} "
            "(each waits up to 45 s for < 25 %)"
        )
    if problems:
        notes.append(f"- tracebacks in the services' logs during the run: {len(problems)}")
        notes += [f"\n```\n{p.strip()}\n```" for p in problems[:5]]
    return notes


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 3)
    plan = quick_plan(repeat) if args.quick else full_plan(repeat)
    out: Path = args.out or (
        Path(tempfile.mkdtemp(prefix="cc-bench-results-")) if args.quick else RESULTS_DIR
    )
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="cc-bench-"))
    machine = describe_machine()
    say(f"machine: {machine.describe()}")
    say(f"working folder: {work}")

    ctx = Context(root=work, say=say, settle=settler(args.quick))
    started, load_before = time.monotonic(), load_average()
    outcome = Outcome()
    try:
        outcome = run_benchmarks(plan, args.only.split(","), ctx, quick=args.quick)
    finally:
        if args.keep or outcome.failures:
            say(f"kept the working folder {work} (service logs in */logs/)")
        else:
            shutil.rmtree(work, ignore_errors=True)
    elapsed = time.monotonic() - started
    load = (load_before, load_average())

    command = " ".join(["python -m bench", *argv])
    notes = notes_of(outcome, ctx.problems)
    goals = standing(outcome.rows)
    text = results_markdown(
        outcome.rows,
        goals,
        machine,
        command=command,
        repeat=repeat,
        elapsed_s=elapsed,
        quick=args.quick,
        load=load,
    )
    if notes:
        text += "\n## Notes from this run\n\n" + "\n".join(notes) + "\n"
    (out / "results.md").write_text(text)
    document = {
        "machine": machine.as_dict(),
        "command": command,
        "repeat": repeat,
        "quick": args.quick,
        "elapsed_s": elapsed,
        "load_average_before_after": load,
        "cpu_busy_before": outcome.cpu_before,
        "rows": [row.as_dict() for row in outcome.rows],
        "skipped": outcome.skipped,
        "failures": outcome.failures,
        "problems": ctx.problems,
        "curves": {name: [c.as_dict() for c in curves] for name, curves in ctx.curves.items()},
    }
    (out / "results.json").write_text(json.dumps(document, indent=2))
    if outcome.rows:
        write_chart(outcome.rows, machine.describe(), out / "results.png")
    for name, curves in ctx.curves.items():
        title = "COMMANDCENTER GROWTH: ONE RUN PER N, EACH ON A FRESH STACK"
        x_label = "N: TASKS IN THE RUN (LOG SCALE)"
        png = render_curves(curves, title, machine.describe(), x_label)
        (out / name).write_bytes(png)
    print(goals)
    print()
    print(markdown_table(outcome.rows))
    for note in notes:
        print(note)
    say(f"results in {out} (the suite took {elapsed / 60:.1f} min)")
    return 1 if outcome.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
