"""Which variables each kind of command gets: inherited (local mode) or scrubbed (engine-less)."""

from __future__ import annotations

from pathlib import Path

from cc_taskrunner import ExecEnvironment

SOURCE = {
    "PATH": "/usr/bin:/bin",
    "LANG": "en_US.UTF-8",
    "HOME": "/home/me",
    "ANTHROPIC_API_KEY": "sk-ant",
    "CC_GIT_TOKEN": "ghp",
    "AWS_SECRET_ACCESS_KEY": "aws",
}
IDENTITY = {"GIT_AUTHOR_NAME": "CommandCenter"}


def test_inherited_commands_get_the_executors_environment() -> None:
    env = ExecEnvironment(fixed=IDENTITY, source=SOURCE)
    for kind in ("git", "agent", "check"):
        got = env.for_command(kind, {"CC_TASK_ID": "t"})  # type: ignore[arg-type]
        assert got == {**SOURCE, **IDENTITY, "CC_TASK_ID": "t"}


def test_scrubbed_commands_get_only_what_their_kind_needs(tmp_path: Path) -> None:
    env = ExecEnvironment(
        scrubbed=True,
        fixed=IDENTITY,
        agent_credentials=("ANTHROPIC_API_KEY", "NOT_SET"),
        git_credentials=("CC_GIT_TOKEN",),
        git_extra={"GIT_ASKPASS": "/x/askpass"},
        source=SOURCE,
    ).with_home(tmp_path)
    base = {"PATH": "/usr/bin:/bin", "LANG": "en_US.UTF-8", "HOME": str(tmp_path), **IDENTITY}
    assert env.for_command("agent", {"CC_TASK_ID": "t"}) == {
        **base,
        "ANTHROPIC_API_KEY": "sk-ant",
        "CC_TASK_ID": "t",
    }
    assert env.for_command("git") == {**base, "GIT_ASKPASS": "/x/askpass", "CC_GIT_TOKEN": "ghp"}
    assert env.for_command("check") == base


def test_scrubbed_defaults_when_the_executor_has_no_path_or_lang() -> None:
    env = ExecEnvironment(scrubbed=True, source={}).for_command("check")
    assert env["PATH"] and env["LANG"] == "C.UTF-8" and "HOME" not in env
