"""Parsing a plan for a client: from text, or from a file the gateway may read."""

from __future__ import annotations

import asyncio
from typing import Any

from cc_planfile import parse_plan, plan_document
from commandcenter_contracts import Plan

from gateway.domain_errors import InvalidRequest
from gateway.plans.reading import PlanSource, read_plan
from gateway.plans.schemas import PlanParseRequest


def _parse(request: PlanParseRequest, plans: PlanSource) -> Plan:
    if request.text is not None:
        plans.check_text(request.text)
        return parse_plan(request.text, source="<request>")
    assert request.plan_path is not None
    return read_plan(request.plan_path, plans)[1]


async def parse_plan_document(request: PlanParseRequest, plans: PlanSource) -> dict[str, Any]:
    """The plan as a document (batches, tasks, warnings, notes)."""
    if (request.text is None) == (request.plan_path is None):
        raise InvalidRequest(("plan_path", "text"), "give exactly one of `plan_path` and `text`")
    # Reading and parsing is file I/O and CPU: keep it off the event loop.
    plan = await asyncio.to_thread(_parse, request, plans)
    return plan_document(plan)
