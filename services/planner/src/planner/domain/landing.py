"""What the lander needs to know of a run, stored when the run is planned."""

from __future__ import annotations

import msgspec
from commandcenter_contracts import LandMode, PhaseStartRequested

from planner.domain.planning import integration_branch


class LandingInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Stored under `<run>.landing` for runs that land as a pull request or a merge."""

    run_id: str
    land: LandMode
    repo: str
    remote: str | None = None
    base_ref: str = "HEAD"
    integration_branch: str
    title: str = ""
    plan_path: str = ""


def landing_info(request: PhaseStartRequested) -> LandingInfo | None:
    """None for runs whose integration branch is the result (land `branch`)."""
    if request.land == LandMode.BRANCH:
        return None
    return LandingInfo(
        run_id=request.run_id,
        land=request.land,
        repo=request.repo,
        remote=request.remote,
        base_ref=request.base_ref,
        integration_branch=integration_branch(request),
        title=request.plan.title,
        plan_path=request.plan_path,
    )
