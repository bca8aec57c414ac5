"""The links the API puts in its answers: every `/api/v1/…` address a client is given is built
here, so a moved route changes one place."""

from __future__ import annotations

import msgspec

API = "/api/v1"


def run(run_id: str) -> str:
    return f"{API}/runs/{run_id}"


def run_events(run_id: str) -> str:
    return f"{run(run_id)}/events"


class RunLinks(msgspec.Struct, frozen=True, kw_only=True):
    self: str
    events: str


class ReplayLinks(msgspec.Struct, frozen=True, kw_only=True):
    run: str
    events: str


def run_links(run_id: str) -> RunLinks:
    return RunLinks(self=run(run_id), events=run_events(run_id))


def replay_links(run_id: str) -> ReplayLinks:
    return ReplayLinks(run=run(run_id), events=run_events(run_id))
