"""How benchmark 3's figures are read for P5, and what one status event cost the machine."""

from __future__ import annotations

from bench.cpu_budget import Spent, shares
from bench.goals import standing
from bench.latency import Fanout, rows_from


def _measured(p99: float, rate: float, cpu_ms: float = 1.2) -> dict[str, float]:
    return {
        "sse p50": p99 / 2,
        "sse p99": p99,
        "raw p50": p99 / 3,
        "raw p99": p99 / 2,
        "rate": rate,
        "reader_cpu": 0.1,
        "cpu ms": cpu_ms,
        "cpu ms gateway": 0.3,
        "cpu ms nats-server": 0.3,
        "cpu ms rest": 0.6,
    }


def _p5_line(p99: float, rate: float) -> str:
    rows = rows_from({Fanout(5000, 100, 2): [_measured(p99, rate)] * 3})
    return next(line for line in standing(rows).splitlines() if line.startswith("| P5 |"))


def test_p5_is_met_only_at_the_rate_asked() -> None:
    assert _p5_line(8.0, 4990).endswith("| yes |")
    assert "8.00 ms at 4,990 events/s" in _p5_line(8.0, 4990)
    # a low p99 measured at a third of the rate says nothing about 5,000/s
    assert _p5_line(8.0, 1600).endswith("| no |")
    assert _p5_line(11.0, 5000).endswith("| no |")


def test_a_saturated_machine_shows_the_rate_its_cores_carry() -> None:
    short = rows_from({Fanout(5000, 100, 2): [_measured(90.0, 1600, cpu_ms=1.25)]})
    ceiling = [row for row in short if row.measure.startswith("events/s the machine")]
    assert len(ceiling) == 1
    assert ceiling[0].ours.median < 5000
    assert "gateway 0.30" in next(r.note for r in short if r.measure.startswith("CPU time"))
    # a publisher that got the rate through was not held back: no ceiling to show
    reached = rows_from({Fanout(500, 1, 5): [_measured(5.0, 499)]})
    assert not [row for row in reached if row.measure.startswith("events/s the machine")]


def test_the_rest_of_the_machine_is_what_no_watched_process_spent() -> None:
    spent = Spent({"gateway": 0.6, "nats-server": 0.4}, machine_s=1.5)
    assert shares(spent, per=0.5) == {"gateway": 1.2, "rest": 1.0, "nats-server": 0.8}
    assert shares(Spent({"gateway": 0.6}, machine_s=None), per=1.0) == {"gateway": 0.6}
