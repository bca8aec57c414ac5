"""How a task maps onto a Dagger container: pure builders, no engine needed to call them.

dagger-io builds queries lazily: each builder returns a new immutable `Container` whose query
chain (`container._ctx.selections`) can be read offline. The live backend (`container_backend`)
chains the task runner's steps (`cc_taskrunner.steps`, the same as every executor's) onto the
container one at a time and evaluates each, so a task's container reads

    from(image) → identity, askpass → [git token] git clone <url> . → git checkout -B <branch>
    → [git token] the integration tip → [agent credentials] agent (prompt on stdin)
    → git add / commit → verification → [git token] git push → merge onto the integration
    branch, checks on the combined tree, [git token] git push of the integration branch

Secrets are references (`env://NAME`): the Dagger session of this process reads the value from
its environment when a step runs, so the value never enters the query, a log or an event, and
each is attached only around the one kind of step that needs it (`withSecretVariable` before,
`withoutSecretVariable` after): the agent never sees the git token.

`import dagger` happens here and in `container_backend` only (it costs ~0.5 s).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import dagger
from cc_taskrunner import GitIdentity
from cc_taskrunner.agents.claude.credentials import home_files
from cc_taskrunner.environment import ExecKind
from cc_taskrunner.paths import checked_relative
from commandcenter_contracts import TaskDispatched

from executor_dagger.settings import Settings

WORKDIR = PurePosixPath("/work")
"""The checkout inside the container."""
SCRATCH = PurePosixPath("/cc")
"""Agent input files and the askpass helper: outside the checkout, never committed."""
ASKPASS = SCRATCH / "git-askpass"
AGENT_HOME = SCRATCH / "home"
"""An agent's private configuration home (Claude Code's `HOME`)."""
GIT_TOKEN_VAR = "CC_GIT_TOKEN"

# Git runs it with its prompt as $1; the token is in the environment of git steps only. A
# fixed script: no task text, path or branch name ever reaches it.
ASKPASS_SCRIPT = """\
#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "${CC_GIT_USERNAME:-x-access-token}" ;;
  *) printf '%s\\n' "$CC_GIT_TOKEN" ;;
esac
"""


@dataclass(frozen=True)
class ContainerSecrets:
    """Secret references, by the environment variable name they get in the container."""

    git: Mapping[str, dagger.Secret] = field(default_factory=dict)
    """For git steps: `CC_GIT_TOKEN`."""
    agent: Mapping[str, dagger.Secret] = field(default_factory=dict)
    """For the agent: `CC_AGENT_CREDENTIALS` (e.g. ANTHROPIC_API_KEY)."""

    def for_kind(self, kind: ExecKind) -> Mapping[str, dagger.Secret]:
        if kind == "git":
            return self.git
        if kind == "agent":
            return self.agent
        return {}  # verification commands get no credential


def secret_references(
    client: dagger.Client, settings: Settings, environ: Mapping[str, str]
) -> ContainerSecrets:
    """`env://NAME` references for the credentials present in `environ` (a missing variable
    would fail the step that uses it, so it is left out). Only names are read here."""

    def refs(names: Sequence[str]) -> dict[str, dagger.Secret]:
        return {name: client.secret(f"env://{name}") for name in names if environ.get(name)}

    return ContainerSecrets(git=refs([GIT_TOKEN_VAR]), agent=refs(settings.agent_credentials))


def home_file_secrets(client: dagger.Client, settings: Settings) -> dict[str, dagger.Secret]:
    """Files of the agent's private home that hold secrets, as `file://` references (read by
    this process's Dagger session when mounted; the contents never enter the query)."""
    return {
        relative: client.secret(f"file://{source}")
        for relative, source in home_files(settings.runner).items()
    }


def agent_home(
    ctr: dagger.Container, secret_files: Mapping[str, dagger.Secret]
) -> dagger.Container:
    """`AGENT_HOME`, with each secret file mounted at its place in it."""
    ctr = ctr.with_new_file(str(AGENT_HOME / ".keep"), "", permissions=0o600)
    for relative, secret in secret_files.items():
        ctr = ctr.with_mounted_secret(str(AGENT_HOME / checked_relative(relative)), secret)
    return ctr


def task_container(
    client: dagger.Client,
    *,
    image: str,
    identity: GitIdentity,
    git_username: str,
    nonce: str,
) -> dagger.Container:
    """The task's container before the clone: image, git identity, askpass, `/work`.

    `nonce` is new per attempt: the engine caches steps by their inputs, and without it a
    retried task would get the cached clone of an earlier attempt instead of a fresh one.
    """
    ctr = client.container().from_(image)
    for name, value in identity.env().items():
        ctr = ctr.with_env_variable(name, value)
    return (
        ctr.with_env_variable("CC_TASK_NONCE", nonce)
        .with_env_variable("CC_GIT_USERNAME", git_username)
        .with_new_file(str(ASKPASS), ASKPASS_SCRIPT, permissions=0o755)
        .with_env_variable("GIT_ASKPASS", str(ASKPASS))
        .with_workdir(str(WORKDIR))
    )


def exec_step(
    ctr: dagger.Container,
    argv: Sequence[str],
    *,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    secrets: Mapping[str, dagger.Secret] | None = None,
) -> dagger.Container:
    """One command (argv, no shell); `env` and `secrets` are set around it only."""
    env = env or {}
    secrets = secrets or {}
    for name, value in env.items():
        ctr = ctr.with_env_variable(name, value)
    for name, secret in secrets.items():
        ctr = ctr.with_secret_variable(name, secret)
    # expect=ANY: a failing command is an answer (its exit code), not an error of the query.
    ctr = ctr.with_exec(list(argv), stdin=stdin or "", expect=dagger.ReturnType.ANY)
    for name in secrets:
        ctr = ctr.without_secret_variable(name)
    for name in env:
        ctr = ctr.without_env_variable(name)
    return ctr


def checkout_file(ctr: dagger.Container, relative: str, content: str) -> dagger.Container:
    """A file of the checkout (raises `UnsafePath` for paths that would leave it)."""
    return ctr.with_new_file(str(WORKDIR / checked_relative(relative)), content)


def scratch_file(ctr: dagger.Container, name: str, content: str) -> tuple[dagger.Container, str]:
    path = str(SCRATCH / PurePosixPath(name).name)
    # Readable by a non-root image user too; the prompt and task are no secrets.
    return ctr.with_new_file(path, content, permissions=0o644), path


def push_remote(task: TaskDispatched) -> str:
    """`task.remote` (a URL, or a remote name of the clone), else the URL it was cloned from."""
    return task.remote or "origin"
