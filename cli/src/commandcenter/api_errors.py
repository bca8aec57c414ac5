"""The gateway's error answers as the command line says them: one plain sentence in the
gateway's words, with the request fields it names spelled as this command's flags
(`--batches`, not `selection`). The HTTP status and the whole answer are for `--verbose`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

FLAGS: Mapping[str, str] = {
    # run
    "plan_path": "PLAN",
    "selection": "--batches",
    "start_batch": "--batches",
    "end_batch": "--batches",
    "phase": "--phase",
    "execution_mode": "--mode",
    "mode": "--mode",
    "agent": "--agent",
    "agent_argv": "--agent-argv",
    "model": "--model",
    "max_turns": "--max-turns",
    "fix_rounds": "--fix-rounds",
    "max_cost_usd": "--budget",
    "repo": "--repo",
    "base_ref": "--base-ref",
    "timeout_s": "--timeout",
    "continue_on_failure": "--continue-on-failure",
    "integration_branch": "--integration-branch",
    "merge_style": "--merge-style",
    "land": "--land",
    "keep_task_branches": "--keep-task-branches",
    # replay
    "verification": "--verify",
    "Idempotency-Key": "--idempotency-key",
    # runs, dead-letters
    "status": "--status",
    "limit": "--limit",
    "run_id": "--run",
    # token create
    "name": "--name",
    "scopes": "--scope",
}
"""Request fields (body, query, header) → the flag or argument of `commandcenter` that sets
them. A command whose argument sets a field differently passes its own (`budget`: USD)."""

_QUOTED_FIELD = re.compile(r"`([A-Za-z][\w-]*)`")
_GENERIC = ("Validation failed",)  # litestar's detail when the `extra` entries say what


def _spelled(text: str, flags: Mapping[str, str]) -> str:
    """`repo` → --repo, for the fields that are flags; other quoted words stay."""
    return _QUOTED_FIELD.sub(lambda m: flags.get(m.group(1), m.group(0)), text)


def _problems(extra: object) -> list[tuple[str, str]]:
    """(field, message) of litestar's `extra` list."""
    if not isinstance(extra, list):
        return []
    return [
        (str(item.get("key") or ""), str(item.get("message") or ""))
        for item in extra
        if isinstance(item, dict)
    ]


def _naming(flag: str | None, text: str) -> str:
    return f"{flag}: {text}" if flag and flag not in text else text


def sentence(response: httpx.Response, flags: Mapping[str, str] | None = None) -> str:
    """What the error answer says, as one line for a user of the command line."""
    names = {**FLAGS, **(flags or {})}
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = " ".join(response.text.split())[:300] or response.reason_phrase
        return f"the gateway answered {response.status_code}: {text}"
    detail = str(body.get("detail") or body.get("message") or "").strip()
    problems = _problems(body.get("extra"))
    if problems and (not detail or detail.startswith(_GENERIC)):
        text = "; ".join(_naming(names.get(key), _spelled(msg, names)) for key, msg in problems)
    else:
        flag = next((names[key] for key, _ in problems if key in names), None)
        text = _naming(flag, _spelled(detail or response.reason_phrase, names))
    candidates = [str(c) for c in body.get("candidates") or []]
    if candidates and not any(c in text for c in candidates):
        text += f" (it could be: {', '.join(candidates[:10])})"
    if body.get("request_id"):
        text += f" (request id {body['request_id']})"
    return text


def details(method: str, path: str, response: httpx.Response) -> str:
    """The request and the whole answer, for `--verbose`."""
    return f"{method} {path} -> {response.status_code}: {response.text[:4000]}"
