"""The workspace both local isolations hand out: a checkout on the task's branch, in a folder
of this machine, whose commands are child processes (`run_process`: no shell, whole process
tree stopped on timeout or cancel)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from cc_taskrunner.environment import ExecEnvironment
from cc_taskrunner.paths import safe_target
from cc_taskrunner.ports import ExecRequest
from cc_taskrunner.process import ProcessResult, run_process


async def _nothing() -> None:
    return None


@dataclass(kw_only=True)
class LocalWorkspace:
    path: Path
    branch: str
    base_commit: str
    remote: str | None
    """Remote name or URL to push to, as usable from `path`; None: nothing to push to."""
    integration_remote: str | None = None
    """Where the run's integration branch lives; None: the checkout's own refs (a worktree
    shares them with the user's repository)."""
    integration_tip: str | None = None
    """The integration branch's tip as the isolation read it (the checkout starts on it)."""
    integration_read: bool = False
    """The isolation read the integration branch where it lives (None above: no branch yet)."""
    sandboxed: bool = False
    """A fresh clone of its own (True) rather than a worktree of the user's repository."""
    environment: ExecEnvironment = field(default_factory=ExecEnvironment)
    scratch_root: Path | None = None
    """Where the private folder for agent input files is made (None: the system's temp)."""
    kill_grace_s: float = 3.0
    remove: Callable[[], Awaitable[None]] = field(default=_nothing, repr=False)
    """Removal of the checkout (awaited by `cleanup`)."""
    _scratch: Path | None = field(default=None, init=False, repr=False)
    _home: Path | None = field(default=None, init=False, repr=False)

    @classmethod
    def plain(
        cls,
        path: Path,
        *,
        environment: ExecEnvironment | None = None,
        kill_grace_s: float = 3.0,
    ) -> LocalWorkspace:
        """A folder with no branch bookkeeping: for running an agent or git on its own."""
        return cls(
            path=path,
            branch="",
            base_commit="",
            remote=None,
            environment=environment if environment is not None else ExecEnvironment(),
            kill_grace_s=kill_grace_s,
        )

    async def exec(self, request: ExecRequest) -> ProcessResult:
        stdin = request.stdin
        return await run_process(
            request.argv,
            cwd=self.path,
            env=self.environment.for_command(request.kind, request.env),
            stdin=stdin.encode() if stdin is not None else None,
            timeout_s=request.timeout_s,
            cancel=request.cancel,
            on_line=request.on_line,
            kill_grace_s=self.kill_grace_s,
            capture_stdout=request.capture_stdout,
            die_with_parent=request.dies_with_executor,
        )

    async def write_file(self, relative: str, content: str) -> None:
        target = safe_target(self.path, relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")

    async def write_scratch(self, name: str, content: str) -> Path:
        target = self._scratch_dir() / Path(name).name
        target.write_text(content, encoding="utf-8")
        return target

    async def resolve_program(self, program: str) -> str | None:
        """A path (relative ones: to the checkout) or a name on the commands' PATH."""
        if os.sep in program or (os.altsep and os.altsep in program):
            path = Path(program)
            if not path.is_absolute():
                path = self.path / path
            return str(path) if path.is_file() and os.access(path, os.X_OK) else None
        search = self.environment.for_command("agent").get("PATH", os.defpath)
        return shutil.which(program, path=search)

    async def private_home(self) -> Path:
        if self._home is None:
            self._home = await asyncio.to_thread(self._make_home)
        return self._home

    def _make_home(self) -> Path:
        home = self._scratch_dir() / "home"
        home.mkdir(mode=0o700, exist_ok=True)
        for relative, source in self.environment.agent_files.items():
            target = safe_target(home, relative)
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            target.chmod(0o600)
        return home

    async def cleanup(self) -> None:
        self._home = None
        scratch, self._scratch = self._scratch, None
        if scratch is not None:
            await asyncio.to_thread(shutil.rmtree, scratch, ignore_errors=True)
        await self.remove()

    def _scratch_dir(self) -> Path:
        if self._scratch is None:
            if self.scratch_root is not None:
                self.scratch_root.mkdir(parents=True, exist_ok=True)
            self._scratch = Path(tempfile.mkdtemp(prefix="cc-agent-", dir=self.scratch_root))
        return self._scratch
