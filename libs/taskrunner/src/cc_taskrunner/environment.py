"""The environment variables each kind of command in a local workspace gets.

Two policies. *Inherited* (local mode, on the user's machine): every command gets the executor's
own environment, as the user's shell would have it. *Scrubbed* (the engine-less backend, where
the task comes from a queue shared by many): a command gets only `PATH`, `LANG`, a private
`HOME`, the git identity and the variables its step passes itself (an agent's `CC_*` task
variables); agents also get the credentials named in `agent_credentials` (e.g.
`ANTHROPIC_API_KEY`), git steps `git_extra` and the `git_credentials` (the token helper and
its token). So a variable
like a database password in the executor's environment never reaches an agent or a
verification command, and the git token never reaches an agent.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

ExecKind = Literal["git", "agent", "check"]
"""`git`: the runner's own git steps; `agent`: the agent; `check`: verification commands."""

SCRUBBED_PASSTHROUGH = ("PATH", "LANG")


@dataclass(frozen=True, kw_only=True)
class ExecEnvironment:
    scrubbed: bool = False
    fixed: Mapping[str, str] = field(default_factory=dict)
    """For every command (the git identity, GIT_TERMINAL_PROMPT, GIT_ALLOW_PROTOCOL)."""
    agent_credentials: tuple[str, ...] = ()
    """Scrubbed: names of executor variables an agent gets (its API keys)."""
    git_credentials: tuple[str, ...] = ()
    """Scrubbed: names of executor variables only git steps get (the token GIT_ASKPASS reads)."""
    git_extra: Mapping[str, str] = field(default_factory=dict)
    """Scrubbed: fixed variables only git steps get (GIT_ASKPASS, the user name)."""
    home: Path | None = None
    """Scrubbed: `HOME` of every command (a private folder per task)."""
    agent_files: Mapping[str, Path] = field(default_factory=dict)
    """Files copied into an agent's private home (`Workspace.private_home`), by their path
    there: e.g. `.claude/.credentials.json` from `CC_CLAUDE_CREDENTIALS_FILE`."""
    source: Mapping[str, str] | None = field(default=None, repr=False)
    """The executor's environment (None: `os.environ` when a command starts)."""

    def with_home(self, home: Path) -> ExecEnvironment:
        return replace(self, home=home)

    def for_command(self, kind: ExecKind, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        source = os.environ if self.source is None else self.source
        if not self.scrubbed:
            return {**source, **self.fixed, **(extra or {})}
        env = {name: source[name] for name in SCRUBBED_PASSTHROUGH if name in source}
        env.setdefault("PATH", os.defpath)
        env.setdefault("LANG", "C.UTF-8")
        if self.home is not None:
            env["HOME"] = str(self.home)
        env.update(self.fixed)
        if kind == "agent":
            env.update({name: source[name] for name in self.agent_credentials if name in source})
        elif kind == "git":
            env.update(self.git_extra)
            env.update({name: source[name] for name in self.git_credentials if name in source})
        env.update(extra or {})
        return env
