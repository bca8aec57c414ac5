"""A service's NATS credentials: read from its settings, never shown in a log line."""

from __future__ import annotations

from pathlib import Path

import pytest
from cc_bus import NatsAuth, NatsAuthError, redact_url
from commandcenter_contracts import Env, SettingsError


def test_user_and_password_file_go_together(tmp_path: Path) -> None:
    assert NatsAuth.from_env(Env({})) == NatsAuth()
    password = tmp_path / "pw"
    password.write_text("s3cret\n")
    auth = NatsAuth.from_env(
        Env({"CC_NATS_USER": "planner", "CC_NATS_PASSWORD_FILE": str(password)})
    )
    assert auth.user == "planner"
    assert auth.password() == "s3cret"
    assert "s3cret" not in repr(auth)
    with pytest.raises(SettingsError, match="go together"):
        NatsAuth.from_env(Env({"CC_NATS_USER": "planner"}))


def test_an_unreadable_or_empty_password_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(NatsAuthError, match="cannot read"):
        NatsAuth(user="gateway", password_file=tmp_path / "missing").password()
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(NatsAuthError, match="is empty"):
        NatsAuth(user="gateway", password_file=tmp_path / "empty").password()


def test_a_password_in_the_url_is_never_logged() -> None:
    assert redact_url("nats://gateway:s3cret@nats:4222") == "nats://gateway:***@nats:4222"
    assert redact_url("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"
