"""Field types of request bodies, with their bounds as `msgspec.Meta`: litestar rejects bad
input before any handler runs, and the OpenAPI schema shows the constraints."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from cc_taskrunner.agents import agent_names

BatchNumber = (
    Annotated[
        int, msgspec.Meta(ge=0, le=1_000_000, description="a batch or phase number as written")
    ]
    | Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[^\x00]+$")]
)
"""`3` or `"3"` or `"2a"`: normalised to the string written in the plan."""

PathText = Annotated[str, msgspec.Meta(min_length=1, max_length=4096, pattern=r"^[^\x00]+$")]
PlanPath = Annotated[
    str,
    msgspec.Meta(
        min_length=4,
        max_length=4096,
        pattern=r"^[^\x00]*\.[mM][dD]$",
        description="a markdown plan (`.md`) inside CC_ALLOWED_ROOTS",
    ),
]
GitRef = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=256,
        # Never an option to git (no leading `-`), never a space or a control character
        # (spelled out, not `\s`: the schema's regex dialect and Python's disagree on it).
        pattern=r"^[^\x00-\x20\x7f-][^\x00-\x20\x7f]*$",
        description="a branch, tag or commit of the repository",
    ),
]
Agent = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z][a-z0-9-]*$",
        description="an agent the executors know (`GET /ready` lists them)",
        extra_json_schema={"enum": list(agent_names())},
    ),
]
ModelName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/\[\]-]*$")
]
ToolRule = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[^\x00\n]+$")]
Argv = Annotated[
    list[Annotated[str, msgspec.Meta(max_length=4096, pattern=r"^[^\x00]*$")]],
    msgspec.Meta(min_length=1, max_length=256),
]
TimeoutSeconds = Annotated[float, msgspec.Meta(gt=0, le=7 * 24 * 3600)]
Command = Annotated[str, msgspec.Meta(min_length=1, max_length=4096, pattern=r"^[^\x00]+$")]
Budget = Annotated[float, msgspec.Meta(gt=0, le=1_000_000)]
"""US dollars."""


COMMAND_AGENT_RULES: list[dict[str, Any]] = [
    {  # `agent_argv` only with `agent: command` …
        "if": {"required": ["agent_argv"], "properties": {"agent_argv": {"type": "array"}}},
        "then": {"required": ["agent"], "properties": {"agent": {"const": "command"}}},
    },
    {  # … and `agent: command` only with `agent_argv`
        "if": {"required": ["agent"], "properties": {"agent": {"const": "command"}}},
        "then": {"required": ["agent_argv"], "properties": {"agent_argv": {"type": "array"}}},
    },
]
"""For the OpenAPI document (a Struct's `json_schema_extra`): what the server checks of a
request's `agent` and `agent_argv` together."""
