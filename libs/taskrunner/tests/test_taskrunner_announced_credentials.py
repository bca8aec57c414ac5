"""What an executor announces of its credentials: their names, never a value."""

from __future__ import annotations

from pathlib import Path

import pytest
from cc_taskrunner import RunnerSettings
from cc_taskrunner.agents import executor_info
from cc_taskrunner.agents.claude.credentials import credential_names
from commandcenter_contracts import ExecutionMode, encode

SECRET = "sk-ant-do-not-show-me"


def test_the_names_of_the_credentials_set_are_announced_never_their_values(
    tmp_path: Path,
) -> None:
    environ = {
        "ANTHROPIC_API_KEY": SECRET,
        "CLAUDE_CODE_OAUTH_TOKEN": "",  # set but empty: not a credential
        "CC_GIT_TOKEN": SECRET,
        "MY_AGENT_TOKEN": SECRET,
        "ANTHROPIC_BASE_URL": "https://proxy.example",  # handed on, but not a secret
    }
    also = ("MY_AGENT_TOKEN", "ANTHROPIC_BASE_URL", "UNSET_TOKEN")
    assert credential_names(environ, None, also) == [
        "ANTHROPIC_API_KEY",
        "CC_GIT_TOKEN",
        "MY_AGENT_TOKEN",
    ]
    credentials_file = tmp_path / "credentials.json"
    assert credential_names({}, credentials_file) == []  # named, but no such file
    credentials_file.write_text("{}")
    assert credential_names({}, credentials_file) == ["CC_CLAUDE_CREDENTIALS_FILE"]


def test_an_executors_announcement_carries_agents_credentials_and_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CC_GIT_TOKEN", SECRET)
    monkeypatch.setenv("MY_AGENT_TOKEN", SECRET)
    settings = RunnerSettings.from_env({"CC_CLAUDE_BIN": "/nonexistent/claude"})
    info = executor_info("host:1", ExecutionMode.DAGGER, 3, settings, ("MY_AGENT_TOKEN",))
    assert (info.executor_id, info.mode, info.slots) == ("host:1", "dagger", 3)
    assert info.agents["claude"].available is False
    assert info.agents["plan-follower"].available is True
    assert info.version
    assert {"CC_GIT_TOKEN", "MY_AGENT_TOKEN"} <= set(info.credentials)
    assert SECRET.encode() not in encode(info)
