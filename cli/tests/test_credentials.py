"""Which token the CLI sends, and to whom (no servers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from commandcenter.credentials import token_for


def test_the_data_directorys_admin_token_goes_only_to_its_own_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CC_TOKEN", raising=False)
    data_dir = tmp_path / ".cc"
    data_dir.mkdir()
    (data_dir / "admin.token").write_text("cc_local\n")
    (data_dir / "stack.json").write_text(json.dumps({"gateway_url": "http://127.0.0.1:18101"}))

    assert token_for("http://127.0.0.1:18101", data_dir) == "cc_local"
    assert token_for("http://127.0.0.1:18101/", data_dir) == "cc_local"
    assert token_for("https://gateway.example.com", data_dir) is None  # never elsewhere
    assert token_for("http://127.0.0.1:18101", tmp_path / "other") is None
    monkeypatch.setenv("CC_TOKEN", "cc_from_env")
    assert token_for("https://gateway.example.com", data_dir) == "cc_from_env"
