"""`commandcenter plan show`: what it prints for a plan, with notes and warnings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from commandcenter.main import main

PLAN = """# Shared files
## Batch 1: Build
### Task 1.1: App
**Files:** `src/app.py`
### Task 1.2: Docs
**Files:** `docs/index.md`
### Task 1.3: App tests
**Files:** `src/app.py`, `tests/test_app.py`
**Dependencies:** 1.4
### Task 1.4: Later
"""

NOTE = "tasks 1.1 and 1.3 both change src/app.py: 1.3 waits until 1.1 is integrated"


def test_plan_show_prints_notes_after_the_batches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = tmp_path / "PLAN.md"
    plan.write_text(PLAN, encoding="utf-8")

    assert main(["plan", "show", str(plan)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Shared files"
    assert lines[1] == "  batch 1: Build  (4 tasks)"
    assert lines[6:] == [
        f"  note: batch 1: {NOTE}",
        "  warning: line 7: task 1.3 depends on 1.4, which comes later in the same batch; "
        "put 1.4 first or in an earlier batch",
    ]


def test_plan_show_json_carries_the_notes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = tmp_path / "PLAN.md"
    plan.write_text(PLAN, encoding="utf-8")

    assert main(["plan", "show", "--json", str(plan)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["notes"] == [
        {
            "batch": "1",
            "phase": None,
            "tasks": ["1.1", "1.3"],
            "files": ["src/app.py"],
            "message": NOTE,
        }
    ]
