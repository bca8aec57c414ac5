"""The task's verification commands: argv from `shlex.split`, no shell, in the workspace."""

from __future__ import annotations

import asyncio
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cc_taskrunner.ports import LogFn
from cc_taskrunner.process import CommandNotFound, OutputStream, run_process


@dataclass(frozen=True)
class VerificationFailure:
    command: str
    reason: str

    def message(self) -> str:
        return f"verification `{self.command}` {self.reason}"


async def run_verification(
    commands: Sequence[str],
    *,
    cwd: Path,
    log: LogFn,
    timeout_s: float,
    kill_grace_s: float,
    env: Mapping[str, str] | None = None,
    cancel: asyncio.Event | None = None,
) -> VerificationFailure | None:
    """Run each command in order; the first that fails is returned, None if all pass."""
    full_env = {**os.environ, **(env or {})}

    async def forward(stream: OutputStream, line: str) -> None:
        await log(stream, line)

    for command in commands:
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            return VerificationFailure(command, f"cannot be read as a command: {exc}")
        if not argv:
            continue
        await log("system", f"verification: {shlex.join(argv)}")
        try:
            result = await run_process(
                argv,
                cwd=cwd,
                env=full_env,
                timeout_s=timeout_s,
                cancel=cancel,
                on_line=forward,
                kill_grace_s=kill_grace_s,
            )
        except CommandNotFound as exc:
            return VerificationFailure(command, f"could not run: {exc}")
        if result.cancelled:
            return VerificationFailure(command, "was cancelled")
        if result.timed_out:
            return VerificationFailure(command, f"did not finish within {timeout_s:g}s")
        if result.returncode != 0:
            tail = "\n".join(result.output_tail[-20:])
            return VerificationFailure(
                command, f"exited with status {result.returncode}" + (f":\n{tail}" if tail else "")
            )
    return None
