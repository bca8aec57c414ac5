"""How the Claude Code CLI is started for a task: its argv, its environment, its permissions.

- Print mode, the prompt on stdin, `stream-json` output (`--verbose` is required for it).
- Permissions follow the isolation. In a sandbox of its own (a fresh clone, a container) the
  agent runs with permissions bypassed (`IS_SANDBOX=1` when that is root, as containers often
  are: the CLI refuses otherwise). In a worktree of the user's repository it runs with
  `acceptEdits` plus an allow-list (`--allowedTools`): edits, and `Bash(<program>:*)` for the
  programs of the task's verification commands and the usual test runners. Never a shell:
  no entry lets Bash run anything (`Bash`, `Bash(*)`) or start a shell (`Bash(sh …)`).
- A private config home per attempt (`HOME`, `CLAUDE_CONFIG_DIR`): nothing leaks between tasks
  or from the operator's `~/.claude`. Non-essential traffic, telemetry, error reporting and the
  auto-updater are off. `CLAUDE_CODE_MAX_RETRIES` caps the CLI's own retries of API errors
  (it retries even a 401 ten times by default): a failing API is retried by the executor,
  with backoff, as AGENT_UNAVAILABLE.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import PurePath

from commandcenter_contracts import TaskDispatched

from cc_taskrunner.settings import RunnerSettings

EDIT_TOOLS = ("Read", "Edit", "Write", "Glob", "Grep")
TEST_RUNNERS = (
    "pytest",
    "python -m pytest",
    "python3 -m pytest",
    "uv run pytest",
    "npm test",
    "npm run test",
    "yarn test",
    "pnpm test",
    "go test",
    "cargo test",
    "make test",
    "ruff check",
    "mypy",
)
SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "fish", "csh", "tcsh", "env", "sudo"})
_BASH_ENTRY = re.compile(r"^Bash(?:\((?P<rule>.*)\))?$")


class ToolRuleError(ValueError):
    """An allowed-tools entry that would let the agent run anything."""


def check_tool_rule(rule: str) -> str:
    """Refuse entries that amount to a shell: `Bash`, `Bash(*)`, `Bash(bash:*)`, …"""
    match = _BASH_ENTRY.match(rule.strip())
    if match is None:
        return rule.strip()
    inner = (match.group("rule") or "").strip()
    program = inner.split(":", 1)[0].split(" ", 1)[0].strip()
    if not inner or program in ("*", "") or program in SHELLS:
        raise ToolRuleError(
            f"allowed tool {rule!r} would let the agent run any command; name a program, "
            "e.g. Bash(pytest:*)"
        )
    return rule.strip()


def default_allowed_tools(task: TaskDispatched) -> list[str]:
    """Edits, the programs of the task's verification commands, and the usual test runners."""
    prefixes: list[str] = []
    for command in task.verification:
        try:
            argv = shlex.split(command)
        except ValueError:
            continue
        if argv and os.path.basename(argv[0]) not in SHELLS:
            prefixes.append(argv[0])
    prefixes += TEST_RUNNERS
    return [*EDIT_TOOLS, *(f"Bash({p}:*)" for p in dict.fromkeys(prefixes))]


def allowed_tools(task: TaskDispatched, settings: RunnerSettings) -> list[str]:
    """The task's own list, else the executor's `CC_CLAUDE_ALLOWED_TOOLS`, else the default."""
    chosen = task.allowed_tools
    if chosen is None and settings.claude_allowed_tools:
        chosen = list(settings.claude_allowed_tools)
    rules = chosen if chosen is not None else default_allowed_tools(task)
    return [check_tool_rule(rule) for rule in rules]


def claude_argv(
    binary: str,
    settings: RunnerSettings,
    task: TaskDispatched,
    *,
    sandboxed: bool,
    resume: str | None = None,
) -> list[str]:
    argv = [binary, "-p", "--output-format", "stream-json", "--verbose"]
    if sandboxed:
        argv += ["--permission-mode", "bypassPermissions"]
    else:
        argv += [
            "--permission-mode",
            "acceptEdits",
            "--allowedTools",
            *allowed_tools(task, settings),
        ]
    if task.agent.model:
        argv += ["--model", task.agent.model]
    if task.max_turns:
        argv += ["--max-turns", str(task.max_turns)]
    if resume:
        argv += ["--resume", resume]
    return argv + list(settings.claude_args)


def claude_env(home: PurePath, settings: RunnerSettings, *, sandboxed: bool) -> dict[str, str]:
    env = {
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_MAX_RETRIES": str(settings.claude_max_retries),
    }
    if sandboxed:
        # Bypassing permissions as root is refused without it; containers often run as root.
        env["IS_SANDBOX"] = "1"
    return env
