"""Settings come from `CC_…` variables, once, with defaults that work on one machine."""

from __future__ import annotations

from pathlib import Path

import pytest
from cc_bus.executor import DeliverySettings
from executor_dagger import Settings
from executor_dagger.settings import DEFAULT_IMAGE


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.backend == "auto"
    assert (settings.slots, settings.max_in_flight, settings.grace_s) == (4, 4, 30)
    assert settings.image == DEFAULT_IMAGE
    assert settings.integration_turns is True
    assert settings.work_root == Path("~/.cache/commandcenter/work").expanduser()
    assert settings.agent_credentials == (
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "CLAUDE_CODE_OAUTH_TOKEN",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_MODEL",
    )
    assert settings.delivery == DeliverySettings()
    assert ":" in settings.executor_id  # host:pid


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "CC_NATS_URL": "nats://nats:4222",
            "CC_DAGGER_BACKEND": "Engineless",
            "CC_DAGGER_SLOTS": "2",
            "CC_DAGGER_MAX_IN_FLIGHT": "40",
            "CC_DAGGER_IMAGE": "registry.local/agent:1",
            "CC_DAGGER_GRACE_S": "600",
            "CC_DAGGER_CONNECT_TIMEOUT_S": "5",
            "CC_WORK_ROOT": "/var/lib/cc/work",
            "CC_AGENT_CREDENTIALS": "ANTHROPIC_API_KEY, OPENAI_API_KEY",
            "CC_GIT_USERNAME": "oauth2",
            "CC_ACK_WAIT_S": "8",
            "CC_RETRY_DELAY_S": "2",
            "CC_EXECUTOR_ID": "pod-7",
            "CC_DAGGER_INTEGRATION_TURNS": "off",
        }
    )
    assert settings.nats_url == "nats://nats:4222"
    assert settings.backend == "engineless"
    assert (settings.slots, settings.max_in_flight) == (2, 40)
    assert settings.image == "registry.local/agent:1"
    assert (settings.grace_s, settings.connect_timeout_s) == (600, 5)
    assert settings.work_root == Path("/var/lib/cc/work")
    assert settings.agent_credentials == ("ANTHROPIC_API_KEY", "OPENAI_API_KEY")
    assert settings.git_username == "oauth2"
    assert (settings.delivery.ack_wait_s, settings.delivery.retry_delay_s) == (8, 2)
    assert settings.executor_id == "pod-7"
    assert settings.integration_turns is False


def test_max_in_flight_follows_the_slots_unless_set() -> None:
    assert Settings.from_env({"CC_DAGGER_SLOTS": "3"}).max_in_flight == 3
    assert Settings.from_env({"CC_AGENT_CREDENTIALS": ""}).agent_credentials == ()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CC_DAGGER_BACKEND": "docker"}, "CC_DAGGER_BACKEND must be one of auto, dagger"),
        ({"CC_DAGGER_SLOTS": "two"}, "CC_DAGGER_SLOTS must be a whole number"),
        ({"CC_DAGGER_SLOTS": "0"}, "CC_DAGGER_SLOTS must be positive"),
        ({"CC_DAGGER_MAX_IN_FLIGHT": "1.5"}, "CC_DAGGER_MAX_IN_FLIGHT must be a whole number"),
        ({"CC_DAGGER_GRACE_S": "-1"}, "CC_DAGGER_GRACE_S must be positive"),
        ({"CC_DAGGER_INTEGRATION_TURNS": "yes"}, "CC_DAGGER_INTEGRATION_TURNS must be one of"),
        ({"CC_MAX_DELIVER": "3"}, r"CC_MAX_DELIVER \(3\) must be larger"),
        ({"CC_AGENT_CREDENTIALS": "API KEY=1"}, "is not an environment variable name"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)


def test_no_credential_value_is_kept_in_the_settings() -> None:
    env = {"ANTHROPIC_API_KEY": "sk-ant-secret-value", "CC_GIT_TOKEN": "ghp-secret-value"}
    settings = Settings.from_env(env)
    assert "secret-value" not in repr(settings)
