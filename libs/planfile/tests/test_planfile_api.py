"""Public API: reading files, the JSON document, errors."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from cc_planfile import PlanError, PlanFileError, parse_plan, parse_plan_file, plan_document

SAMPLE = """# Sample
## Phase 4: Hardening
### Batch 1: Core Infrastructure Gaps
#### Task 4.1.1: Create Config Validation Service
**Files:** `services/config_validator.py`
**Verification:** `pytest tests/test_config.py`
### Task: broken
"""


def test_json_document_shape() -> None:
    plan = parse_plan(SAMPLE)
    document = json.loads(msgspec.json.encode(plan))
    assert document == plan_document(plan)
    assert document["title"] == "Sample"
    [batch] = document["batches"]
    assert (batch["phase"], batch["number"], batch["title"]) == (
        "4",
        "1",
        "Core Infrastructure Gaps",
    )
    [task] = batch["tasks"]
    assert task["id"] == "4.1.1"
    assert task["title"] == "Create Config Validation Service"
    assert task["files"] == ["services/config_validator.py"]
    assert task["depends_on"] == []
    assert task["verification"] == ["pytest tests/test_config.py"]
    assert task["line"] == 4
    assert document["warnings"] == [
        {"line": 7, "message": "task heading 'Task: broken' has no id; not run"}
    ]


def test_batch_without_phase_has_null_phase() -> None:
    document = plan_document(parse_plan("## Batch 1: B\n### Task 1.1: T\n"))
    assert document["batches"][0]["phase"] is None


def test_parse_plan_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.md"
    path.write_bytes(b"\xef\xbb\xbf" + SAMPLE.encode())
    plan = parse_plan_file(path)
    assert plan.title == "Sample"
    assert parse_plan_file(str(path)) == plan


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.md"
    with pytest.raises(PlanFileError, match="plan file not found") as raised:
        parse_plan_file(missing)
    assert str(missing) in str(raised.value)
    assert isinstance(raised.value, PlanError)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(PlanFileError, match=str(tmp_path)):
        parse_plan_file(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.md"
    path.write_bytes("# Caf\u00e9\n".encode("latin-1"))
    with pytest.raises(PlanFileError, match=r"latin1\.md is not valid UTF-8 \(byte 0xe9"):
        parse_plan_file(path)
