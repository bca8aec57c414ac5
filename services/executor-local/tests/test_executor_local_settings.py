"""Settings come from `CC_…` variables, once, with defaults that work on one machine."""

from __future__ import annotations

from pathlib import Path

import pytest
from cc_bus.executor import DeliverySettings
from executor_local import Settings


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.nats_url == "nats://127.0.0.1:4222"
    assert settings.worktree_root == Path("~/.cache/commandcenter/worktrees").expanduser()
    assert settings.delivery == DeliverySettings()
    assert settings.shutdown_grace_s == 10
    assert settings.runner.default_timeout_s == 1800
    assert settings.runner.claude_bin is None
    assert settings.runner.git_author_name == "CommandCenter"
    assert settings.runner.git_author_email == "commandcenter@localhost"
    assert ":" in settings.executor_id  # host:pid


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "CC_NATS_URL": "nats://nats:4222",
            "CC_WORKTREE_ROOT": "/srv/wt",
            "CC_ACK_WAIT_S": "40",
            "CC_SHUTDOWN_GRACE_S": "25",
            "CC_DEFAULT_TIMEOUT_S": "900",
            "CC_CLAUDE_BIN": "/opt/claude",
            "CC_CLAUDE_ARGS": "--verbose --max-turns '20'",
            "CC_EXECUTOR_ID": "laptop-1",
            "CC_GIT_AUTHOR_NAME": "Robo",
            "CC_GIT_AUTHOR_EMAIL": "robo@example.org",
            "CC_SKILLS_DIR": "/srv/skills",
        }
    )
    assert settings.nats_url == "nats://nats:4222"
    assert settings.worktree_root == Path("/srv/wt")
    assert settings.delivery.ack_wait_s == 40
    assert settings.shutdown_grace_s == 25
    runner = settings.runner
    assert runner.default_timeout_s == 900 and runner.claude_bin == "/opt/claude"
    assert runner.claude_args == ("--verbose", "--max-turns", "20")
    assert settings.executor_id == "laptop-1"
    assert (runner.git_author_name, runner.git_author_email) == ("Robo", "robo@example.org")
    assert runner.skills_dir == Path("/srv/skills")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CC_ACK_WAIT_S": "soon"}, "CC_ACK_WAIT_S must be a number"),
        ({"CC_SHUTDOWN_GRACE_S": "0"}, "CC_SHUTDOWN_GRACE_S must be positive"),
        ({"CC_DEFAULT_TIMEOUT_S": "-1"}, "CC_DEFAULT_TIMEOUT_S must be positive"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)


def test_settings_are_frozen() -> None:
    settings = Settings.from_env({})
    with pytest.raises(AttributeError):
        settings.nats_url = "elsewhere"  # type: ignore[misc]
