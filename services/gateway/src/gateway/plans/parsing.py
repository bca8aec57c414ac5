"""Parsing a plan for a client: from text, or from a file under the plan root."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from cc_planfile import parse_plan, plan_document
from commandcenter_contracts import Plan

from gateway.domain_errors import InvalidRequest
from gateway.plans.reading import read_plan
from gateway.plans.schemas import PlanParseRequest


def _parse(request: PlanParseRequest, plan_root: Path) -> Plan:
    if request.text is not None:
        return parse_plan(request.text, source="<request>")
    assert request.plan_path is not None
    return read_plan(request.plan_path, plan_root)[1]


async def parse_plan_document(request: PlanParseRequest, plan_root: Path) -> dict[str, Any]:
    """The plan as a document (batches, tasks, warnings, notes)."""
    if (request.text is None) == (request.plan_path is None):
        raise InvalidRequest(("plan_path", "text"), "give exactly one of `plan_path` and `text`")
    # Reading and parsing is file I/O and CPU: keep it off the event loop.
    plan = await asyncio.to_thread(_parse, request, plan_root)
    return plan_document(plan)
