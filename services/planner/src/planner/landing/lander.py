"""The lander: brings a run's landing up to date when the planner asks (`LandRequested`).

Land `pr`: open the pull request from the integration branch into the base branch as a draft
(when the first task is integrated), update its body as batches land, mark it ready when the
run succeeds. Land `merge`: when the run succeeds, move the base branch to the integration tip
(`GitLanding.merge`). The final request ends with `run.landed`, which the planner turns into
`run.succeeded`, or with `run.failed` LAND_FAILED.

Every request is level-triggered (it reads the run as it is now) and idempotent, and its events
have ids fixed per request, so a redelivered request changes nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from cc_forge import Forge, ForgeError
from commandcenter_contracts import (
    FailureCode,
    LandMode,
    LandRequested,
    PullRequestRef,
    PullRequestUpdated,
    RunFailed,
    RunLanded,
    RunStatus,
    StatusEvent,
)

from planner.domain.landing import LandingInfo
from planner.domain.naming import event_id
from planner.landing.git_landing import GitLanding, LandFailure
from planner.landing.pr_body import pr_body, pr_title
from planner.store import ProgressStore

log = logging.getLogger(__name__)

PublishEvent = Callable[[StatusEvent], Awaitable[None]]
OpenForge = Callable[[str], Forge]
"""A forge adapter for the run's remote URL (raises `ForgeError` when none can be made)."""


class Lander:
    def __init__(
        self,
        *,
        store: ProgressStore,
        publish: PublishEvent,
        git: GitLanding,
        open_forge: OpenForge,
    ) -> None:
        self._store = store
        self._publish = publish
        self._git = git
        self._open_forge = open_forge

    async def land(self, request: LandRequested, *, last_try: bool = False) -> None:
        """Carry out `request`. Raises on a failure worth trying again (the caller retries),
        unless `last_try`: then a final request fails the run instead."""
        ctx = {"run_id": request.run_id}
        info = await self._store.get_landing(request.run_id)
        stored = await self._store.get(request.run_id)
        if info is None or stored is None:
            log.warning("no landing recorded for the run: nothing to land", extra=ctx)
            return
        progress = stored.progress
        if progress.status == RunStatus.CANCELLED or await self._store.is_cancelled(request.run_id):
            return
        if request.final and progress.status != RunStatus.LANDING:
            return  # landed or failed already: this is a redelivery
        try:
            await self._land(request, info)
        except (LandFailure, ForgeError) as exc:
            retry = isinstance(exc, ForgeError) and exc.recoverable and not last_try
            if retry:
                raise
            message = exc.message if isinstance(exc, ForgeError) else str(exc)
            if request.final:
                await self._publish(
                    RunFailed(
                        event_id=event_id(request.run_id, f"land.failed/{request.request_id}"),
                        run_id=request.run_id,
                        error=f"LAND_FAILED: {message}",
                        error_code=FailureCode.LAND_FAILED,
                    )
                )
            log.warning("landing failed: %s", message, extra=ctx)

    async def _land(self, request: LandRequested, info: LandingInfo) -> None:
        remote = self._git.remote_of(info.repo, info.remote)
        if info.land == LandMode.PR:
            await self._pull_request(request, info, remote)
        elif info.land == LandMode.MERGE and request.final:
            landed = await self._git.merge(
                remote=remote,
                base=await self._git.base_branch(remote, info.base_ref),
                integration_branch=info.integration_branch,
            )
            await self._landed(request, info, landed.target, landed.commit, None)

    async def _pull_request(self, request: LandRequested, info: LandingInfo, remote: str) -> None:
        base = await self._git.base_branch(remote, info.base_ref)
        stored = await self._store.get(request.run_id)
        tasks = await self._store.get_tasks(request.run_id)
        if stored is None:
            return
        body = pr_body(
            stored.progress,
            tasks,
            plan_path=info.plan_path,
            integration_branch=info.integration_branch,
            base=base,
        )
        forge = self._open_forge(remote)
        try:
            pr = await forge.open_or_update(
                head=info.integration_branch,
                base=base,
                title=pr_title(info.title, info.run_id),
                body=body,
            )
            if request.final:
                pr = await forge.mark_ready(pr)
        finally:
            await forge.aclose()
        ref = PullRequestRef(url=pr.url, number=pr.number, state=pr.state)
        await self._publish(
            PullRequestUpdated(
                event_id=event_id(request.run_id, f"pull_request/{request.request_id}"),
                run_id=request.run_id,
                pull_request=ref,
            )
        )
        log.info(
            "pull request #%d %s: %s",
            pr.number,
            pr.state,
            pr.url,
            extra={"run_id": info.run_id},
        )
        if request.final:
            tip = await self._git.tip(remote, info.integration_branch)
            await self._landed(request, info, base, tip or "", ref)

    async def _landed(
        self,
        request: LandRequested,
        info: LandingInfo,
        target: str,
        commit: str,
        pull_request: PullRequestRef | None,
    ) -> None:
        await self._publish(
            RunLanded(
                event_id=event_id(request.run_id, f"landed/{request.request_id}"),
                run_id=request.run_id,
                land=info.land,
                target=target,
                commit=commit,
                pull_request=pull_request,
            )
        )
        log.info("landed on %s at %s", target, commit[:12], extra={"run_id": info.run_id})
