"""The plan-parsing request (its answer is `cc_planfile.plan_document`)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import msgspec

from gateway.fields import PlanPath


class PlanParseRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`POST /api/v1/plans/parse`: exactly one of `plan_path` and `text`."""

    plan_path: PlanPath | None = None
    """A `.md` file inside `CC_ALLOWED_ROOTS`; relative: against `CC_PLAN_ROOT`."""
    text: Annotated[str, msgspec.Meta(max_length=5_000_000)] | None = None
    """The plan itself (at most `CC_PLAN_MAX_BYTES` of UTF-8)."""

    json_schema_extra: ClassVar[dict[str, Any]] = {
        "oneOf": [
            {
                "required": ["plan_path"],
                "properties": {"plan_path": {"type": "string"}, "text": {"type": "null"}},
            },
            {
                "required": ["text"],
                "properties": {"text": {"type": "string"}, "plan_path": {"type": "null"}},
            },
        ]
    }
    """For the OpenAPI document (`gateway.api_schema`): exactly one of the two is given."""
