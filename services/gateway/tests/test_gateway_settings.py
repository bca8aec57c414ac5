"""Settings come from `CC_…` variables, once, with defaults that work on one machine."""

from __future__ import annotations

from pathlib import Path

import pytest
from commandcenter_contracts import SettingsError
from gateway.settings import Settings


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"CC_DATABASE_URL": "postgresql://x/y"})
    assert settings.database_url == "postgresql://x/y"
    assert settings.nats_url == "nats://127.0.0.1:4222"
    assert (settings.host, settings.port) == ("127.0.0.1", 8001)
    assert settings.plan_root == tmp_path.resolve()
    assert settings.default_agent == "claude"
    assert settings.sse_keepalive_s == 15.0


def test_every_variable_is_read(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "CC_DATABASE_URL": "postgresql://postgres:@/commandcenter?host=/tmp/s",
            "CC_NATS_URL": "nats://nats:4222",
            "CC_GATEWAY_HOST": "0.0.0.0",
            "CC_GATEWAY_PORT": "9000",
            "CC_PLAN_ROOT": str(tmp_path),
            "CC_DEFAULT_AGENT": "plan-follower",
            "CC_GATEWAY_SSE_KEEPALIVE_S": "2.5",
            "CC_GATEWAY_STARTUP_TIMEOUT_S": "5",
            "CC_GATEWAY_DB_POOL_MAX": "4",
            "CC_GATEWAY_REQUEST_TIMEOUT_S": "3",
        }
    )
    assert settings.nats_url == "nats://nats:4222"
    assert (settings.host, settings.port) == ("0.0.0.0", 9000)
    assert settings.plan_root == tmp_path.resolve()
    assert settings.default_agent == "plan-follower"
    assert settings.sse_keepalive_s == 2.5
    assert settings.startup_timeout_s == 5.0
    assert settings.db_pool_max == 4
    assert settings.request_timeout_s == 3.0
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]  # frozen


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "CC_DATABASE_URL"),
        ({"CC_DATABASE_URL": "  "}, "CC_DATABASE_URL"),
        ({"CC_DATABASE_URL": "x", "CC_GATEWAY_PORT": "http"}, "CC_GATEWAY_PORT"),
        ({"CC_DATABASE_URL": "x", "CC_GATEWAY_PORT": "70000"}, "CC_GATEWAY_PORT"),
        ({"CC_DATABASE_URL": "x", "CC_DEFAULT_AGENT": "gpt"}, "CC_DEFAULT_AGENT"),
        ({"CC_DATABASE_URL": "x", "CC_GATEWAY_SSE_KEEPALIVE_S": "0"}, "KEEPALIVE"),
    ],
)
def test_bad_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)
