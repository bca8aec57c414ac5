"""Which scope each API route needs: the whole policy in one table, so it can be read (and
reviewed) at a glance. A route under `/api/` that is missing here is refused to everyone but
an admin token, and a test walks the app's routes so that none is missed.

Outside `/api/` everything is open: `/health`, `/ready`, `/metrics`, `/schema`, and the
dashboard's pages and assets (their data comes from the API, which is guarded).
"""

from __future__ import annotations

from typing import Final

from gateway.auth.scopes import Scope

API_PREFIX = "/api/"

OPEN: Final = "open"
"""Needs no token: signing in with one."""

SIGNED_IN: Final = "signed-in"
"""Needs a valid token, whatever its scopes: who am I, signing out."""

Need = Scope | str

POLICY: dict[tuple[str, str], Need] = {
    # runs
    ("GET", "/api/v1/runs"): Scope.RUNS_READ,
    ("GET", "/api/v1/runs/{run_id}"): Scope.RUNS_READ,
    ("GET", "/api/v1/autonomous/{run_id}/status"): Scope.RUNS_READ,
    ("GET", "/api/v1/autonomous/{run_id}/batches"): Scope.RUNS_READ,
    ("GET", "/api/v1/autonomous/{run_id}/tasks/{task_number}"): Scope.RUNS_READ,
    ("GET", "/api/v1/events"): Scope.RUNS_READ,
    ("GET", "/api/v1/runs/{run_id}/events"): Scope.RUNS_READ,
    ("GET", "/api/v1/runs/{run_id}/tasks/{task_id}/log"): Scope.RUNS_READ,
    ("GET", "/api/v1/dead-letters"): Scope.RUNS_READ,
    ("GET", "/api/v1/executors"): Scope.RUNS_READ,
    ("POST", "/api/v1/runs"): Scope.RUNS_WRITE,
    ("POST", "/api/v1/autonomous/start"): Scope.RUNS_WRITE,
    ("POST", "/api/v1/plans/parse"): Scope.RUNS_WRITE,
    # control
    ("POST", "/api/v1/tasks/{task_id}/replay"): Scope.CONTROL,
    ("POST", "/api/v1/runs/{run_id}/tasks/{task_id}/replay"): Scope.CONTROL,
    ("POST", "/api/v1/runs/{run_id}/replay-failed"): Scope.CONTROL,
    ("POST", "/api/v1/runs/{run_id}/cancel"): Scope.CONTROL,
    ("POST", "/api/v1/runs/{run_id}/budget"): Scope.CONTROL,
    # tokens
    ("GET", "/api/v1/tokens"): Scope.ADMIN,
    ("POST", "/api/v1/tokens"): Scope.ADMIN,
    ("DELETE", "/api/v1/tokens/{token}"): Scope.ADMIN,
    # the dashboard's session
    ("POST", "/api/v1/session"): OPEN,
    ("GET", "/api/v1/session"): SIGNED_IN,
    ("DELETE", "/api/v1/session"): SIGNED_IN,
}


def needs(method: str, path_template: str) -> Need | None:
    """What a request needs: a scope, `SIGNED_IN`, `OPEN`; None: not an API route (open)."""
    if not path_template.startswith(API_PREFIX) or method == "OPTIONS":
        return None
    method = "GET" if method == "HEAD" else method
    return POLICY.get((method, path_template), Scope.ADMIN)  # undeclared: admin only
