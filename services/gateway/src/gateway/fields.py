"""Field types of request bodies, with their bounds as `msgspec.Meta`: litestar rejects bad
input before any handler runs, and the OpenAPI schema shows the constraints."""

from __future__ import annotations

from typing import Annotated

import msgspec

BatchNumber = (
    Annotated[
        int, msgspec.Meta(ge=0, le=1_000_000, description="a batch or phase number as written")
    ]
    | Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[^\x00]+$")]
)
"""`3` or `"3"` or `"2a"`: normalised to the string written in the plan."""

PathText = Annotated[str, msgspec.Meta(min_length=1, max_length=4096, pattern=r"^[^\x00]+$")]
GitRef = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=256,
        # Never an option to git (no leading `-`), never whitespace or NUL.
        pattern=r"^[^\s\x00-][^\s\x00]*$",
        description="a branch, tag or commit of the repository",
    ),
]
Agent = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z][a-z0-9-]*$",
        description="an agent the executors know (`GET /ready` lists them): claude, command, "
        "plan-follower, …",
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
