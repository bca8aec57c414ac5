"""The skill frontmatter contract, as msgspec Structs.

Frontmatter is written by people, so unknown fields are refused (`forbid_unknown_fields`):
a misspelt key is an error naming the field, never a silently ignored setting.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

PositiveInt = Annotated[int, msgspec.Meta(ge=1)]

SkillStatus = Literal["active", "draft", "deprecated"]


class _Strict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class Param(_Strict, frozen=True):
    name: str
    type: str
    description: str = ""


class Inputs(_Strict, frozen=True):
    required: list[Param] = []
    optional: list[Param] = []


class Output(_Strict, frozen=True):
    name: str
    type: str
    description: str = ""
    properties: dict[str, Any] = {}
    """JSON-schema-like description of an object output's fields."""


class ErrorSpec(_Strict, frozen=True):
    code: str
    description: str = ""
    recoverable: bool = False


class SideEffect(_Strict, frozen=True):
    type: str
    description: str = ""


class AuthScope(_Strict, frozen=True):
    scope: str
    required: bool = False


class Timeouts(_Strict, frozen=True):
    default_ms: PositiveInt
    max_ms: PositiveInt

    def __post_init__(self) -> None:
        if self.default_ms > self.max_ms:
            raise ValueError(f"default_ms ({self.default_ms}) is above max_ms ({self.max_ms})")


class Retries(_Strict, frozen=True):
    """CommandCenter's extension: how many attempts a task using this skill may get."""

    max_attempts: PositiveInt = 1


class Contract(_Strict, frozen=True):
    version: str
    inputs: Inputs = Inputs()
    outputs: list[Output] = []
    errors: list[ErrorSpec] = []
    side_effects: list[SideEffect] = []
    auth_scopes: list[AuthScope] = []
    timeouts: Timeouts | None = None
    retries: Retries | None = None


class SkillMeta(_Strict, frozen=True):
    """The frontmatter of a `SKILL.md`."""

    name: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    description: Annotated[str, msgspec.Meta(min_length=1)]
    status: SkillStatus = "active"
    priority: Annotated[str, msgspec.Meta(pattern=r"^P[0-9]$")] = "P2"
    updated: Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}-\d{2}")] | None = None
    """An ISO date; YAML reads an unquoted `2026-01-12` as a date, the loader accepts both."""
    contract: Contract | None = None
