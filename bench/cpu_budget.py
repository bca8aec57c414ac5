"""Where the CPU goes while a benchmark works: each of the stack's processes, and the machine.

    watch = CpuWatch.of(stack)
    before = watch.snapshot()
    ...                                   # the work, and everything it sets off
    spent = watch.since(before)           # CPU seconds per process name, and the machine's

A process's figure is its own user + system time (psutil); what the processes it started and
waited for spent (an executor's git and agents) is beside it, as `<name> (processes it
started)`. PostgreSQL's is the sum over the postmaster and its children alive at both ends
(a backend that came and went in between is missed: the stack's pools keep theirs). The
machine's figure is every process's time from /proc/stat, benchmark harness included: the rest
is what neither the stack's services (nor what they started) nor PostgreSQL spent (the
harness, the kernel, anything else running).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import psutil
from commandcenter.stack import Stack

from bench.machine import busy_cpu_seconds
from bench.stats import Sample

POSTGRES = "postgresql"
STARTED = " (processes it started)"
"""Suffix of the entry for what a process's finished children spent (git, agents)."""


@dataclass(frozen=True)
class Snapshot:
    processes: dict[str, float]
    machine_s: float | None


@dataclass(frozen=True)
class Spent:
    processes: dict[str, float]
    """CPU seconds per process name (PostgreSQL: all its processes)."""
    machine_s: float | None
    """CPU seconds of the whole machine (None where /proc has none)."""


@dataclass(frozen=True)
class CpuWatch:
    pids: dict[str, int]
    postgres_data_dir: Path | None = None

    @classmethod
    def of(cls, stack: Stack) -> CpuWatch:
        pids = {sup.spec.name: sup.process.pid for sup in stack.services if sup.process}
        if stack.nats is not None and stack.nats.process is not None:
            pids["nats-server"] = stack.nats.process.pid
        pg_dir = stack.postgres.data_dir if stack.postgres is not None else None
        return cls(pids, pg_dir)

    def snapshot(self) -> Snapshot:
        seconds: dict[str, float | None] = {}
        for name, pid in self.pids.items():
            seconds[name], seconds[name + STARTED] = _cpu_s(pid)
        if self.postgres_data_dir is not None:
            seconds[POSTGRES] = _postgres_cpu_s(self.postgres_data_dir)
        return Snapshot({k: v for k, v in seconds.items() if v is not None}, busy_cpu_seconds())

    def since(self, before: Snapshot) -> Spent:
        now = self.snapshot()
        processes = {
            name: now.processes[name] - was
            for name, was in before.processes.items()
            if name in now.processes
        }
        machine = (
            None
            if now.machine_s is None or before.machine_s is None
            else now.machine_s - before.machine_s
        )
        return Spent(processes, machine)


def _cpu_s(pid: int) -> tuple[float | None, float | None]:
    """The process's own CPU seconds, and its finished children's."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None, None
    return float(times.user + times.system), float(times.children_user + times.children_system)


def _postgres_cpu_s(data_dir: Path) -> float | None:
    try:
        postmaster = psutil.Process(int((data_dir / "postmaster.pid").read_text().split()[0]))
        members = [postmaster, *postmaster.children(recursive=True)]
    except (OSError, ValueError, IndexError, psutil.Error):
        return None
    total = 0.0
    for member in members:
        with contextlib.suppress(psutil.Error):
            times = member.cpu_times()
            total += times.user + times.system
    return total


def median_split(splits: list[dict[str, float]]) -> dict[str, float]:
    """Each process's median over repetitions' splits (0 where one lacks it), largest first."""
    names = sorted({name for split in splits for name in split})
    medians = {name: Sample([split.get(name, 0.0) for split in splits]).median for name in names}
    return dict(sorted(medians.items(), key=lambda item: -item[1]))


def describe_split(split: dict[str, float], *, decimals: int, least: float) -> str:
    """`name figure, …` in `split`'s order, leaving out figures under `least`."""
    return ", ".join(f"{name} {v:.{decimals}f}" for name, v in split.items() if v >= least)


def shares(spent: Spent, per: float) -> dict[str, float]:
    """Each process's CPU ÷ `per` (e.g. ms per event), the rest of the machine as `rest`;
    largest first."""
    out = {name: s / per for name, s in spent.processes.items()}
    if spent.machine_s is not None:
        out["rest"] = max(0.0, spent.machine_s - sum(spent.processes.values())) / per
    return dict(sorted(out.items(), key=lambda item: -item[1]))
