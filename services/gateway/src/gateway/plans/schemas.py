"""The plan-parsing request (its answer is `cc_planfile.plan_document`)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from gateway.fields import PathText


class PlanParseRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`POST /api/v1/plans/parse`: exactly one of `plan_path` and `text`."""

    plan_path: PathText | None = None
    text: Annotated[str, msgspec.Meta(max_length=5_000_000)] | None = None
