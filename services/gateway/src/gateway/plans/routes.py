"""Plans over HTTP."""

from __future__ import annotations

from typing import Any

from litestar import post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK
from litestar.types import ControllerRouterHandler

from gateway.api_schema import refusals
from gateway.plans.parsing import parse_plan_document
from gateway.plans.schemas import PlanParseRequest
from gateway.settings import Settings


@post(
    "/api/v1/plans/parse",
    status_code=HTTP_200_OK,
    tags=["plans"],
    summary="Parse a plan",
    responses=refusals(400, 403, 404, 413),
)
async def parse_plan_request(
    data: JSONBody[PlanParseRequest], settings: NamedDependency[Settings]
) -> dict[str, Any]:
    return await parse_plan_document(data, settings.plans)


ROUTES: list[ControllerRouterHandler] = [parse_plan_request]
