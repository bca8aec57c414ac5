"""What a task runner needs to know about its machine, read once from `CC_…` variables.

Both executors embed these in their own settings object (`RunnerSettings.from_env(environ)`),
so the variables mean the same thing whichever executor reads them; values are read and
checked by the contracts' `Env`, as every service's settings are.
"""

from __future__ import annotations

import os
import shlex
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from commandcenter_contracts import Env

from cc_taskrunner.output_limits import OutputLimits


def default_executor_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, kw_only=True)
class RunnerSettings:
    executor_id: str = field(default_factory=default_executor_id)
    """`CC_EXECUTOR_ID`: names this executor instance in `task.started` (default host:pid)."""
    claude_bin: str | None = None
    """`CC_CLAUDE_BIN`: the Claude Code CLI (a path or a name on PATH); unset: `claude` on PATH."""
    claude_args: tuple[str, ...] = ()
    """`CC_CLAUDE_ARGS`: extra arguments for the Claude CLI (split like a shell would, no shell)."""
    git_author_name: str = "CommandCenter"
    """`CC_GIT_AUTHOR_NAME`: author and committer of the commits made for a task."""
    git_author_email: str = "commandcenter@localhost"
    """`CC_GIT_AUTHOR_EMAIL`."""
    default_timeout_s: float = 1800.0
    """`CC_DEFAULT_TIMEOUT_S`: agent timeout when a task carries none (timeout_s <= 0)."""
    verification_timeout_s: float = 600.0
    """`CC_VERIFY_TIMEOUT_S`: limit for each verification command."""
    git_timeout_s: float = 300.0
    """`CC_GIT_TIMEOUT_S`: limit for network git commands (fetch, push, clone)."""
    kill_grace_s: float = 3.0
    """`CC_KILL_GRACE_S`: between SIGTERM and SIGKILL when a process tree is stopped."""
    skills_dir: Path | None = None
    """`CC_SKILLS_DIR`: folder of `<name>/SKILL.md` files; a task's skill text joins its prompt."""
    claude_allowed_tools: tuple[str, ...] = ()
    """`CC_CLAUDE_ALLOWED_TOOLS`: local worktree mode, the tools the Claude agent may use
    without asking (space or comma separated, e.g. `Edit Write Bash(pytest:*)`); unset: edits
    and the programs of each task's verification commands and the usual test runners."""
    claude_max_retries: int = 2
    """`CC_CLAUDE_MAX_RETRIES`: the CLI's own retries of a failing API call (its default, 10,
    takes minutes); after them the task fails AGENT_UNAVAILABLE and the executor retries it."""
    claude_credentials_file: Path | None = None
    """`CC_CLAUDE_CREDENTIALS_FILE`: a Claude Code `.credentials.json` (a subscription login)
    copied into each agent's private home; the old system kept it at
    `~/.claude-container/.credentials.json`."""

    output_limits: OutputLimits = field(default_factory=OutputLimits)
    """`CC_TASK_LOG_MAX_LINES`, `CC_TASK_LOG_MAX_BYTES`, `CC_LOG_LINE_MAX_BYTES`: what one
    task attempt may publish to its log (see `cc_taskrunner.output_limits`)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RunnerSettings:
        env = Env(environ)
        defaults = cls(executor_id="")
        return cls(
            executor_id=env.get("CC_EXECUTOR_ID") or default_executor_id(),
            claude_bin=env.get("CC_CLAUDE_BIN"),
            claude_args=tuple(shlex.split(env.get("CC_CLAUDE_ARGS") or "")),
            git_author_name=env.text("CC_GIT_AUTHOR_NAME", defaults.git_author_name),
            git_author_email=env.text("CC_GIT_AUTHOR_EMAIL", defaults.git_author_email),
            default_timeout_s=env.number(
                "CC_DEFAULT_TIMEOUT_S", defaults.default_timeout_s, positive=True
            ),
            verification_timeout_s=env.number(
                "CC_VERIFY_TIMEOUT_S", defaults.verification_timeout_s, positive=True
            ),
            git_timeout_s=env.number("CC_GIT_TIMEOUT_S", defaults.git_timeout_s, positive=True),
            kill_grace_s=env.number("CC_KILL_GRACE_S", defaults.kill_grace_s, positive=True),
            skills_dir=env.optional_path("CC_SKILLS_DIR"),
            claude_allowed_tools=split_tool_rules(env.get("CC_CLAUDE_ALLOWED_TOOLS") or ""),
            claude_max_retries=env.whole(
                "CC_CLAUDE_MAX_RETRIES", defaults.claude_max_retries, low=0
            ),
            claude_credentials_file=env.optional_path("CC_CLAUDE_CREDENTIALS_FILE"),
            output_limits=_output_limits(env),
        )


def _output_limits(env: Env) -> OutputLimits:
    limits = OutputLimits()
    return OutputLimits(
        max_lines=env.whole("CC_TASK_LOG_MAX_LINES", limits.max_lines, low=1),
        max_bytes=env.whole("CC_TASK_LOG_MAX_BYTES", limits.max_bytes, low=1024),
        max_line_bytes=env.whole("CC_LOG_LINE_MAX_BYTES", limits.max_line_bytes, low=256),
    )


def split_tool_rules(text: str) -> tuple[str, ...]:
    """`Edit, Write Bash(npm test:*)` → the three rules: commas and spaces separate, except
    inside parentheses."""
    rules: list[str] = []
    current, depth = "", 0
    for char in text:
        if char in ", \t\n" and depth == 0:
            if current:
                rules.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current += char
    if current:
        rules.append(current)
    return tuple(rules)
