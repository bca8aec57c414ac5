"""The Dagger backend: each task in its own container on a Dagger engine.

`DaggerIsolation.prepare` starts the container (`pipeline.task_container`) and clones the
repository INSIDE it (`git clone <url> .`, `git checkout -B <branch> <base>`). The
`DaggerWorkspace` it hands out implements the task runner's `Workspace` on that container:
`exec` chains one `with_exec` (`pipeline.exec_step`, with the secrets of that kind of step)
onto the immutable container and evaluates it (exit code, stdout, stderr); `write_file`
chains a `with_new_file`. So the same `TaskRunner` flow as everywhere — agent, commit,
no-change check, verification, push — runs in the container, step by step.

Output is forwarded when a step ends (the engine returns it then), not line by line.

The evaluation is a parameter (`Evaluate`): the tests, which have no engine, pass a scripted
one and read the query chain the real steps built (`workspace.container`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import dagger
from cc_taskrunner import GitError, GitIdentity, check_branch_name, git_steps
from cc_taskrunner.branches import check_git_argument
from cc_taskrunner.environment import ExecKind
from cc_taskrunner.isolation_clone import is_url
from cc_taskrunner.ports import ExecRequest
from cc_taskrunner.process import CommandNotFound, ProcessResult
from commandcenter_contracts import TaskDispatched

from executor_dagger import pipeline
from executor_dagger.pipeline import ContainerSecrets
from executor_dagger.settings import Settings

log = logging.getLogger(__name__)

_NOT_FOUND_HINTS = ("executable file not found", "no such file or directory")
_TAIL_LINES = 40

Evaluate = Callable[[dagger.Container, str], Awaitable[tuple[int, str, str]]]
"""Run a container's last step on the engine: (exit code, stdout, stderr)."""


@dataclass
class Engine:
    """A session with a Dagger engine, shared by every task of this executor."""

    client: dagger.Client
    version: str
    _stack: contextlib.AsyncExitStack

    async def close(self) -> None:
        await self._stack.aclose()


async def connect_engine(settings: Settings) -> Engine:
    """Connect (the SDK starts its CLI, which reaches or provisions an engine) and ask the
    engine its version, so "connected" means an engine answered. Raises on any failure."""
    stack = contextlib.AsyncExitStack()
    try:
        async with asyncio.timeout(settings.connect_timeout_s + 5):
            config = dagger.Config(timeout=dagger.Timeout(None, connect=settings.connect_timeout_s))
            client = await stack.enter_async_context(dagger.Connection(config))
            version = await client.version()
    except BaseException:
        await stack.aclose()
        raise
    return Engine(client, version, stack)


class DaggerWorkspace:
    """The task's container as a `Workspace`: the checkout is `/work` inside it."""

    def __init__(
        self,
        container: dagger.Container,
        *,
        branch: str,
        remote: str | None,
        secrets: ContainerSecrets,
        evaluate: Evaluate | None = None,
        home_files: Mapping[str, dagger.Secret] | None = None,
    ) -> None:
        self.container = container
        self._evaluate = evaluate or _evaluate
        self._home_files = home_files or {}
        self._home: PurePosixPath | None = None
        self.branch = branch
        self.remote = remote
        self.integration_remote = remote
        self.integration_tip: str | None = None
        self.integration_read = False
        self.base_commit = ""
        self._secrets = secrets

    @property
    def path(self) -> PurePosixPath:
        return pipeline.WORKDIR

    @property
    def sandboxed(self) -> bool:
        return True  # a container of its own

    async def private_home(self) -> PurePosixPath:
        """`/cc/home` in the container; secret files (a credentials file) are mounted into it
        as Dagger secrets, so their contents never enter the query."""
        if self._home is None:
            self.container = pipeline.agent_home(self.container, self._home_files)
            self._home = pipeline.AGENT_HOME
        return self._home

    def plan_exec(
        self,
        argv: Sequence[str],
        *,
        kind: ExecKind,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> dagger.Container:
        """The container after `argv` (lazy: nothing runs until it is evaluated)."""
        return pipeline.exec_step(
            self.container, argv, stdin=stdin, env=env, secrets=self._secrets.for_kind(kind)
        )

    async def exec(self, request: ExecRequest) -> ProcessResult:
        after = self.plan_exec(
            request.argv, kind=request.kind, stdin=request.stdin, env=request.env
        )
        cancel, on_line = request.cancel, request.on_line
        evaluation = asyncio.ensure_future(self._evaluate(after, str(request.argv[0])))
        stopper = asyncio.ensure_future(cancel.wait()) if cancel is not None else None
        try:
            waiting = {evaluation} | ({stopper} if stopper else set())
            done, _ = await asyncio.wait(
                waiting, timeout=request.timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            if stopper is not None:
                stopper.cancel()
        if evaluation not in done:
            # The query is abandoned; the container state stays before this step, so nothing
            # later re-runs it.
            evaluation.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await evaluation
            return ProcessResult(returncode=None, timed_out=not done, cancelled=bool(done))
        code, out, err = evaluation.result()  # raises CommandNotFound / dagger errors
        self.container = after
        out_lines, err_lines = out.splitlines(), err.splitlines()
        if on_line is not None:
            for line in out_lines:
                await on_line("stdout", line)
            for line in err_lines:
                await on_line("stderr", line)
        return ProcessResult(
            returncode=code,
            output_tail=tuple((out_lines + err_lines)[-_TAIL_LINES:]),
            stderr_tail=tuple(err_lines[-_TAIL_LINES:]),
            stdout=out if request.capture_stdout else "",
        )

    async def write_file(self, relative: str, content: str) -> None:
        self.container = pipeline.checkout_file(self.container, relative, content)

    async def write_scratch(self, name: str, content: str) -> PurePosixPath:
        self.container, path = pipeline.scratch_file(self.container, name, content)
        return PurePosixPath(path)

    async def resolve_program(self, program: str) -> str | None:
        # Resolved in the container when the step runs; a missing one is CommandNotFound then.
        return program

    async def cleanup(self) -> None:
        """Nothing to remove: the container only exists in the engine, whose cache ages out."""


async def _evaluate(ctr: dagger.Container, program: str) -> tuple[int, str, str]:
    try:
        code = await ctr.exit_code()
        return code, await ctr.stdout(), await ctr.stderr()
    except dagger.ExecError as exc:  # not raised with expect=ANY, but an answer all the same
        return exc.exit_code, exc.stdout, exc.stderr
    except dagger.QueryError as exc:
        if any(hint in str(exc).lower() for hint in _NOT_FOUND_HINTS):
            raise CommandNotFound(f"cannot start {program!r} in the container: {exc}") from exc
        raise


class DaggerIsolation:
    def __init__(
        self,
        client: dagger.Client,
        settings: Settings,
        environ: Mapping[str, str] | None = None,
        *,
        evaluate: Evaluate | None = None,
    ) -> None:
        self._client = client
        self._settings = settings
        self._evaluate = evaluate
        runner = settings.runner
        self._identity = GitIdentity(runner.git_author_name, runner.git_author_email)
        self._secrets = pipeline.secret_references(
            client, settings, os.environ if environ is None else environ
        )
        self._home_files = pipeline.home_file_secrets(client, settings)

    async def prepare(self, task: TaskDispatched) -> DaggerWorkspace:
        branch = check_branch_name(task.branch)
        source = check_git_argument(task.repo, "repository")
        if not is_url(source):
            raise GitError(
                f"the Dagger backend clones the repository by URL inside the container; "
                f"{source!r} is not a URL"
            )
        container = pipeline.task_container(
            self._client,
            image=self._settings.image,
            identity=self._identity,
            git_username=self._settings.git_username,
            nonce=str(uuid.uuid4()),
        )
        workspace = DaggerWorkspace(
            container,
            branch=branch,
            remote=pipeline.push_remote(task),
            secrets=self._secrets,
            evaluate=self._evaluate,
            home_files=self._home_files,
        )
        timeout_s = self._settings.runner.git_timeout_s
        on_source = workspace.integration_remote in ("origin", source)
        start = await git_steps.clone_for_task(
            workspace, source, task, on_source=on_source, timeout_s=timeout_s
        )
        workspace.base_commit = start.commit
        workspace.integration_tip = start.integration_tip
        workspace.integration_read = start.integration_read
        log.info(
            "container from %s, %s at %s", self._settings.image, branch, workspace.base_commit[:12]
        )
        return workspace
