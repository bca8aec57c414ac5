"""The task's verification commands: argv from `shlex.split`, no shell, in the checkout."""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from cc_taskrunner.ports import ExecRequest, LogFn, Workspace
from cc_taskrunner.process import CommandNotFound, OutputStream


@dataclass(frozen=True)
class VerificationFailure:
    command: str
    reason: str

    def message(self) -> str:
        return f"verification `{self.command}` {self.reason}"


def verification_argv(command: str) -> list[str]:
    """The argv of one verification command (raises ValueError for unbalanced quotes)."""
    return shlex.split(command)


async def run_verification(
    commands: Sequence[str],
    *,
    workspace: Workspace,
    log: LogFn,
    timeout_s: float,
    cancel: asyncio.Event | None = None,
) -> VerificationFailure | None:
    """Run each command in order; the first that fails is returned, None if all pass."""

    async def forward(stream: OutputStream, line: str) -> None:
        await log(stream, line)

    for command in commands:
        try:
            argv = verification_argv(command)
        except ValueError as exc:
            return VerificationFailure(command, f"cannot be read as a command: {exc}")
        if not argv:
            continue
        await log("system", f"verification: {shlex.join(argv)}")
        try:
            result = await workspace.exec(
                ExecRequest(argv, kind="check", timeout_s=timeout_s, cancel=cancel, on_line=forward)
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
