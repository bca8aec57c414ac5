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
    for name in ("results.md", "results.png", "results.json"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "results.png").read_bytes().startswith(b"\x89PNG")
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
    ):
        assert f"| {bench} |" in table, bench
