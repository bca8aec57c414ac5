"""The credentials Claude Code accepts, and which one an executor will hand its agents.

Accepted, in this order: `ANTHROPIC_API_KEY`, `ANTHROPIC_AUTH_TOKEN` (a bearer token, e.g. for
a gateway), `CLAUDE_CODE_OAUTH_TOKEN` (from `claude setup-token`, for subscriptions), or a
credentials file (`CC_CLAUDE_CREDENTIALS_FILE`, copied into each agent's private home as
`.claude/.credentials.json`). `ANTHROPIC_BASE_URL` and `ANTHROPIC_MODEL` pass through too
(proxies, gateways, a default model). Values are only ever passed on, never logged: what is
reported is the NAME of the credential in use.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from cc_taskrunner.settings import RunnerSettings

CREDENTIAL_VARIABLES = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")
PASSTHROUGH_VARIABLES = (*CREDENTIAL_VARIABLES, "ANTHROPIC_BASE_URL", "ANTHROPIC_MODEL")
"""What an agent gets from the executor's environment even when the rest is scrubbed."""
CREDENTIALS_FILE_IN_HOME = ".claude/.credentials.json"


def home_files(settings: RunnerSettings) -> dict[str, Path]:
    """What an agent's private home gets: the credentials file, when one is configured."""
    source = settings.claude_credentials_file
    return {CREDENTIALS_FILE_IN_HOME: source} if source is not None else {}


GIT_TOKEN_VARIABLE = "CC_GIT_TOKEN"
"""Pushes over https use it (dagger mode)."""
CREDENTIALS_FILE_SETTING = "CC_CLAUDE_CREDENTIALS_FILE"


def credential_names(
    environ: Mapping[str, str] | None = None,
    credentials_file: Path | None = None,
    also: Iterable[str] = (),
) -> list[str]:
    """The NAMES of the credentials this process has, never a value: every variable Claude
    accepts, `CC_GIT_TOKEN` and `also` (the variables an executor hands its agents) that is
    set, and `CC_CLAUDE_CREDENTIALS_FILE` when it names a file."""
    environ = os.environ if environ is None else environ
    settings_only = set(PASSTHROUGH_VARIABLES) - set(CREDENTIAL_VARIABLES)  # a URL, a model
    names = {*CREDENTIAL_VARIABLES, GIT_TOKEN_VARIABLE, *also} - settings_only
    found = {name for name in names if environ.get(name)}
    if credentials_file is not None and credentials_file.is_file():
        found.add(CREDENTIALS_FILE_SETTING)
    return sorted(found)


def credential_source(
    environ: Mapping[str, str] | None = None, credentials_file: Path | None = None
) -> str | None:
    """The name of the credential agents will use (`ANTHROPIC_API_KEY`, …, or
    `credentials file <path>`), or None when there is none."""
    environ = os.environ if environ is None else environ
    for name in CREDENTIAL_VARIABLES:
        if environ.get(name):
            return name
    if credentials_file is not None and credentials_file.is_file():
        return f"credentials file {credentials_file}"
    return None
