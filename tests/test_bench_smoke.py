"""`python -m bench --quick` still runs every benchmark (a smoke run: nothing here is timed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]


def test_the_quick_benchmark_run_produces_every_figure(tmp_path: Path) -> None:
    result = subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for name in ("results.md", "results.png", "results.json", "growth.png"):
        assert (tmp_path / name).stat().st_size > 0
    for chart in ("results.png", "growth.png"):
        assert (tmp_path / chart).read_bytes().startswith(b"\x89PNG"), chart
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["failures"] == []
    table = (tmp_path / "results.md").read_text()
    for bench in (
        "1 orchestration",
        "2 dispatch",
        "3 status latency",
        "4 scaling",
        "5 gateway",
        "6 memory",
        "7 integration",
        "8 R3 dispatch",
        "8 R3 latency",
        "9 failover",
        "10 growth",
    ):
        assert f"| {bench} |" in table, bench
    assert "read model: a burst of 300 task.progress events into PostgreSQL" in table
    curves = data["curves"]["growth.png"]
    assert [len(c["y"]) for c in curves] == [2, 2, 2, 2]  # four figures at both quick sizes

    # The goals read from this run: quick sizes leave P3 (4 replicas) and P5 (5,000
    # events/s to 100 clients) unmeasured; every other goal gets a figure and a verdict.
    goals = table[table.index("## Where each goal stands") : table.index("## Every figure")]
    verdicts = {
        cells[1].strip(): cells[-2].strip()
        for cells in (line.split("|") for line in goals.splitlines())
        if len(cells) > 2 and cells[1].strip()[:1] in ("P", "G")
    }
    assert set(verdicts) == {"P1", "P2", "P3", "P4", "P5", "G1", "G2", "G3", "G4"}
    for measured in ("P1", "P2", "P4", "G1", "G2", "G3", "G4"):
        assert verdicts[measured] in ("yes", "no"), measured
    assert verdicts["P3"] == verdicts["P5"] == "-"
