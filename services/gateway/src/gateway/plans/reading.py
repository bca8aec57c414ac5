"""Reading a plan file on the gateway's machine: where a relative path points, and the parse.

File I/O and CPU: callers run it off the event loop (`asyncio.to_thread`).
"""

from __future__ import annotations

from pathlib import Path

from cc_planfile import PlanFileError, parse_plan_file
from commandcenter_contracts import Plan

from gateway.domain_errors import InvalidRequest


def resolve_plan_path(plan_path: str, plan_root: Path) -> Path:
    path = Path(plan_path)
    if not path.is_absolute():
        path = plan_root / path
    try:
        path = path.resolve()
        exists, is_file = path.exists(), path.is_file()
    except (OSError, ValueError, RuntimeError) as exc:
        raise InvalidRequest("plan_path", f"cannot read plan file {path}: {exc}") from exc
    if not exists:
        raise InvalidRequest("plan_path", f"plan file not found: {path}")
    if not is_file:
        raise InvalidRequest("plan_path", f"plan path is not a file: {path}")
    return path


def read_plan(plan_path: str, plan_root: Path) -> tuple[Path, Plan]:
    """The resolved path and the parsed plan; `InvalidRequest("plan_path", …)` otherwise."""
    path = resolve_plan_path(plan_path, plan_root)
    try:
        return path, parse_plan_file(path)
    except PlanFileError as exc:
        raise InvalidRequest("plan_path", str(exc)) from exc
    except (OSError, ValueError) as exc:  # the parser's own errors cover the usual cases
        raise InvalidRequest("plan_path", f"cannot read plan file {path}: {exc}") from exc
