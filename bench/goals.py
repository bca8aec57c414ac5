"""Where each standing goal stands: read from the rows of the same run (each row says which
goal it is read for, `Row.goal`); a goal whose benchmark did not run is "not measured"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.latency import RATE_REACHED
from bench.report import Row

Reading = tuple[str, bool]
"""The figure as shown, and whether it meets the goal."""


@dataclass(frozen=True)
class Goal:
    key: str
    what: str
    benchmark: str
    goal: str
    read: Callable[[dict[str, Row]], Reading | None]
    """The figure from the rows by goal key; None when a row it needs has no figure."""


def _ratio(
    key: str, *, at_most: float | None = None, at_least: float | None = None
) -> Callable[[dict[str, Row]], Reading | None]:
    def read(rows: dict[str, Row]) -> Reading | None:
        ratio = rows[key].ratio
        if ratio is None:
            return None
        met = (at_most is None or ratio <= at_most) and (at_least is None or ratio >= at_least)
        return f"{ratio:.2f}", met

    return read


def _p99(rows: dict[str, Row]) -> Reading | None:
    p99, rate = rows["P5"], rows.get("P5 rate")
    if not p99.ours:
        return None
    if rate is None or not rate.ours or not rate.baseline:
        return f"{p99.ours.median:.2f} ms", p99.ours.median <= 10
    # A p99 measured at a lower rate than asked says nothing about 5,000/s.
    reached = rate.ours.median >= RATE_REACHED * rate.baseline.median
    shown = f"{p99.ours.median:.2f} ms at {rate.ours.median:,.0f} events/s"
    return shown, p99.ours.median <= 10 and reached


def _view_growth(rows: dict[str, Row]) -> Reading | None:
    latency, size = rows["G4 latency"].ratio, rows["G4 size"].ratio
    if latency is None or size is None:
        return None
    return f"latency {latency:.2f}x, size {size:.2f}x", latency <= size


GOALS = (
    Goal(
        "P1",
        "per-task overhead against a bare git loop",
        "1",
        "≤ 1.15",
        _ratio("P1", at_most=1.15),
    ),
    Goal(
        "P2",
        "dispatch against raw one-at-a-time publishing (fsync always)",
        "2",
        "≥ 0.8",
        _ratio("P2", at_least=0.8),
    ),
    Goal(
        "P3",
        "scaling efficiency at 4 replicas x 2 slots",
        "4",
        "≥ 0.95",
        _ratio("P3", at_least=0.95),
    ),
    Goal(
        "P4",
        "run view against a bare litestar endpoint (requests/s)",
        "5",
        "≥ 0.6",
        _ratio("P4", at_least=0.6),
    ),
    Goal(
        "P5",
        "status fan-out: 5,000 events/s to 100 SSE clients, p99",
        "3",
        "≤ 10 ms",
        _p99,
    ),
    Goal(
        "G1",
        "growth: wall time per task, largest N ÷ smallest",
        "10",
        "≤ 1.1",
        _ratio("G1", at_most=1.1),
    ),
    Goal(
        "G2",
        "growth: planner CPU per task, largest N ÷ smallest",
        "10",
        "≤ 1.1",
        _ratio("G2", at_most=1.1),
    ),
    Goal(
        "G3",
        "growth: bytes written to NATS per task, largest N ÷ smallest",
        "10",
        "≤ 1.1",
        _ratio("G3", at_most=1.1),
    ),
    Goal(
        "G4",
        "growth: run view latency, largest N ÷ smallest, beside its response size's",
        "10",
        "latency ≤ size",
        _view_growth,
    ),
)


def standing(rows: list[Row]) -> str:
    """The markdown table of every goal: figure, goal, met or not."""
    tagged = {row.goal: row for row in rows if row.goal}
    lines = [
        "| | goal of | benchmark | figure | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    for goal in GOALS:
        reading = None
        try:
            reading = goal.read(tagged)
        except KeyError:  # a row it needs is not in this run
            reading = None
        figure, met = (
            ("not measured", "-")
            if reading is None
            else (
                reading[0],
                "yes" if reading[1] else "no",
            )
        )
        lines.append(
            f"| {goal.key} | {goal.what} | {goal.benchmark} | {figure} | {goal.goal} | {met} |"
        )
    return "\n".join(lines)
