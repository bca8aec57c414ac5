"""The engine-less backend: a fresh clone per task in `CC_WORK_ROOT`, commands scrubbed.

Same isolation as the Dagger backend minus the container: `FreshCloneIsolation`, whose
commands get a scrubbed `ExecEnvironment` (PATH, LANG, a private HOME, the git identity, the
step's own `CC_*` variables; agents also the `CC_AGENT_CREDENTIALS`). With `CC_GIT_TOKEN` set,
git steps (and only they) answer credential prompts with it through a `GIT_ASKPASS` helper.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from cc_taskrunner import ExecEnvironment, FreshCloneIsolation, GitIdentity
from cc_taskrunner.agents.claude.credentials import home_files

from executor_dagger.settings import Settings

GIT_TOKEN_VAR = "CC_GIT_TOKEN"

# Run by git with the prompt as its argument; reads the token from its own environment, which
# only git steps have. Python, not a shell script: no shell anywhere.
ASKPASS_SCRIPT = """\
import os, sys
prompt = sys.argv[1] if len(sys.argv) > 1 else ""
if prompt.startswith("Username"):
    print(os.environ.get("CC_GIT_USERNAME", "x-access-token"))
else:
    print(os.environ.get("CC_GIT_TOKEN", ""))
"""


def engineless_isolation(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> FreshCloneIsolation:
    environ = os.environ if environ is None else environ
    runner = settings.runner
    git_extra: dict[str, str] = {}
    git_credentials: tuple[str, ...] = ()
    if environ.get(GIT_TOKEN_VAR):
        askpass = write_askpass(settings.work_root)
        git_extra = {"GIT_ASKPASS": str(askpass), "CC_GIT_USERNAME": settings.git_username}
        git_credentials = (GIT_TOKEN_VAR,)
    environment = ExecEnvironment(
        scrubbed=True,
        agent_credentials=settings.agent_credentials,
        agent_files=home_files(runner),
        git_credentials=git_credentials,
        git_extra=git_extra,
        source=environ,
    )
    return FreshCloneIsolation(
        settings.work_root / "clones",
        GitIdentity(runner.git_author_name, runner.git_author_email),
        git_timeout_s=runner.git_timeout_s,
        kill_grace_s=runner.kill_grace_s,
        environment=environment,
    )


def write_askpass(work_root: Path) -> Path:
    folder = work_root / "bin"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / "git-askpass"
    path.write_text(f"#!{sys.executable}\n{ASKPASS_SCRIPT}", encoding="utf-8")
    path.chmod(0o700)
    return path
