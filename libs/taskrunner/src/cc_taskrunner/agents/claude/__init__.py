"""The Claude Code CLI as an agent, driven for real: stream-json read line by line into the
task's log, cost and usage recorded, failures mapped to codes a person can act on.

- `AGENT_AUTH`: a 401/403 or "Not logged in". Not retried, and reported within seconds: the
  CLI is stopped at its first `api_retry` with 401/403 instead of sitting through its retries.
- `AGENT_UNAVAILABLE`: 429, 529, 5xx or an unreachable API. Retried by the executor with
  backoff (the CLI's own retries are capped by `CC_CLAUDE_MAX_RETRIES`).
- `AGENT_FAILED`: the turn limit (`--max-turns`) was reached, or any other error.
- Tool calls the permissions refused are returned (`AgentResult.denials`), so a task that
  then fails says which.

Sent back to fix a failed check, the agent continues its session (`--resume`) with a prompt
that says what failed.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

from commandcenter_contracts import FailureCode

from cc_taskrunner.agents.claude.credentials import CREDENTIALS_FILE_IN_HOME, credential_source
from cc_taskrunner.agents.claude.invocation import claude_argv, claude_env
from cc_taskrunner.agents.claude.stream import Transcript
from cc_taskrunner.agents.kind import AgentKind, AgentStatus
from cc_taskrunner.agents.subprocess_agent import run_agent_process
from cc_taskrunner.ports import AgentContext, AgentResult
from cc_taskrunner.process import OutputStream, ProcessResult
from cc_taskrunner.prompt import fix_message
from cc_taskrunner.settings import RunnerSettings

__all__ = [
    "CREDENTIALS_FILE_IN_HOME",
    "KIND",
    "ClaudeAgent",
    "claude_argv",
    "claude_program",
    "credential_source",
    "find_claude",
]

_UNAVAILABLE_HINTS = ("connection", "econnrefused", "overloaded", "timed out", "timeout")
_AUTH_HINTS = ("not logged in", "invalid api key", "authentication", "oauth token")


def find_claude(settings: RunnerSettings) -> tuple[str | None, str]:
    """(path of the CLI on this machine or None, a sentence saying where it is or why not)."""
    program = settings.claude_bin or "claude"
    found = shutil.which(claude_program(settings))
    if found is None:
        return None, _missing(settings)
    return found, found if program == found else f"{program} ({found})"


def _missing(settings: RunnerSettings) -> str:
    if settings.claude_bin:
        return f"CC_CLAUDE_BIN={settings.claude_bin} is not an executable file"
    return "`claude` is not on PATH (`make claude` installs the pinned CLI, or set CC_CLAUDE_BIN)"


def claude_program(settings: RunnerSettings) -> str:
    """The CLI as configured: a relative path means one relative to the executor's folder."""
    program = settings.claude_bin or "claude"
    if "/" in program and not Path(program).is_absolute():
        return str(Path(program).absolute())
    return program


class ClaudeAgent:
    def __init__(self, settings: RunnerSettings) -> None:
        self._settings = settings

    async def run(self, ctx: AgentContext) -> AgentResult:
        workspace = ctx.target()
        binary = await workspace.resolve_program(claude_program(self._settings))
        if binary is None:
            return AgentResult(FailureCode.AGENT_NOT_FOUND, _missing(self._settings))
        sandboxed = workspace.sandboxed
        resume = ctx.fix.session_id if ctx.fix is not None else None
        argv = claude_argv(binary, self._settings, ctx.task, sandboxed=sandboxed, resume=resume)
        home = await workspace.private_home()
        env = claude_env(home, self._settings, sandboxed=sandboxed)
        transcript = Transcript()
        stop = asyncio.Event()

        async def on_line(stream: OutputStream, line: str) -> None:
            if stream == "stderr":
                await ctx.log("stderr", line)
                return
            for shown in transcript.feed(line):
                await ctx.log("stdout", shown)
            if transcript.auth_refused is not None:
                stop.set()  # a refused key stays refused: don't sit through the CLI's retries

        async def follow_cancel() -> None:
            await ctx.cancel.wait()
            stop.set()

        await ctx.log(
            "system", f"agent: {binary} ({'resumed session' if resume else 'new session'})"
        )
        watcher = asyncio.create_task(follow_cancel())
        try:
            stdin = fix_message(ctx.fix) if resume and ctx.fix is not None else ctx.prompt
            result = await run_agent_process(
                ctx, argv, extra_env=env, stdin=stdin, on_line=on_line, stop=stop
            )
        finally:
            watcher.cancel()
        if isinstance(result, AgentResult):
            return result
        return _outcome(result, transcript)


def _outcome(process: ProcessResult, transcript: Transcript) -> AgentResult:
    usage, denials = transcript.usage(), transcript.denials()
    if transcript.auth_refused is not None:
        return AgentResult(
            FailureCode.AGENT_AUTH,
            f"the API refused the agent's credential ({transcript.auth_refused}); "
            "check ANTHROPIC_API_KEY / CLAUDE_CODE_OAUTH_TOKEN (`commandcenter preflight`)",
            usage,
            denials,
        )
    line = transcript.result
    if line is None:
        tail = process.tail()
        return AgentResult(
            FailureCode.AGENT_FAILED,
            f"the Claude CLI exited with status {process.returncode} without a result"
            + (f":\n{tail}" if tail else ""),
            usage,
            denials,
        )
    if not line.is_error and process.returncode == 0:
        return AgentResult(None, line.result or "", usage, denials)
    text = (line.result or "; ".join(line.errors or []) or line.subtype or "error").strip()
    status = line.api_error_status
    lowered = text.lower()
    if status in (401, 403) or any(hint in lowered for hint in _AUTH_HINTS):
        code = FailureCode.AGENT_AUTH
        text = f"the API refused the agent's credential: {text}"
    elif line.subtype == "error_max_turns":
        code = FailureCode.AGENT_FAILED
        text = f"the agent used up its turns: {text} (raise max_turns, or split the task)"
    elif (status is not None and (status in (429, 529) or status >= 500)) or any(
        hint in lowered for hint in _UNAVAILABLE_HINTS
    ):
        code = FailureCode.AGENT_UNAVAILABLE
        text = f"the agent's API is unavailable: {text}"
    else:
        code = FailureCode.AGENT_FAILED
    return AgentResult(code, text, usage, denials)


def cli_version(binary: str) -> str | None:
    """What `claude --version` prints (the CLI runs), or None when it does not run."""
    try:
        done = subprocess.run(  # noqa: S603 - argv list, our own binary
            [binary, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def _status(settings: RunnerSettings) -> AgentStatus:
    found, detail = find_claude(settings)
    if found is None:
        return AgentStatus(False, detail)
    version = cli_version(found)
    if version is None:
        return AgentStatus(False, f"{detail} does not run (`claude --version` failed)")
    detail = f"{detail}, {version}"
    credential = credential_source(credentials_file=settings.claude_credentials_file)
    if credential is None:
        return AgentStatus(
            True,
            f"{detail}; no credential (set ANTHROPIC_API_KEY, CLAUDE_CODE_OAUTH_TOKEN or "
            "CC_CLAUDE_CREDENTIALS_FILE)",
        )
    return AgentStatus(True, f"{detail}; credential: {credential}")


KIND = AgentKind(
    name="claude",
    description="the Claude Code CLI (`make claude`, CC_CLAUDE_BIN or `claude` on PATH)",
    create=ClaudeAgent,
    status=_status,
)
