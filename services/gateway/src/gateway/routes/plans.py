"""Plans: parse one (from a path on the gateway's machine or from text) without running it."""

from __future__ import annotations

import asyncio
from typing import Any

from cc_planfile import parse_plan, plan_document
from commandcenter_contracts import Plan
from litestar import post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK

from gateway.errors import ApiError
from gateway.resources import Resources
from gateway.run_requests import read_plan
from gateway.schemas import PlanParseRequest


def _parse(data: PlanParseRequest, resources: Resources) -> Plan:
    if data.text is not None:
        return parse_plan(data.text, source="<request>")
    assert data.plan_path is not None
    return read_plan(data.plan_path, resources.settings.plan_root)[1]


@post("/api/v1/plans/parse", status_code=HTTP_200_OK, tags=["plans"], summary="Parse a plan")
async def parse_plan_request(
    data: JSONBody[PlanParseRequest], resources: NamedDependency[Resources]
) -> dict[str, Any]:
    if (data.text is None) == (data.plan_path is None):
        message = "give exactly one of `plan_path` and `text`"
        raise ApiError(
            400,
            message,
            extra=[
                {"key": "plan_path", "message": message, "source": "body"},
                {"key": "text", "message": message, "source": "body"},
            ],
        )
    plan = await asyncio.to_thread(_parse, data, resources)
    return plan_document(plan)
